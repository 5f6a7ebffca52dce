"""The study view in Chromium: two viewports, linked scrolling, a coronal reformat."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_series():
    import zipfile

    from cases.imaging.ingest import slice_create_from_bytes
    from cases.models import Case, Figure
    from tests.test_study import CT_ZIP

    with zipfile.ZipFile(CT_ZIP) as archive:
        files = [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]
    case = Case.objects.create(slug="ct", title="Head CT", status=Case.Status.PUBLISHED)
    for number, part in ((1, files[:20]), (2, files[8:])):
        figure = Figure.objects.create(case=case, number=number, window_width=80,
                                       window_center=40)  # fmt: skip
        for position, (name, data) in enumerate(part):
            slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    return case


def _loaded(page, selector: str) -> None:
    image = page.locator(selector)
    expect(image).to_have_js_property("complete", True)
    expect(image).not_to_have_js_property("naturalWidth", 0)


@pytest.mark.parametrize("width", [1440, 390])
def test_two_linked_viewports_follow_and_one_turns_coronal(browser, live_server, two_series,
                                                           screenshot_dir, width):  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/ct/")
    page.get_by_role("link", name="Open as study").first.click()
    page.get_by_role("link", name="2 viewports").click()
    first, second = page.locator("#viewport-1"), page.locator("#viewport-2")
    page.get_by_role("link", name="Link scrolling").click()
    expect(page).to_have_url(re.compile(r"link=1"))
    # Figure 1 opens at slice 10 (file 10); figure 2 (files 9-28) follows to its slice 2.
    before = first.locator("[data-slice-label]").inner_text()
    page.get_by_role("link", name="Next slice in viewport 1").click()
    after = first.locator("[data-slice-label]").inner_text()
    assert before != after
    number = int(re.search(r"Im (\d+)/", after)[1])
    # File ``number`` of the CT is slice ``number - 8`` of figure 2: the same plane in mm.
    expect(second.locator("[data-slice-label]")).to_have_text(f"Im {number - 8}/20")
    if width > 700:
        _loaded(page, "#viewport-2 img.study-image")
        second.get_by_role("link", name="Coronal").click()
        expect(page.locator("#viewport-2 img.study-image")).to_have_attribute(
            "src", re.compile(r"plane=coronal")
        )
        _loaded(page, "#viewport-2 img.study-image")
        _loaded(page, "#viewport-1 img.study-image")
    else:
        # A phone shows one viewport with the strip.
        expect(second).to_be_hidden()
        expect(page.locator(".study-strip")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"study-{width}.png", full_page=True)
    context.close()
