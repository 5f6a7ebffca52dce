"""Images into a figure from its admin page: zips, a folder's files, the technique filled."""

from __future__ import annotations

import io
import zipfile

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.importers.dicom import technique_describe
from cases.models import Case, Figure, Slice
from tests.conftest import DEMO_DIR
from tests.hostile import assert_media_clean, phi_dicom_bytes, phi_jpeg_bytes
from tests.test_admin_synonyms import admin_form_data

pytestmark = pytest.mark.django_db
CT_ZIP = DEMO_DIR / "dicom" / "ct-head-ge.zip"


@pytest.fixture
def author(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def figure(db) -> Figure:
    case = Case.objects.create(slug="upload", title="Upload", status=Case.Status.DRAFT)
    return Figure.objects.create(case=case, number=1)


def _post(client, figure: Figure, *, headers=None, **files):
    url = f"/admin/cases/figure/{figure.pk}/change/"
    data = admin_form_data(client.get(url).content.decode())
    return client.post(url, data | files, follow=not headers, headers=headers or {})


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_dicom_zip_adds_a_sorted_stack_with_its_technique(author, figure):
    # The zip's members in reverse file order: the stack must follow the DICOM positions.
    with zipfile.ZipFile(CT_ZIP) as archive:
        members = {f"IM{99 - i}": archive.read(n) for i, n in enumerate(sorted(archive.namelist()))}
    upload = SimpleUploadedFile("series.zip", _zip(members), content_type="application/zip")
    page = _post(author, figure, upload=[upload]).content.decode()
    assert "28 images added." in page
    slices = list(figure.slices.all())
    assert len(slices) == 28
    locations = [s.slice_location for s in slices]
    assert locations == sorted(locations)
    assert [s.position for s in slices] == list(range(28))
    figure.refresh_from_db()
    assert figure.modality == Figure.Modality.CT
    assert figure.plane == "Axial"
    assert figure.technique == "GE HiSpeed Dual, 120 kV, 360 mAs, 4 mm"
    first = pydicom.dcmread(slices[0].image.path)
    assert first.PatientIdentityRemoved == "YES"


def test_an_author_technique_is_kept(author, figure):
    figure.technique = "Non-contrast head CT"
    figure.save()
    upload = SimpleUploadedFile("one.zip", _zip({"a.dcm": phi_dicom_bytes()}))
    _post(author, figure, upload=[upload])
    figure.refresh_from_db()
    assert figure.technique == "Non-contrast head CT"
    assert figure.slices.count() == 1


def test_a_zip_of_hostile_files_is_stored_clean_and_skips_what_is_not_an_image(
    author, figure, settings
):
    members = {
        "series/b.dcm": phi_dicom_bytes(seed=2),
        "series/a.dcm": phi_dicom_bytes(seed=1),
        "photo.jpg": phi_jpeg_bytes(),
        "README.txt": b"DOE^JANE MRN-0042 notes",
        "__MACOSX/._a.dcm": b"resource fork",
    }
    upload = SimpleUploadedFile("hostile.zip", _zip(members))
    page = _post(author, figure, upload=[upload]).content.decode()
    assert "3 images added." in page
    assert "Skipped 1 file(s) that are not images: hostile.zip/README.txt" in page
    assert "PatientName" in page  # what de-identification removed is said
    assert assert_media_clean(settings.MEDIA_ROOT) == 3
    # The header's institution and protocol never reach the figure's technique line.
    figure.refresh_from_db()
    assert "ELSEWHERE" not in figure.technique and "PROTO" not in figure.technique


def test_a_folder_of_files_is_added_and_its_junk_skipped(author, figure):
    folder = [
        SimpleUploadedFile("IM10", phi_dicom_bytes(seed=10)),
        SimpleUploadedFile("IM2", phi_dicom_bytes(seed=2)),
        SimpleUploadedFile("DICOMDIR.txt", b"not an image"),
        SimpleUploadedFile(".DS_Store", b"\0\0\0\1Bud1"),
    ]
    page = _post(author, figure, folder=folder).content.decode()
    assert "2 images added." in page
    assert "DICOMDIR.txt" in page
    assert figure.slices.count() == 2


def test_the_folder_input_picks_a_directory(author, figure):
    page = author.get(f"/admin/cases/figure/{figure.pk}/change/").content.decode()
    assert 'name="folder"' in page and "webkitdirectory" in page
    assert "js/upload_progress.js" in page


def test_a_bad_file_in_a_zip_refuses_the_whole_upload(author, figure):
    bad = phi_dicom_bytes()[:-300]  # pixels cut short: damaged, not merely "not an image"
    upload = SimpleUploadedFile("bad.zip", _zip({"a.dcm": phi_dicom_bytes(), "b.dcm": bad}))
    response = _post(author, figure, upload=[upload])
    assert response.redirect_chain == []
    assert "bad.zip/b.dcm" in response.content.decode()
    assert Slice.objects.count() == 0


def test_a_zip_bomb_is_refused(author, figure, monkeypatch):
    monkeypatch.setattr("cases.imaging.ingest.SOURCE_MAX_TOTAL_BYTES", 4000)
    members = {f"{n}.dcm": phi_dicom_bytes(seed=n) for n in range(4)}
    upload = SimpleUploadedFile("big.zip", _zip(members))
    response = _post(author, figure, upload=[upload])
    assert "uncompressed" in response.content.decode()
    assert Slice.objects.count() == 0


def test_the_progress_script_gets_the_redirect_as_json(author, figure):
    upload = SimpleUploadedFile("a.dcm", phi_dicom_bytes())
    response = _post(author, figure, upload=[upload], headers={"X-Upload-Progress": "1"})
    assert response.status_code == 200
    assert response.json() == {"location": "/admin/cases/figure/"}
    # The save's message waits for the page the script opens.
    assert "1 image added." in author.get("/admin/cases/figure/").content.decode()


def test_technique_reads_mr_sequence_exposure_and_contrast():
    ds = pydicom.Dataset()
    ds.Manufacturer, ds.ManufacturerModelName = "SIEMENS", "Avanto"
    ds.MagneticFieldStrength, ds.SequenceName, ds.SliceThickness = 1.5, "*tse2d1_15", 5
    ds.ContrastBolusAgent = "Gadovist"
    assert (
        technique_describe(ds)
        == "Siemens Avanto, 1.5 T, sequence *tse2d1_15, 5 mm, contrast Gadovist"
    )
    ct = pydicom.Dataset()
    ct.KVP, ct.Exposure = 100, 250
    assert technique_describe(ct) == "100 kV, 250 mAs"
    ct.ContrastBolusAgent = "DOE^JANE"  # a name typed into the wrong field is not kept
    assert technique_describe(ct) == "100 kV, 250 mAs"
