from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import scripts_ran
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def head_ct():
    from cases.importers.dicom import dicom_import
    from cases.models import Case

    case = Case.objects.create(slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip")
    return case


def _state(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _shown_slice(page) -> str:
    return page.locator("#viewer-1-position output").inner_text()


def _wait_image(page) -> None:
    # A page that was opened by a click, not page.goto, runs a figure page's scripts after
    # its picture: wait for them first, so that the picture waited for is the one they ask
    # for (at the size of its box) and the next key or wheel reaches the viewer.
    scripts_ran(page)
    # Locator expectations, not wait_for_function: the strict CSP forbids eval in the page.
    image = page.locator("#viewer-1 img.viewer-image")
    expect(image).to_have_js_property("complete", True)
    expect(image).not_to_have_js_property("naturalWidth", 0)


def _picture(page) -> dict[str, float]:
    """Where the (square) CT is drawn in the image's box, which may be wider (object-fit)."""
    box = page.locator("#viewer-1 img.viewer-image").bounding_box()
    side = min(box["width"], box["height"])
    return {"x": box["x"] + (box["width"] - side) / 2, "y": box["y"] + (box["height"] - side) / 2,
            "width": side, "height": side}  # fmt: skip


def _wait_state(page, **expected: str) -> None:
    """Wait until the address bar holds ``expected`` (the script replaces it after a swap)."""
    pattern = "".join(f"(?=.*[?&]{k}={re.escape(v)}(?:&|$))" for k, v in expected.items())
    expect(page).to_have_url(re.compile(pattern))


def test_head_ct_scrolls_windows_and_magnifies_with_the_view_in_the_url(
    live_server, page, head_ct, screenshot_dir
):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.resource_type == "document" else None)
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.htmx") == "object"
    page.evaluate("window.__marker = 'same page'")
    _wait_image(page)
    assert _shown_slice(page) == "15"
    first_src = page.locator("#viewer-1 img.viewer-image").get_attribute("src")
    page.screenshot(path=str(screenshot_dir / "viewer-1-start.png"))

    # Keys, with the viewer focused: down is the next slice, up the previous, End the last.
    page.focus("#viewer-1")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    _wait_state(page, slice="18")
    page.keyboard.press("ArrowUp")
    _wait_state(page, slice="17")
    expect(page.locator("#viewer-1-position output")).to_have_text("17")
    page.keyboard.press("End")
    _wait_state(page, slice="28")
    page.keyboard.press("Home")
    _wait_state(page, slice="1")

    # The mouse wheel over the image scrolls the stack.
    page.locator("#viewer-1 img.viewer-image").hover()
    for _ in range(9):
        page.mouse.wheel(0, 100)
    _wait_state(page, slice="10")
    _wait_image(page)
    assert page.locator("#viewer-1 img.viewer-image").get_attribute("src") != first_src
    page.screenshot(path=str(screenshot_dir / "viewer-2-slice-10.png"))

    # A window preset, then invert by key.
    page.get_by_role("link", name="Bone 2500/480").click()
    _wait_state(page, slice="10", ww="2500", wc="480")
    assert page.get_by_role("link", name="Bone 2500/480").get_attribute("aria-current") == "true"
    page.focus("#viewer-1")
    page.keyboard.press("i")
    _wait_state(page, invert="1")
    page.keyboard.press("i")
    expect(page).not_to_have_url(re.compile(r"[?&]invert="))

    # Typing a window.
    page.get_by_label("Window width").fill("350")
    page.get_by_label("Window centre").fill("45")
    page.get_by_role("button", name="Apply").click()
    _wait_state(page, ww="350", wc="45", slice="10")
    _wait_image(page)
    windowed = page.locator("#viewer-1 img.viewer-image").screenshot()

    # A click on the image magnifies one step around the point clicked.
    box = _picture(page)
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45)
    _wait_state(page, zoom="1.5")
    state = _state(page)
    assert abs(float(state["cx"]) - 0.4) < 0.01 and abs(float(state["cy"]) - 0.45) < 0.01
    _wait_image(page)
    assert page.locator("#viewer-1 img.viewer-image").screenshot() != windowed
    page.keyboard.press("+")
    _wait_state(page, zoom="2")
    _wait_image(page)
    page.screenshot(path=str(screenshot_dir / "viewer-3-bone-zoomed.png"))

    # All of it happened without a page load, and the address bar holds the exact view.
    assert page.evaluate("window.__marker") == "same page"
    assert len(requests) == 1
    state = _state(page)
    assert state == {"slice": "10", "ww": "350", "wc": "45", "zoom": "2",
                     "cx": state["cx"], "cy": state["cy"]}  # fmt: skip

    # A reload (or the copied link) reopens the same view.
    page.reload()
    _wait_image(page)
    expect(page.locator("#viewer-1-position output")).to_have_text("10")
    assert page.get_by_label("Window width").input_value() == "350"
    assert page.locator("#viewer-1 .zoom-level").inner_text() == "2×"
    assert "zoom=2" in page.locator("#viewer-1 img.viewer-image").get_attribute("src")

    # Space resets the picture (the author's window, no zoom, pan or invert) and stays on
    # the slice being read.
    page.focus("#viewer-1")
    page.keyboard.press("i")
    _wait_state(page, invert="1", zoom="2")
    page.keyboard.press(" ")
    _wait_state(page, slice="10", ww="100", wc="35")  # the figure's window: the header's
    assert _state(page) == {"slice": "10", "ww": "100", "wc": "35"}
    expect(page.locator("#viewer-1-position output")).to_have_text("10")
    assert page.locator("#viewer-1 .zoom-level").inner_text() == "1×"
    assert page.get_by_label("Window width").input_value() == "100"
    page.screenshot(path=str(screenshot_dir / "viewer-4-reset.png"))


