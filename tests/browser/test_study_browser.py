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


def _number(locator) -> int:
    return int(re.search(r"Im (\d+)/", locator.inner_text())[1])


@pytest.mark.parametrize("width", [1440, 390])
def test_two_linked_viewports_follow_and_one_turns_coronal(browser, live_server, two_series,
                                                           screenshot_dir, width):  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/ct/")
    page.get_by_role("link", name="Open as study").first.click()
    page.get_by_role("link", name="2 viewports").click()
    page.get_by_role("link", name="Link scrolling").click()
    expect(page).to_have_url(re.compile(r"link=1"))
    first, second = page.locator("#viewer-s1"), page.locator("#viewer-s2")
    if width < 700:
        # A phone shows one viewport with the strip.
        expect(page.locator("#viewport-2")).to_be_hidden()
        expect(page.locator(".study-strip")).to_be_visible()
        page.screenshot(path=screenshot_dir / f"study-{width}.png", full_page=True)
        context.close()
        return
    # Both viewports hold their stacks; a step with the keyboard is no page load.
    expect(first).to_have_attribute("data-engaged", "1")
    expect(second).to_have_attribute("data-engaged", "1")
    page.evaluate("window.samePage = true")
    first.focus()
    before = _number(first.locator("[data-overlay-slice]"))
    picture = second.locator(".viewer-image").get_attribute("src")
    # With the server out of reach the other viewport still follows: from its held stack.
    study_requests = re.compile(r"/cases/ct/study/\?")
    page.route(study_requests, lambda route: route.abort())
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(first.locator("[data-overlay-slice]")).to_have_text(f"Im {before + 2}/20")
    # File n of the CT is slice n - 8 of figure 2 (files 9-28): the same plane in mm.
    expect(second.locator("[data-overlay-slice]")).to_have_text(f"Im {before + 2 - 8}/20")
    expect(second.locator(".viewer-image")).not_to_have_attribute("src", picture)
    expect(page).to_have_url(re.compile(rf"v2=2%3Aslice%3D{before + 2 - 8}(%26|&|$)"))
    page.unroute(study_requests)
    page.keyboard.press("ArrowDown")
    expect(second.locator("[data-overlay-slice]")).to_have_text(f"Im {before + 3 - 8}/20")
    # The controls catch up over htmx, still on this page.
    expect(second.locator("output")).to_have_text(str(before + 3 - 8), timeout=15_000)
    expect(first.locator("output")).to_have_text(str(before + 3), timeout=15_000)
    assert page.evaluate("window.samePage") is True
    # Viewport 2 shows figure 1 as a coronal reformat: viewport 1's slice is a line across it.
    page.locator("#study-show-2").get_by_role("link", name="Figure 1").click()
    second.get_by_role("link", name="Coronal").click()
    expect(second.locator(".viewer-image")).to_have_attribute("src", re.compile(r"plane=coronal"))
    _loaded(page, "#viewer-s2 .viewer-image")
    line = second.locator(".refline-1")
    expect(line).to_have_count(1)
    y = line.get_attribute("y1")
    assert y == line.get_attribute("y2")  # horizontal
    coronal = second.locator("[data-overlay-slice]").inner_text()
    expect(first).to_have_attribute("data-engaged", "1")
    page.evaluate("window.samePage = true")
    first.focus()
    page.keyboard.press("ArrowUp")
    # The axial slice moves one slice spacing (5 mm at 0.49 mm a pixel): so does its line.
    expect(line).not_to_have_attribute("y1", y)
    moved = float(line.get_attribute("y1")) - float(y)
    assert 8 < abs(moved) < 12, moved
    # Crossing planes of one volume do not scroll each other.
    expect(second.locator("[data-overlay-slice]")).to_have_text(coronal)
    assert page.evaluate("window.samePage") is True
    _loaded(page, "#viewer-s1 .viewer-image")
    page.screenshot(path=screenshot_dir / f"study-{width}.png", full_page=True)
    context.close()


