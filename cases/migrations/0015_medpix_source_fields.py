# What a MedPix case carries beyond the journal article's fields: how the diagnosis was made
# ("Diagnosis By"), the date its web page was read (a web source's citation needs it), and
# authors that are organisations (the institution, when no contributor is named).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0014_library_plain_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="author",
            name="is_organisation",
            field=models.BooleanField(
                default=False,
                help_text="A body, e.g. a library: cited whole, not as surname and initials.",
                verbose_name="organisation",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="accessed",
            field=models.DateField(
                blank=True,
                help_text="When the source web page was read (an imported web case's access date).",
                null=True,
                verbose_name="accessed",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="diagnosis_by",
            field=models.TextField(
                blank=True,
                help_text="How the diagnosis was made or confirmed, e.g. biopsy. "
                "Shown with it.",
                verbose_name="diagnosis by",
            ),
        ),
    ]
