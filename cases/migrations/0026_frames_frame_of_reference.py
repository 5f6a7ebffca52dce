# Each slice's frame of reference (the de-identified FrameOfReferenceUID), so the study page
# draws reference lines between series of one examination; filled in for slices stored before
# by reading the header of each stored DICOM file (never its pixels). Self-contained: the
# rule below is a copy of cases.imaging.ingest.dicom_frame_of_reference's, not an import of
# it. Stored files are de-identified; a UID not under CaseViewer's root is still never taken.
# A file that is missing or unreadable leaves its slice as it was (no lines to other series).

import pydicom
from django.db import migrations, models

BATCH = 500
DEID_UID_ROOT = "2.25.63605095728346111939130339810699230382."


def frame_of_reference_read(handle):
    """The de-identified FrameOfReferenceUID in one DICOM file's header, or ""."""
    try:
        ds = pydicom.dcmread(
            handle, stop_before_pixels=True, force=True, specific_tags=["FrameOfReferenceUID"]
        )
        uid = str(ds.get("FrameOfReferenceUID") or "").strip()
    except Exception:  # pydicom raises many types on damaged files
        return ""
    return uid if uid.startswith(DEID_UID_ROOT) and len(uid) <= 64 else ""


def frame_of_reference_backfill(apps, schema_editor):
    Slice = apps.get_model("cases", "Slice")
    pending = Slice.objects.filter(image__iendswith=".dcm", frame_of_reference="").only(
        "id", "image"
    )
    changed = []
    for slice_ in pending.iterator(chunk_size=BATCH):
        try:
            with slice_.image.open("rb") as handle:
                slice_.frame_of_reference = frame_of_reference_read(handle)
        except OSError:
            continue
        if slice_.frame_of_reference:
            changed.append(slice_)
        if len(changed) >= BATCH:
            Slice.objects.bulk_update(changed, ["frame_of_reference"])
            changed = []
    if changed:
        Slice.objects.bulk_update(changed, ["frame_of_reference"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0025_kos_key_objects"),
    ]

    operations = [
        migrations.AddField(
            model_name="slice",
            name="frame_of_reference",
            field=models.CharField(
                blank=True, help_text="FrameOfReferenceUID (de-identified).", max_length=64
            ),
        ),
        migrations.RunPython(
            frame_of_reference_backfill, migrations.RunPython.noop, elidable=True
        ),
    ]
