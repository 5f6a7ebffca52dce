# The library's plane counts group each case's figures by plane (cases.library.facets): an
# index on (case, plane) answers them without reading each figure's row.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0022_scale_task_workers"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="figure",
            index=models.Index(fields=["case", "plane"], name="cases_figure_case_plane_idx"),
        ),
    ]
