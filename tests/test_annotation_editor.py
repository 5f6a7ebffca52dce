"""Annotations in the figure's admin: the editor's inline, 1-based slices, labels drawn."""

from __future__ import annotations

import io
import json
import re
from html import unescape

import numpy as np
import pytest
from PIL import Image

from cases.imaging.params import RenderParams
from cases.imaging.render import ANNOTATION_COLOUR, annotations_digest, slice_render
from cases.imaging.viewstate import ViewState
from cases.models import Annotation, Case, Figure
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def head_ct() -> Figure:
    """The demo head CT: 28 slices."""
    from cases.importers.dicom import dicom_import

    case = Case.objects.create(slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip")
    return case.figures.get()


def _post(figure: Figure, rows: list[dict], *, initial: int = 0) -> dict:
    data = {
        "case": figure.case_id,
        "number": figure.number,
        "label": figure.label,
        "reveal_step": figure.reveal_step,
        "caption": figure.caption,
        "unknown_caption": "",
        "alt_text": "",
        "modality": figure.modality,
        "plane": "",
        "technique": "",
        "window_width": "" if figure.window_width is None else figure.window_width,
        "window_center": "" if figure.window_center is None else figure.window_center,
        "slices-TOTAL_FORMS": "0",
        "slices-INITIAL_FORMS": "0",
        "slices-MIN_NUM_FORMS": "0",
        "slices-MAX_NUM_FORMS": "1000",
        "annotations-TOTAL_FORMS": str(len(rows)),
        "annotations-INITIAL_FORMS": str(initial),
        "annotations-MIN_NUM_FORMS": "0",
        "annotations-MAX_NUM_FORMS": "1000",
    }
    defaults = {
        "kind": "arrow", "x": "0.5", "y": "0.5", "angle": "225", "radius_x": "0.08",
        "radius_y": "0.08", "slice_number": "", "label": "", "figure": figure.pk,
    }  # fmt: skip
    for i, row in enumerate(rows):
        data |= {f"annotations-{i}-{name}": value for name, value in (defaults | row).items()}
    return data


def _change(figure: Figure) -> str:
    return f"/admin/cases/figure/{figure.pk}/change/"


def _yellow(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    pixels = np.asarray(image.convert("RGB").crop(box)).astype(int)
    return int((np.abs(pixels - ANNOTATION_COLOUR).sum(axis=2) < 60).sum())


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_slice_is_entered_and_shown_counting_from_one(admin_client, head_ct):
    response = admin_client.post(_change(head_ct), _post(head_ct, [{"slice_number": "14"}]))
    assert response.status_code == 302, response.content.decode()[:3000]
    annotation = head_ct.annotations.get()
    assert annotation.slice_index == 13  # stored like Slice.position
    page = admin_client.get(_change(head_ct)).content.decode()
    assert re.search(r'name="annotations-0-slice_number" value="14"', page)
    assert "Counted from 1, as the viewer shows it" in page


def test_an_arrow_for_slice_14_is_drawn_on_slice_14_of_28(rf, head_ct):
    Annotation.objects.create(figure=head_ct, kind="arrow", x=0.4, y=0.55, slice_index=13)
    figure = Figure.objects.prefetch_related("slices", "annotations").get(pk=head_ct.pk)
    assert figure.slices.count() == 28
    drawn = {}
    for number in (13, 14, 15):
        view = ViewState.from_query(figure, {"slice": str(number)}, base_url="/")
        assert view.number == number
        drawn[number] = "ann=" in view.image_url()
    assert drawn == {13: False, 14: True, 15: False}
    slices = list(figure.slices.all())
    arrow = list(figure.annotations.all())
    tip = (round(0.4 * 512) - 6, round(0.55 * 512) - 14, round(0.4 * 512) + 6, round(0.55 * 512))
    on_14 = _png(slice_render(slices[13], RenderParams(slices[13].token), annotations=arrow))
    on_15 = _png(slice_render(slices[14], RenderParams(slices[14].token), annotations=arrow))
    assert _yellow(on_14, tip) > 10
    assert _yellow(on_15, tip) == 0


def test_blank_slice_is_every_slice(admin_client, published_case):
    figure = published_case.figures.get(number=1)
    response = admin_client.post(_change(figure), _post(figure, [{"slice_number": ""}]))
    assert response.status_code == 302
    assert figure.annotations.get().slice_index is None


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"slice_number": "0"}, "slice_number", "greater than or equal to 1"),
        ({"slice_number": "4"}, "slice_number", "This figure has 3 slices: 1 to 3."),
        ({"x": "1.2"}, "x", "Between 0 and 1"),
        ({"kind": "ellipse", "radius_x": "0"}, "radius_x", "Above 0"),
    ],
)
def test_out_of_range_values_are_refused_beside_their_field(
    admin_client, published_case, row, field, message
):
    figure = published_case.figures.get(number=1)  # 3 slices
    response = admin_client.post(_change(figure), _post(figure, [row]))
    assert response.status_code == 200
    assert message in unescape(response.content.decode())
    assert not figure.annotations.exists()


