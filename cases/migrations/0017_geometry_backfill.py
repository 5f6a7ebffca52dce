# Fill in the DICOM geometry of slices stored before 0016_geometry_fields, by reading the
# header of each stored DICOM file (never its pixels). Self-contained: the reading below is a
# copy of cases.imaging.ingest.dicom_geometry's rules, not an import of it. A file that is
# missing or unreadable leaves its slice as it was (measurements then say "pixels").

import math

import pydicom
from django.db import migrations

BATCH = 500
FIELDS = (
    "pixel_spacing_row",
    "pixel_spacing_column",
    "spacing_source",
    "image_position",
    "image_orientation",
    "slice_thickness",
)


def _floats(value, count):
    try:
        numbers = [float(item) for item in value]
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def _positive(value):
    if value is None or value == "":
        return None
    try:
        number = float(value[0] if isinstance(value, list | tuple) else value)
    except (TypeError, ValueError, IndexError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def geometry_read(handle):
    """The geometry fields from one DICOM file's header, or None if it cannot be read."""
    try:
        ds = pydicom.dcmread(handle, stop_before_pixels=True, force=True)
    except Exception:  # pydicom raises many types on damaged files
        return None
    fields = {name: None for name in FIELDS}
    fields["spacing_source"] = ""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = _floats(ds.get(keyword), 2)
        if values and min(values) > 0:
            fields["pixel_spacing_row"], fields["pixel_spacing_column"] = values
            fields["spacing_source"] = keyword
            break
    fields["image_position"] = _floats(ds.get("ImagePositionPatient"), 3)
    fields["image_orientation"] = _floats(ds.get("ImageOrientationPatient"), 6)
    fields["slice_thickness"] = _positive(ds.get("SliceThickness"))
    return fields


def geometry_backfill(apps, schema_editor):
    Slice = apps.get_model("cases", "Slice")
    pending = Slice.objects.filter(
        image__iendswith=".dcm",
        pixel_spacing_row__isnull=True,
        image_position__isnull=True,
        image_orientation__isnull=True,
        slice_thickness__isnull=True,
    ).only("id", "image")
    changed = []
    for slice_ in pending.iterator(chunk_size=BATCH):
        try:
            with slice_.image.open("rb") as handle:
                fields = geometry_read(handle)
        except OSError:
            continue
        if fields is None:
            continue
        for name, value in fields.items():
            setattr(slice_, name, value)
        changed.append(slice_)
        if len(changed) >= BATCH:
            Slice.objects.bulk_update(changed, FIELDS)
            changed = []
    if changed:
        Slice.objects.bulk_update(changed, FIELDS)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0016_geometry_fields"),
    ]

    operations = [
        migrations.RunPython(geometry_backfill, migrations.RunPython.noop, elidable=True),
    ]
