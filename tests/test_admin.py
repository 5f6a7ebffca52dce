from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cases.models import Case, Figure, Slice, Table, TableRow
from tests.hostile import assert_media_clean, phi_dicom_bytes, phi_jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def _png(size=(16, 12), colour=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/cases/case/",
        "/admin/cases/case/?status__exact=draft",
        "/admin/cases/case/?q=Published",
        "/admin/cases/figure/",
        "/admin/cases/table/",
        "/admin/cases/case/add/",
        "/admin/cases/figure/add/",
        "/admin/cases/table/add/",
    ],
)
def test_admin_pages_load(admin_client, published_case, path):
    assert admin_client.get(path).status_code == 200


def test_case_change_form_has_inlines_thumbnails_and_view_on_site(admin_client, published_case):
    response = admin_client.get(f"/admin/cases/case/{published_case.pk}/change/")
    body = response.content.decode()
    for inline in ("authors", "affiliations", "figures", "tables", "references", "abbreviations"):
        assert f'id="{inline}-group"' in body
    assert 'class="cv-thumb"' in body
    assert "View on site" in body


def test_admin_is_closed_to_learners(client, learner):
    client.force_login(learner)
    response = client.get("/admin/cases/case/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_table_editor_saves_one_box_per_cell(admin_client, published_case):
    table = published_case.tables.get(number=1)
    url = f"/admin/cases/table/{table.pk}/change/"
    form = admin_client.get(url).content.decode()
    assert 'name="header_0"' in form and 'name="rows-0-cells_1"' in form
    rows = list(table.rows.all())
    data = {
        "case": published_case.pk,
        "number": 1,
        "title": "Edited table",
        "reveal_step": 6,
        "header_0": "Entity",
        "header_1": "CT",
        "header_2": "MRI",
        "rows-TOTAL_FORMS": str(len(rows) + 1),
        "rows-INITIAL_FORMS": str(len(rows)),
        "rows-MIN_NUM_FORMS": "0",
        "rows-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data |= {f"rows-{i}-id": row.pk, f"rows-{i}-table": table.pk, f"rows-{i}-order": i}
        data |= {f"rows-{i}-cells_0": f"Entity {i}", f"rows-{i}-cells_1": "- a\n- b"}
        data |= {f"rows-{i}-cells_2": ""}
    new = len(rows)
    data |= {f"rows-{new}-table": table.pk, f"rows-{new}-order": 9}
    data |= {
        f"rows-{new}-cells_0": "Lymphoma",
        f"rows-{new}-cells_1": "",
        f"rows-{new}-cells_2": "- T2 bright",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    table.refresh_from_db()
    assert table.header == ["Entity", "CT", "MRI"]
    assert list(table.rows.values_list("cells", flat=True)) == [
        ["Entity 0", "- a\n- b"],
        ["Entity 1", "- a\n- b"],
        ["Entity 2", "- a\n- b"],
        ["Lymphoma", "", "- T2 bright"],
    ]


def _figure_post(figure: Figure, **extra) -> dict:
    data = {
        "case": figure.case_id,
        "number": figure.number,
        "label": figure.label,
        "reveal_step": figure.reveal_step,
        "caption": "New caption",
        "unknown_caption": "",
        "alt_text": "",
        "modality": "CT",
        "plane": "",
        "technique": "",
        "window_width": "",
        "window_center": "",
    }
    for prefix in ("slices", "annotations"):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data | extra


def test_figure_upload_adds_several_images(admin_client, db):
    case = Case.objects.create(slug="upload", title="Upload", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    files = [
        SimpleUploadedFile("b.png", _png(), content_type="image/png"),
        SimpleUploadedFile("a.png", _png(colour=(1, 2, 3)), content_type="image/png"),
    ]
    response = admin_client.post(
        f"/admin/cases/figure/{figure.pk}/change/", _figure_post(figure, upload=files)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    slices = list(figure.slices.all())
    assert [s.position for s in slices] == [0, 1]
    assert all(s.width == 16 and s.height == 12 for s in slices)
    assert admin_client.get(f"/img/{slices[0].token}.png").status_code == 200


def test_figure_upload_rejects_bad_file_and_keeps_nothing(admin_client, db):
    case = Case.objects.create(slug="upload", title="Upload", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, caption="Old caption")
    files = [
        SimpleUploadedFile("good.png", _png(), content_type="image/png"),
        SimpleUploadedFile("evil.png", b"MZ\x90\x00 not an image", content_type="image/png"),
    ]
    response = admin_client.post(
        f"/admin/cases/figure/{figure.pk}/change/", _figure_post(figure, upload=files)
    )
    assert response.status_code == 200
    assert "evil.png" in response.content.decode()
    assert Slice.objects.count() == 0
    figure.refresh_from_db()
    assert figure.caption == "Old caption"


def test_publish_action(admin_client, draft_case):
    response = admin_client.post(
        "/admin/cases/case/", {"action": "publish", "_selected_action": [draft_case.pk]}
    )
    assert response.status_code == 302
    draft_case.refresh_from_db()
    assert draft_case.status == Case.Status.PUBLISHED


def test_table_row_str_and_column_count(published_case):
    table = Table.objects.get(case=published_case, number=1)
    TableRow.objects.create(table=table, order=5, cells=["a", "b", "c", "d"])
    assert table.column_count == 4


def test_figure_upload_sorts_a_dicom_series_by_position(admin_client, db):
    import zipfile

    import pydicom

    from tests.conftest import DEMO_DIR

    case = Case.objects.create(slug="dicom", title="DICOM", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    with zipfile.ZipFile(DEMO_DIR / "dicom" / "ct-head-ge.zip") as archive:
        members = sorted(archive.namelist())[:3]
        # Reverse the names so file-name order and position order disagree.
        files = [
            SimpleUploadedFile(f"{9 - i}.dcm", archive.read(name)) for i, name in enumerate(members)
        ]
    response = admin_client.post(
        f"/admin/cases/figure/{figure.pk}/change/", _figure_post(figure, upload=files)
    )
    assert response.status_code == 302
    slices = list(figure.slices.all())
    locations = [s.slice_location for s in slices]
    assert locations == sorted(locations) and len(locations) == 3
    datasets = [pydicom.dcmread(s.image.path) for s in slices]
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert all(ds.PatientIdentityRemoved == "YES" for ds in datasets)


def test_figure_upload_stores_hostile_files_clean_and_says_what_it_removed(
    admin_client, db, settings
):
    case = Case.objects.create(slug="upload", title="Upload", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    files = [
        SimpleUploadedFile("a.dcm", phi_dicom_bytes(), content_type="application/dicom"),
        SimpleUploadedFile("b.jpg", phi_jpeg_bytes(), content_type="image/jpeg"),
    ]
    response = admin_client.post(
        f"/admin/cases/figure/{figure.pk}/change/",
        _figure_post(figure, upload=files),
        follow=True,
    )
    assert figure.slices.count() == 2
    assert assert_media_clean(settings.MEDIA_ROOT) == 2
    page = response.content.decode()
    assert "De-identification removed" in page
    for name in ("PatientName", "ProtocolName", "AcquisitionComments", "EXIF"):
        assert name in page


def test_figure_upload_over_the_upload_limit_keeps_nothing(admin_client, db, settings):
    settings.INGEST_MAX_UPLOAD_BYTES = 3000  # one 32x32 16-bit slice is 2048 bytes decoded
    case = Case.objects.create(slug="upload", title="Upload", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    files = [
        SimpleUploadedFile(f"{n}.dcm", phi_dicom_bytes(seed=n), content_type="application/dicom")
        for n in range(2)
    ]
    response = admin_client.post(
        f"/admin/cases/figure/{figure.pk}/change/", _figure_post(figure, upload=files)
    )
    assert response.status_code == 200
    assert "the upload decodes to more than" in response.content.decode()
    assert Slice.objects.count() == 0
