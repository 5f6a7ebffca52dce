"""Reference lines between series of one DICOM frame of reference (cases.imaging.linking)."""

from __future__ import annotations

import importlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.apps import apps
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from cases.imaging.deid import DEID_UID_ROOT
from cases.imaging.ingest import dicom_prepare
from cases.imaging.linking import linked_number, reference_line
from cases.importers.dicom import dicom_import
from cases.inbox.receive import replacements_new
from cases.models import Case, Figure, Slice

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
# The sagittal series: 5 slices 10 mm apart across x, 1 mm pixels, rows going down from z = 170.
SAGITTAL_ROWS, SAGITTAL_COLUMNS = 240, 260
SAGITTAL_TOP, SAGITTAL_FRONT = 170.0, -130.0
backfill = importlib.import_module("cases.migrations.0026_frames_frame_of_reference")


def head_ct_header() -> Dataset:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return pydicom.dcmread(io.BytesIO(archive.read("01.dcm")), stop_before_pixels=True)


def sagittal_write(folder: Path, *, frame_of_reference: str, study: str) -> Path:
    """A synthetic sagittal CT series of the head CT's patient, one file per slice."""
    folder.mkdir()
    series = generate_uid()
    for number in range(5):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PatientName, ds.PatientID, ds.Modality = "Head^Sample", "HEAD-1", "CT"
        ds.InstanceNumber = number + 1
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # rows go forward, columns down
        ds.ImagePositionPatient = [-20 + 10 * number, SAGITTAL_FRONT, SAGITTAL_TOP]
        ds.PixelSpacing = [1, 1]
        ds.SliceThickness = 2
        ds.Rows, ds.Columns = SAGITTAL_ROWS, SAGITTAL_COLUMNS
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = np.full((SAGITTAL_ROWS, SAGITTAL_COLUMNS), 1024, "<u2").tobytes()
        pydicom.dcmwrite(folder / f"{number + 1:02}.dcm", ds, enforce_file_format=True)
    return folder


@pytest.fixture
def examination(tmp_path) -> Case:
    """The head CT (axial, figure 1) and a sagittal series of its frame (figure 2), imported
    together; figure 3 is a sagittal of another frame of reference, in the same import."""
    header = head_ct_header()
    case = Case.objects.create(slug="head", title="Head", status=Case.Status.PUBLISHED)
    same = sagittal_write(tmp_path / "sagittal", frame_of_reference=header.FrameOfReferenceUID,
                          study=header.StudyInstanceUID)  # fmt: skip
    other = sagittal_write(tmp_path / "other", frame_of_reference=generate_uid(),
                           study=header.StudyInstanceUID)  # fmt: skip
    replacements: dict[str, str] = {}
    for source in (CT_ZIP, same, other):
        dicom_import(case=case, source=source, replacements=replacements)
    return case


def _view(case: Case, number: int, query: str = ""):
    from django.http import QueryDict

    from cases.imaging.viewstate import ViewState

    return ViewState.from_query(case.figures.get(number=number), QueryDict(query))


def test_series_imported_together_share_the_deidentified_frame_of_reference(examination):
    original = head_ct_header().FrameOfReferenceUID
    axial, sagittal, other = (list(Slice.objects.filter(figure__number=n)) for n in (1, 2, 3))
    frames = {s.frame_of_reference for s in axial + sagittal}
    assert len(frames) == 1
    frame = frames.pop()
    assert frame != original and frame.startswith(DEID_UID_ROOT)
    # What is stored is what the stored file says.
    with axial[0].image.open("rb") as handle:
        assert pydicom.dcmread(handle).FrameOfReferenceUID == frame
    assert {s.frame_of_reference for s in other} != {frame}
    assert _view(examination, 1).geometry.frame == _view(examination, 2).geometry.frame == frame


def test_an_axial_slice_cuts_the_sagittal_series_of_its_frame(examination):
    axial_slices = list(Slice.objects.filter(figure__number=1))
    axial, sagittal = _view(examination, 1, "slice=14"), _view(examination, 2, "slice=3")
    width, height = sagittal.source_size
    assert (width, height) == (SAGITTAL_COLUMNS, SAGITTAL_ROWS)
    line = reference_line(axial.geometry, 13, sagittal.geometry, 2, width, height)
    # Independently: the axial plane n . p = n . P (P its first pixel's centre, n = row x
    # column) against the sagittal's pixel (x, y), whose corner-based centre lies at
    # y_mm = front + (x - 0.5) and z_mm = top - (y - 0.5).
    iop = np.asarray(axial_slices[13].image_orientation, dtype=float)
    n = np.cross(iop[:3], iop[3:])
    d = float(np.dot(n, axial_slices[13].image_position))

    def row_at(x: float) -> float:
        y_mm = SAGITTAL_FRONT + x - 0.5
        z_mm = (d - n[1] * y_mm) / n[2]  # n[0] is 0: the plane is the same at every x
        return SAGITTAL_TOP - z_mm + 0.5

    assert abs(n[0]) < 1e-9
    assert line == pytest.approx((0, row_at(0), width, row_at(width)), abs=0.01)
    # The gantry tilt shows: the line slopes.
    assert row_at(width) - row_at(0) > 50
    # Crossing series of one frame do not scroll each other; the line shows where they meet.
    assert linked_number(axial.geometry, 13, axial.count, sagittal.geometry, sagittal.count) is None