def test_editor_round_trips_place_move_relabel_delete(admin_client, head_ct):
    """What the editor writes into the rows (as a browser would post them) comes back."""
    placed = [
        {"kind": "arrow", "x": "0.4", "y": "0.55", "angle": "225", "slice_number": "14",
         "label": "haematoma"},
        {"kind": "ellipse", "x": "0.6", "y": "0.4", "angle": "30", "radius_x": "0.1",
         "radius_y": "0.05", "slice_number": "14", "label": "oedema"},
        {"kind": "star", "x": "0.2", "y": "0.2", "slice_number": ""},
    ]  # fmt: skip
    assert admin_client.post(_change(head_ct), _post(head_ct, placed)).status_code == 302
    saved = list(head_ct.annotations.all())
    assert [(a.kind, a.slice_index, a.label) for a in saved] == [
        ("arrow", 13, "haematoma"),
        ("ellipse", 13, "oedema"),
        ("star", None, ""),
    ]
    # Move the arrow, relabel the ring, delete the star.
    rows = [
        placed[0] | {"id": saved[0].pk, "x": "0.45"},
        placed[1] | {"id": saved[1].pk, "label": "vasogenic oedema"},
        placed[2] | {"id": saved[2].pk, "DELETE": "on"},
    ]
    assert admin_client.post(_change(head_ct), _post(head_ct, rows, initial=3)).status_code == 302
    after = list(head_ct.annotations.all())
    assert [(a.kind, a.x, a.slice_index, a.label) for a in after] == [
        ("arrow", 0.45, 13, "haematoma"),
        ("ellipse", 0.6, 13, "vasogenic oedema"),
    ]
    assert after[1].radius_x == 0.1 and after[1].radius_y == 0.05 and after[1].angle == 30
    # Reload: the rows hold exactly what was saved.
    page = admin_client.get(_change(head_ct)).content.decode()
    assert 'name="annotations-0-x" value="0.45"' in page
    assert 'name="annotations-1-label" value="vasogenic oedema"' in page
    assert 'name="annotations-2-' not in page


def test_figure_page_carries_the_editor_under_the_csp(admin_client, head_ct):
    page = admin_client.get(_change(head_ct)).content.decode()
    assert 'id="annotation-editor"' in page and " hidden " in page  # shown by its script only
    assert "js/annotation_editor.js" in page
    data = json.loads(
        unescape(re.search(r'id="annotation-editor-data" type="application/json">(.*?)</', page)[1])
    )
    assert len(data["slices"]) == 28
    assert data["slices"][0]["url"].startswith("/img/") and "ann=" not in data["slices"][0]["url"]
    assert "size=1024" in data["slices"][0]["url"]
    assert data["presets"][0] == {"label": "Figure", "ww": 100.0, "wc": 35.0}
    assert {"label": "Bone", "ww": 2500, "wc": 480} in data["presets"]
    # The numeric rows stay, for a browser without JavaScript.
    assert 'id="annotations-empty"' in page and 'name="annotations-__prefix__-x"' in page
    assert "<script>" not in page and 'style="' not in page