def test_a_linked_window_and_zoom_reach_the_other_viewport(browser, live_server, two_series):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/ct/study/?layout=2&link=1&linkwindow=1&linkzoom=1")
    first, second = page.locator("#viewer-s1"), page.locator("#viewer-s2")
    expect(second).to_have_attribute("data-engaged", "1")
    page.evaluate("window.samePage = true")
    first.get_by_role("link", name="Lung 1500/-600").click()
    expect(second.locator(".viewer-image")).to_have_attribute("src", re.compile(r"ww=1500&wc=-600"))
    first.get_by_role("link", name="Zoom in").click()
    expect(second.locator(".zoom-level")).to_have_text("1.5×")
    expect(page).to_have_url(re.compile(r"v2=2%3A[^&]*ww%3D1500%26wc%3D-600%26zoom%3D1\.5"))
    # Stepping on shows the other viewport's slices at the new window and zoom, held anew
    # (the server out of reach: no answer brings them).
    before = second.locator("[data-overlay-slice]").inner_text()
    page.route(re.compile(r"/cases/ct/study/\?"), lambda route: route.abort())
    first.focus()
    page.keyboard.press("ArrowDown")
    expect(second.locator("[data-overlay-slice]")).not_to_have_text(before)
    image = second.locator(".viewer-image")
    expect(image).to_have_attribute("src", re.compile(r"ww=1500&wc=-600&zoom=1\.5"))
    assert page.evaluate("window.samePage") is True
    context.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_an_axial_series_cuts_a_sagittal_series_of_its_frame(browser, live_server, tmp_path,
                                                             screenshot_dir, width):  # fmt: skip
    from django.http import QueryDict

    from cases.imaging.linking import reference_line
    from cases.imaging.viewstate import ViewState
    from cases.importers.dicom import dicom_import
    from cases.models import Case
    from tests.test_study_frames import CT_ZIP, head_ct_header, sagittal_write

    header = head_ct_header()
    case = Case.objects.create(slug="head", title="Head", status=Case.Status.PUBLISHED)
    sagittal = sagittal_write(tmp_path / "sagittal", frame_of_reference=header.FrameOfReferenceUID,
                              study=header.StudyInstanceUID)  # fmt: skip
    replacements: dict[str, str] = {}  # imported together: one frame of reference
    for source in (CT_ZIP, sagittal):
        dicom_import(case=case, source=source, replacements=replacements)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/cases/head/study/?layout=2&v1=1:slice%3D14&v2=2:slice%3D3")
    first, second = page.locator("#viewer-s1"), page.locator("#viewer-s2")
    if width < 700:
        expect(page.locator(".study-strip")).to_be_visible()
        page.screenshot(path=screenshot_dir / f"study-frames-{width}.png", full_page=True)
        context.close()
        return
    line = second.locator(".refline-1")
    expect(line).to_have_count(1)
    y1, y2 = float(line.get_attribute("y1")), float(line.get_attribute("y2"))
    assert y2 - y1 > 50  # the head CT's gantry tilt: the line slopes
    expect(first).to_have_attribute("data-engaged", "1")
    # Drawn by the page's script from the geometry: no request reaches the server.
    page.route(re.compile(r"/cases/head/study/\?"), lambda route: route.abort())
    first.focus()
    page.keyboard.press("ArrowDown")
    expect(first.locator("[data-overlay-slice]")).to_have_text("Im 15/28")
    expect(line).not_to_have_attribute("y1", str(y1))
    # Where the server puts slice 15's line (this CT's slices are unevenly spaced).
    axial, other = (ViewState.from_query(f, QueryDict("")) for f in case.figures.all())
    expected = reference_line(axial.geometry, 14, other.geometry, 2, *other.source_size)
    drawn = [float(line.get_attribute(name)) for name in ("x1", "y1", "x2", "y2")]
    assert drawn == pytest.approx(expected, abs=0.01)
    assert abs(drawn[1] - y1) > 1
    # Crossing series of one frame do not scroll each other.
    expect(second.locator("[data-overlay-slice]")).to_have_text("Im 3/5")
    _loaded(page, "#viewer-s2 .viewer-image")
    page.screenshot(path=screenshot_dir / f"study-frames-{width}.png", full_page=True)
    context.close()
