"""Annotation shapes: rings and text labels, and a ring's size. The slice stays 0-based in storage
(the admin converts), so no stored value changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0017_geometry_backfill"),
    ]

    operations = [
        migrations.AddField(
            model_name="annotation",
            name="radius_x",
            field=models.FloatField(
                default=0.08, help_text="A ring's half width, as a fraction of the image's width."
            ),
        ),
        migrations.AddField(
            model_name="annotation",
            name="radius_y",
            field=models.FloatField(
                default=0.08, help_text="A ring's half height, as a fraction of the image's height."
            ),
        ),
        migrations.AlterField(
            model_name="annotation",
            name="angle",
            field=models.FloatField(
                default=225,
                help_text="Degrees anticlockwise from east: where an arrow points; a ring's tilt.",
            ),
        ),
        migrations.AlterField(
            model_name="annotation",
            name="kind",
            field=models.CharField(
                choices=[
                    ("arrow", "Arrow"),
                    ("thin-arrow", "Thin arrow"),
                    ("arrowhead", "Arrowhead"),
                    ("star", "Star"),
                    ("ellipse", "Circle / ellipse"),
                    ("text", "Text label"),
                ],
                default="arrow",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="annotation",
            name="label",
            field=models.CharField(
                blank=True,
                help_text="Drawn beside the mark in the viewer and article.",
                max_length=120,
            ),
        ),
        migrations.AlterField(
            model_name="annotation",
            name="slice_index",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="Stack position it belongs to, counting from 0; blank for all.",
                null=True,
            ),
        ),
    ]