def test_the_editor_images_of_a_draft_are_shown_to_staff(admin_client, client, head_ct):
    head_ct.case.status = Case.Status.DRAFT
    head_ct.case.save()
    page = admin_client.get(_change(head_ct)).content.decode()
    url = json.loads(
        unescape(re.search(r'id="annotation-editor-data" type="application/json">(.*?)</', page)[1])
    )["slices"][13]["url"]
    assert admin_client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 404


def test_label_is_drawn_beside_the_mark_and_changes_the_image_url(head_ct):
    image = head_ct.slices.all()[13]
    arrow = Annotation(figure=head_ct, kind="arrow", x=0.4, y=0.55, angle=225, slice_index=13)
    labelled = Annotation(
        figure=head_ct, kind="arrow", x=0.4, y=0.55, angle=225, slice_index=13, label="haematoma"
    )
    assert annotations_digest([arrow]) != annotations_digest([labelled])
    # Beyond the tail: up and to the right of the tip (the arrow comes from there).
    for size, box in ((512, (300, 150, 420, 250)), (256, (150, 75, 210, 125))):
        plain = _png(slice_render(image, RenderParams(image.token, size=size), annotations=[arrow]))
        text = _png(
            slice_render(image, RenderParams(image.token, size=size), annotations=[labelled])
        )
        assert _yellow(plain, box) == 0
        assert _yellow(text, box) > (60 if size == 512 else 25), size
        # Outlined: black next to the yellow, so it reads on bone as on air.
        crop = np.asarray(text.convert("RGB").crop(box)).astype(int)
        assert (crop.sum(axis=2) < 40).sum() > 20


def test_unlabelled_arrows_keep_their_digest():
    # Cached renderings of arrows drawn before labels were drawn stay valid.
    arrow = Annotation(kind="arrow", x=0.4, y=0.5, angle=225.0)
    assert annotations_digest([arrow]) == "7c6225bff9"


def test_ring_and_text_label_are_drawn(head_ct):
    image = head_ct.slices.all()[13]
    ring = Annotation(kind="ellipse", x=0.5, y=0.5, angle=0, radius_x=0.2, radius_y=0.1)
    text = Annotation(kind="text", x=0.5, y=0.15, label="Circle of Willis")
    rendered = _png(slice_render(image, RenderParams(image.token), annotations=[ring, text]))
    assert _yellow(rendered, (250, 250, 262, 262)) == 0  # the ring is hollow
    assert _yellow(rendered, (250, 200, 262, 210)) > 10  # its top edge at y = 0.4
    assert _yellow(rendered, (150, 250, 160, 262)) > 10  # its left edge at x = 0.3
    assert _yellow(rendered, (180, 65, 330, 90)) > 60  # the text, centred on its point


def test_a_label_naming_the_diagnosis_is_a_spoiler_with_its_redaction(published_case):
    from cases.spoilers import spoiler_check, spoiler_redact

    figure = published_case.figures.get(number=1)
    assert figure.reveal_step < 5  # shown before the diagnosis step
    Annotation.objects.create(figure=figure, x=0.5, y=0.5, label="lung adenocarcinoma")
    Annotation.objects.create(figure=figure, x=0.2, y=0.5, label="right upper lobe")
    warnings = spoiler_check(published_case)
    assert [(w.field, w.phrase) for w in warnings] == [
        ("Figure 1 annotation label", "Lung adenocarcinoma")
    ]
    spoiler_redact(published_case)
    labels = sorted(figure.annotations.values_list("label", flat=True))
    assert labels == ["[redacted]", "right upper lobe"]
