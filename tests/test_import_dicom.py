from __future__ import annotations

import tracemalloc
import zipfile
from io import StringIO
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command
from pydicom.data import get_testdata_file

from cases.importers.dicom import DicomImportError, dicom_import, technique_describe
from cases.models import Case, Figure, Slice
from tests.hostile import assert_media_clean, deflated_dicom_bomb, phi_dicom_bytes

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


@pytest.fixture
def case() -> Case:
    return Case.objects.create(slug="head-ct", title="Head CT")


@pytest.fixture
def media_root(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


def media_files(root: Path) -> set[str]:
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def run_import(*args: str) -> str:
    out = StringIO()
    call_command("import_dicom", *args, stdout=out)
    return out.getvalue()


def test_import_demo_zip_adds_a_28_slice_figure(case, media_root):
    Figure.objects.create(case=case, number=1, caption="An existing figure")
    output = run_import(str(CT_ZIP), "--case", "head-ct", "--caption", "Axial head CT")

    assert output.splitlines()[0] == "Imported 28 slices into /cases/head-ct/ figure 2"
    figure = case.figures.get(number=2)
    assert figure.caption == "Axial head CT"
    assert (figure.modality, figure.plane) == (Figure.Modality.CT, "Axial")
    assert figure.technique == "GE HiSpeed Dual, 120 kV, 360 mAs, 4 mm"
    assert (figure.window_width, figure.window_center) == (100, 35)
    assert figure.alt_text == "CT, Axial"
    slices = list(figure.slices.all())
    assert [s.position for s in slices] == list(range(28))
    assert {(s.kind, s.width, s.height) for s in slices} == {(Slice.Kind.GREY16, 512, 512)}
    locations = [s.slice_location for s in slices]
    assert locations == sorted(locations) and len(set(locations)) == 28
    assert media_files(media_root) == {s.image.name for s in slices}


def test_figure_option_replaces_the_slices_and_deletes_old_files_after_commit(
    case, media_root, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = dicom_import(case=case, source=CT_ZIP, caption="Keep me")
    Figure.objects.filter(pk=first.figure.pk).update(window_width=80, window_center=40)
    old_files = media_files(media_root)
    assert len(old_files) == 28

    single = tmp_path / "one-slice"
    single.mkdir()
    with zipfile.ZipFile(CT_ZIP) as archive:
        for name in ("05.dcm", "06.dcm"):
            (single / name).write_bytes(archive.read(name))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        output = run_import(str(single), "--case", "head-ct", "--figure", "1")
        # Before the commit both generations of files exist: nothing is lost on a rollback.
        assert media_files(media_root) >= old_files
    for callback in callbacks:
        callback()

    assert output.startswith("Imported 2 slices into /cases/head-ct/ figure 1")
    assert case.figures.count() == 1
    figure = case.figures.get()
    assert figure.pk == first.figure.pk and figure.caption == "Keep me"
    assert (figure.window_width, figure.window_center) == (80, 40)  # the author's window stays
    assert figure.technique == "GE HiSpeed Dual, 120 kV, 360 mAs, 4 mm"
    new_files = {s.image.name for s in figure.slices.all()}
    assert len(new_files) == 2
    assert media_files(media_root) == new_files


def test_a_mixed_folder_imports_the_images_and_reports_the_junk(case, tmp_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    with zipfile.ZipFile(CT_ZIP) as archive:
        for name in ("10.dcm", "11.dcm", "12.dcm"):
            (folder / "sub" / name).write_bytes(archive.read(name))
    (folder / "notes.txt").write_text("Patient was scanned on Monday.\n")
    (folder / "plan.dcm").write_bytes(Path(get_testdata_file("rtplan.dcm")).read_bytes())
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    output = run_import(str(folder), "--case", "head-ct")

    lines = output.splitlines()
    assert lines[0] == "Imported 3 slices into /cases/head-ct/ figure 1"
    assert lines[1].startswith("De-identification removed ")
    assert sorted(lines[2:]) == [
        "Skipped notes.txt: not a DICOM image",
        "Skipped plan.dcm: DICOM file without image pixel data",
    ]
    assert case.figures.get().slices.count() == 3


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda tmp: tmp / "missing.zip", "missing.zip: no such file or folder"),
        (lambda tmp: _zip_without_dicom(tmp), "no DICOM images with pixel data found"),
        (lambda tmp: _empty_folder(tmp), "no DICOM images with pixel data found"),
    ],
)
def test_a_bad_source_is_a_command_error_and_changes_nothing(
    case, media_root, tmp_path, make_source, message
):
    Figure.objects.create(case=case, number=1)
    source = make_source(tmp_path)
    with pytest.raises(CommandError, match=message):
        run_import(str(source), "--case", "head-ct")
    assert case.figures.count() == 1 and Slice.objects.count() == 0
    assert media_files(media_root) == set()


def _zip_without_dicom(tmp: Path) -> Path:
    path = tmp / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no images here")
        archive.writestr("report.pdf", b"%PDF-1.4 not really")
    return path


def _empty_folder(tmp: Path) -> Path:
    path = tmp / "empty"
    path.mkdir()
    return path


def test_a_failure_midway_rolls_back_and_removes_written_files(case, media_root, tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    with zipfile.ZipFile(CT_ZIP) as archive:
        (folder / "01.dcm").write_bytes(archive.read("01.dcm"))
    with pytest.raises(DicomImportError, match="has no figure 7"):
        dicom_import(case=case, source=folder, figure_number=7)
    assert Figure.objects.count() == 0 and media_files(media_root) == set()


def test_unknown_case_slug_is_a_command_error():
    with pytest.raises(CommandError, match="No case with the slug 'nope'"):
        run_import(str(CT_ZIP), "--case", "nope")


def test_a_single_mr_file_and_its_technique(case):
    result = dicom_import(case=case, source=Path(get_testdata_file("MR_small.dcm")))
    assert result.slices == 1 and result.skipped == []
    assert result.figure.modality == Figure.Modality.MR
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"), stop_before_pixels=True)
    assert technique_describe(ds) == "Toshiba MRT50H1, 0.8 mm"


def test_a_phi_laden_file_is_stored_clean_and_the_summary_names_what_went(
    case, media_root, tmp_path
):
    source = tmp_path / "phi.dcm"
    source.write_bytes(phi_dicom_bytes())
    output = run_import(str(source), "--case", "head-ct")
    assert assert_media_clean(media_root) == 1
    summary = next(line for line in output.splitlines() if line.startswith("De-identification"))
    for name in ("PatientName", "PatientBirthDate", "InstitutionName", "ProtocolName",
                 "AcquisitionComments", "private attributes", "preamble"):  # fmt: skip
        assert name in summary


def test_a_deflated_dicom_bomb_is_refused_with_little_memory(case, media_root, tmp_path):
    source = tmp_path / "bomb.dcm"
    source.write_bytes(deflated_dicom_bomb())  # 16 frames of 4096x4096: 512 MiB inflated
    tracemalloc.start()
    try:
        with pytest.raises(CommandError, match="inflates to more than"):
            run_import(str(source), "--case", "head-ct")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
    assert not Figure.objects.exists() and not media_files(media_root)
