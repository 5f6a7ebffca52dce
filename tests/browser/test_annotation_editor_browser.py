"""An author draws on the figure's admin page, saves, and sees the marks in the viewer."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db(transaction=True)

YELLOW = (255, 214, 10)


@pytest.fixture
def head_ct(staff):
    from cases.importers.dicom import dicom_import
    from cases.models import Case

    case = Case.objects.create(slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip")
    return case


def _log_in(page, base: str, next_url: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.get_by_label("Username").fill("author")
    page.get_by_label("Password").fill("author-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")
    page.wait_for_load_state("load")


def _wait_image(page, selector: str) -> None:
    image = page.locator(selector)
    expect(image).to_have_js_property("complete", True)
    expect(image).not_to_have_js_property("naturalWidth", 0)


def _stage_point(page, fx: float, fy: float) -> tuple[float, float]:
    page.locator(".annotation-editor-canvas").scroll_into_view_if_needed()
    box = page.locator(".annotation-editor-canvas").bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def _row_value(page, row: int, name: str) -> str:
    return page.locator(f"[name='annotations-{row}-{name}']").input_value()


def _yellow_near(png: bytes, centre: tuple[float, float], radius: int) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    cx, cy = round(centre[0] * image.width), round(centre[1] * image.height)
    count = 0
    for x in range(max(cx - radius, 0), min(cx + radius, image.width)):
        for y in range(max(cy - radius, 0), min(cy + radius, image.height)):
            r, g, b = image.getpixel((x, y))
            count += r > 200 and 170 < g < 240 and b < 80
    return count


def test_author_places_an_arrow_with_the_mouse_and_sees_it_labelled_in_the_viewer(
    live_server, page, head_ct, screenshot_dir
):
    from cases.models import Annotation

    figure = head_ct.figures.get()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    page.set_viewport_size({"width": 1440, "height": 1100})
    change = f"/admin/cases/figure/{figure.pk}/change/"
    _log_in(page, live_server.url, change)
    editor = page.locator("#annotation-editor")
    expect(editor).to_be_visible()
    slice_box = editor.get_by_role("spinbutton", name="Slice")
    expect(slice_box).to_have_value("15")  # the middle of 28, as the viewer opens
    slice_box.fill("14")
    _wait_image(page, ".annotation-editor-stage img")
    assert "size=1024" in page.locator(".annotation-editor-stage img").get_attribute("src")

    # Arrow: press on the target, drag up and to the right: the arrow comes from there.
    editor.get_by_role("button", name="Arrow", exact=True).click()
    tip = _stage_point(page, 0.40, 0.55)
    page.mouse.move(*tip)
    page.mouse.down()
    page.mouse.move(tip[0] + 30, tip[1] - 30, steps=4)
    page.mouse.move(tip[0] + 60, tip[1] - 60, steps=4)
    page.mouse.up()
    assert _row_value(page, 0, "kind") == "arrow"
    assert abs(float(_row_value(page, 0, "x")) - 0.40) < 0.01
    assert abs(float(_row_value(page, 0, "y")) - 0.55) < 0.01
    assert abs(float(_row_value(page, 0, "angle")) - 225) < 1
    assert _row_value(page, 0, "slice_number") == "14"
    editor.get_by_label("Label").fill("haematoma")
    assert _row_value(page, 0, "label") == "haematoma"
    expect(page.locator(".annotation-mark text")).to_have_text("haematoma")

    # Move it with the mouse (select tool), nudge it with the keyboard, undo the nudge.
    editor.get_by_role("button", name="Select", exact=True).click()
    page.mouse.move(*tip)
    page.mouse.down()
    page.mouse.move(tip[0] - 20, tip[1], steps=4)
    page.mouse.up()
    moved_x = float(_row_value(page, 0, "x"))
    assert moved_x < 0.39
    expect(page.locator(".annotation-mark.is-selected")).to_be_focused()
    page.keyboard.press("ArrowRight")
    nudged = float(_row_value(page, 0, "x"))
    assert nudged > moved_x
    page.keyboard.press("Control+z")
    assert float(_row_value(page, 0, "x")) == pytest.approx(moved_x, abs=1e-4)
    page.keyboard.press("]")  # rotate 15 degrees clockwise
    assert abs(float(_row_value(page, 0, "angle")) - 210) < 1

    # A star placed with the keyboard, then deleted with the Delete key: it is not saved.
    editor.get_by_role("button", name="Star").click()
    page.focus(".annotation-editor-canvas")
    page.keyboard.press("Enter")
    assert _row_value(page, 1, "kind") == "star"
    expect(page.locator(".annotation-mark")).to_have_count(2)
    page.keyboard.press("Delete")
    expect(page.locator(".annotation-mark")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "annotation-editor-1440.png"), full_page=True)

    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_url(f"**{change}")
    page.wait_for_load_state("load")
    saved = list(Annotation.objects.filter(figure=figure))
    assert [(a.kind, a.slice_index, a.label) for a in saved] == [("arrow", 13, "haematoma")]
    assert saved[0].angle == pytest.approx(210, abs=1)

    # Reload: the same mark on slice 14, with its label.
    expect(slice_box).to_have_value("14")
    expect(page.locator(".annotation-mark")).to_have_count(1)
    expect(page.locator(".annotation-mark")).to_have_attribute("aria-label", "Arrow 1: haematoma")
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=str(screenshot_dir / "annotation-editor-390.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1100})

    # The viewer: slice 14 of 28 carries the arrow and its label; slice 15 does not.
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/?slice=14")
    _wait_image(page, "#viewer-1 img.viewer-image")
    src = page.locator("#viewer-1 img.viewer-image").get_attribute("src")
    assert re.search(r"[?&]ann=[0-9a-f]{10}", src)
    page.screenshot(path=str(screenshot_dir / "annotation-editor-viewer.png"))
    png = page.request.get(live_server.url + src).body()
    a = saved[0]
    assert _yellow_near(png, (a.x, a.y), 12) > 20, "no arrow at the tip"
    # The label sits beyond the tail, up and to the right of the tip.
    tail = (a.x + 0.14, a.y - 0.12)
    assert _yellow_near(png, tail, 60) > 150, "no label beyond the arrow's tail"
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/?slice=15")
    _wait_image(page, "#viewer-1 img.viewer-image")
    assert "ann=" not in page.locator("#viewer-1 img.viewer-image").get_attribute("src")
    assert violations == []