def test_another_frame_of_reference_gets_no_line(examination):
    axial, other = _view(examination, 1, "slice=14"), _view(examination, 3, "slice=3")
    width, height = other.source_size
    assert reference_line(axial.geometry, 13, other.geometry, 2, width, height) is None
    # And so it scrolls as before: by relative place in the stack.
    assert linked_number(axial.geometry, 27, axial.count, other.geometry, other.count) == 4


def test_series_imported_apart_do_not_share_a_frame(tmp_path):
    header = head_ct_header()
    case = Case.objects.create(slug="apart", title="Apart", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=CT_ZIP)
    sagittal = sagittal_write(tmp_path / "sagittal", frame_of_reference=header.FrameOfReferenceUID,
                              study=header.StudyInstanceUID)  # fmt: skip
    dicom_import(case=case, source=sagittal)
    # Each import replaces UIDs afresh: nothing links them, so no line is drawn.
    assert _view(case, 1).geometry.frame != _view(case, 2).geometry.frame


def test_the_receivers_keyed_memory_keeps_one_frame_across_sends(tmp_path):
    header = head_ct_header()
    sagittal = sagittal_write(tmp_path / "sagittal", frame_of_reference=header.FrameOfReferenceUID,
                              study=header.StudyInstanceUID)  # fmt: skip
    with zipfile.ZipFile(CT_ZIP) as archive:
        axial = pydicom.dcmread(io.BytesIO(archive.read("05.dcm")))
    # Two associations, each with its own memory (as ``receive`` makes one per instance).
    first = dicom_prepare(name="05.dcm", ds=axial, replacements=replacements_new())
    second = dicom_prepare(name="01.dcm", ds=pydicom.dcmread(sagittal / "01.dcm"),
                           replacements=replacements_new())  # fmt: skip
    frame = first[0].geometry.frame_of_reference
    assert frame.startswith(DEID_UID_ROOT) and frame != header.FrameOfReferenceUID
    assert second[0].geometry.frame_of_reference == frame


def test_the_study_page_draws_the_line_between_the_series(client, examination):
    html = client.get("/cases/head/study/?layout=2&v1=1:slice%3D14&v2=2:slice%3D3").content.decode()
    second = html[html.index('id="viewport-2"') :]
    assert re.search(r'<line class="refline refline-1" data-from="1" x1="0\.0" y1="[\d.]+"', second)
    html = client.get("/cases/head/study/?layout=2&v1=1:slice%3D14&v2=3:slice%3D3").content.decode()
    assert 'class="refline refline-1"' not in html[html.index('id="viewport-2"') :]


def test_the_migration_fills_the_frame_from_the_stored_file(examination):
    stored = {s.pk: s.frame_of_reference for s in Slice.objects.all()}
    Slice.objects.update(frame_of_reference="")
    backfill.frame_of_reference_backfill(apps, None)
    assert {s.pk: s.frame_of_reference for s in Slice.objects.all()} == stored
    assert all(stored.values())


def test_the_migration_never_takes_an_original_uid():
    header = head_ct_header()
    buffer = io.BytesIO()
    header.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    assert backfill.frame_of_reference_read(buffer) == ""  # not made by de-identification
    assert backfill.frame_of_reference_read(io.BytesIO(b"not dicom")) == ""


def test_a_stack_without_one_shared_frame_of_reference_is_a_frame_of_its_own():
    from cases.imaging.linking import geometry_frame

    case = Case.objects.create(slug="pics", title="Pics")
    figure = Figure.objects.create(case=case, number=1)
    one = f"{DEID_UID_ROOT}1"
    first = Slice.objects.create(figure=figure, image="a.dcm", frame_of_reference=one)
    assert geometry_frame(figure.id, [first]) == one
    second = Slice.objects.create(figure=figure, image="b.dcm", frame_of_reference=one)
    assert geometry_frame(figure.id, [first, second]) == one
    for value in ("", f"{DEID_UID_ROOT}2"):  # a picture among them, or two frames
        second.frame_of_reference = value
        assert geometry_frame(figure.id, [first, second]) == figure.id


def test_the_import_command_takes_several_series_of_one_examination(tmp_path):
    from django.core.management import CommandError, call_command

    header = head_ct_header()
    Case.objects.create(slug="cmd", title="Cmd")
    sagittal = sagittal_write(tmp_path / "sagittal", frame_of_reference=header.FrameOfReferenceUID,
                              study=header.StudyInstanceUID)  # fmt: skip
    with pytest.raises(CommandError, match="one source"):
        call_command("import_dicom", str(CT_ZIP), str(sagittal), "--case", "cmd", "--figure", "1",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    call_command("import_dicom", str(CT_ZIP), str(sagittal), "--case", "cmd",
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    frames = Slice.objects.filter(figure__case__slug="cmd").values_list("frame_of_reference")
    assert Figure.objects.filter(case__slug="cmd").count() == 2
    assert len(set(frames)) == 1 and frames[0][0].startswith(DEID_UID_ROOT)