def test_dragging_sets_the_window_as_on_a_pacs(live_server, page, head_ct, screenshot_dir):
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/?slice=12&ww=80&wc=40")
    _wait_image(page)
    image = page.locator("#viewer-1 img.viewer-image")
    brain = image.screenshot()
    box = image.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    # The right button: 100 px right widens the window by 100 HU (a step of 1 HU per pixel
    # at this width), 50 px down raises the centre by 50. The image follows while dragging.
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + 100, y + 50, steps=8)
    expect(image).to_have_attribute("src", re.compile(r"[?&]ww=180&wc=90(&|$)"))
    expect(page.locator("#viewer-1 [data-window-label]")).to_have_text("W 180 / C 90 HU")
    page.mouse.up(button="right")
    _wait_state(page, slice="12", ww="180", wc="90")
    assert page.get_by_label("Window width").input_value() == "180"
    _wait_image(page)
    assert image.screenshot() != brain
    page.screenshot(path=str(screenshot_dir / "viewer-5-dragged-window.png"))

    # Shift and the left button do the same, and the click that ends the drag magnifies
    # nothing; a plain click still does. Steps scale with the width (180 / 200 -> 1 HU).
    page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y - 20, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    _wait_state(page, ww="120", wc="70")
    assert "zoom" not in _state(page)
    _wait_image(page)
    page.mouse.click(x, y)
    _wait_state(page, ww="120", wc="70", zoom="1.5")


def test_without_javascript_the_controls_are_links_and_forms(browser, live_server, head_ct,
                                                              screenshot_dir):  # fmt: skip
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/cases/head-ct/figures/1/")
        page.get_by_role("link", name="Next slice").click()
        assert _state(page)["slice"] == "16"
        page.get_by_role("link", name="Bone 2500/480").click()
        assert _state(page) == {"slice": "16", "ww": "2500", "wc": "480"}
        # The server-side image map: a click sends the point, the server redirects to the view.
        # The new page loaded, a locator's click waits for the image to stop moving (it settles
        # as it loads), then clicks its centre.
        page.wait_for_load_state("load")
        page.locator("#viewer-1 img.viewer-image").click()
        page.wait_for_url("**zoom=1.5**")
        assert _state(page)["zoom"] == "1.5" and "at" not in _state(page)
        page.screenshot(path=str(screenshot_dir / "viewer-5-no-js-zoomed.png"))
    finally:
        context.close()
