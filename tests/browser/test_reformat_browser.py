"""Reading the head CT in coronal and sagittal reformats, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_viewer_browser import _state, _wait_image, _wait_state
from tests.browser.test_viewer_browser import head_ct as head_ct  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)
IMAGE = "#viewer-1 img.viewer-image"


@pytest.mark.parametrize("width", [1440, 390])
def test_switching_to_coronal_shows_a_reformat_that_scrolls(browser, live_server, head_ct,
                                                            screenshot_dir, width):  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/")
    _wait_image(page)
    page.get_by_role("link", name="Coronal").click()
    _wait_state(page, plane="coronal")
    _wait_image(page)
    image = page.locator(IMAGE)
    expect(image).to_have_attribute("src", re.compile(r"plane=coronal"))
    # True aspect: the 144 mm of the stack in rows of 0.49 mm, under 512 columns.
    natural = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert natural[1] / natural[0] == pytest.approx(296 / 512, abs=0.01)
    expect(page.locator("#viewer-1 .viewer-overlay")).to_contain_text("Coronal")
    # The slider counts the coronal slices (every 4th row of 512), from the middle.
    expect(page.locator("#viewer-1 input[data-slider]")).to_have_attribute("max", "128")
    expect(page.locator("#viewer-1-position output")).to_have_text("65")
    start = int(_state(page)["slice"])
    page.locator("#viewer-1-stage").hover()
    page.mouse.wheel(0, 120)
    _wait_state(page, plane="coronal", slice=str(start + 1))
    _wait_image(page)
    page.screenshot(path=screenshot_dir / f"reformat-coronal-{width}.png", full_page=False)
    context.close()
