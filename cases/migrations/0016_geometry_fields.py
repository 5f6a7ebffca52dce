# The DICOM geometry of each slice (pixel spacing and where it came from, position,
# orientation, thickness), for measurements in mm; 0017_geometry_backfill fills it in for
# slices stored before.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0015_medpix_source_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="slice",
            name="image_orientation",
            field=models.JSONField(
                blank=True, help_text="ImageOrientationPatient: row and column cosines.", null=True
            ),
        ),
        migrations.AddField(
            model_name="slice",
            name="image_position",
            field=models.JSONField(
                blank=True,
                help_text="ImagePositionPatient: x, y, z of the first pixel, mm.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="slice",
            name="pixel_spacing_column",
            field=models.FloatField(
                blank=True, help_text="mm between the centres of adjacent columns.", null=True
            ),
        ),
        migrations.AddField(
            model_name="slice",
            name="pixel_spacing_row",
            field=models.FloatField(
                blank=True,
                help_text="mm between the centres of adjacent rows (vertical).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="slice",
            name="slice_thickness",
            field=models.FloatField(blank=True, help_text="mm.", null=True),
        ),
        migrations.AddField(
            model_name="slice",
            name="spacing_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "None"),
                    ("PixelSpacing", "PixelSpacing"),
                    ("ImagerPixelSpacing", "ImagerPixelSpacing (at the detector)"),
                ],
                help_text="The DICOM attribute the pixel spacing was read from.",
                max_length=20,
            ),
        ),
    ]
