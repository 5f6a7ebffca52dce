import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_authoring"),
    ]

    operations = [
        migrations.AddField(
            model_name="question",
            name="targets",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="FigureTarget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "slice_number",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="1-based, as the viewer counts; blank for every slice.",
                        null=True,
                    ),
                ),
                (
                    "shape",
                    models.CharField(
                        choices=[("ellipse", "Ellipse"), ("rect", "Rectangle")],
                        default="ellipse",
                        max_length=8,
                    ),
                ),
                (
                    "x",
                    models.FloatField(help_text="Left edge, 0 (left) to 1 (right) of the image."),
                ),
                ("y", models.FloatField(help_text="Top edge, 0 (top) to 1 (bottom) of the image.")),
                ("width", models.FloatField(help_text="Fraction of the image's width.")),
                ("height", models.FloatField(help_text="Fraction of the image's height.")),
                (
                    "label",
                    models.CharField(
                        blank=True, help_text="What it marks (optional).", max_length=120
                    ),
                ),
                (
                    "figure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="click_targets",
                        to="cases.figure",
                    ),
                ),
            ],
            options={
                "ordering": ["figure", "slice_number", "id"],
            },
        ),
    ]
