"""The conference's two viewports in Chromium: the presenter drives both, the room follows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.test_conference_browser import _login, _until

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path("/tmp/shots/confstudy")


@pytest.fixture
def two_series_conference(django_user_model):
    """A conference on one case: two series of the head CT (files 1-20 and 9-28)."""
    import zipfile

    from cases.conference import services
    from cases.imaging.ingest import slice_create_from_bytes
    from cases.models import Case, Figure
    from tests.test_study import CT_ZIP

    with zipfile.ZipFile(CT_ZIP) as archive:
        files = [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]
    case = Case.objects.create(
        slug="head-ct-prior", title="Head CT: chronic infarct", status=Case.Status.PUBLISHED,
        unknown_title="70-year-old man, fell at home", history="Fell at home; drowsy since.",
        findings="Low density in the left MCA territory.", diagnosis="Chronic infarct",
    )  # fmt: skip
    for number, part in ((1, files[:20]), (2, files[8:])):
        figure = Figure.objects.create(case=case, number=number, label=f"Series {number}",
                                       window_width=80, window_center=40)  # fmt: skip
        for position, (name, data) in enumerate(part):
            slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    presenter = django_user_model.objects.create_user("presenter", is_staff=True)
    conference = services.conference_create(title="Neuro", presenter=presenter, cases=[case])
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)  # the images
    return presenter, conference


def _slice(page, selector: str) -> str | None:
    return page.evaluate(f"document.querySelector({selector!r})?.dataset.slice")


def test_the_room_follows_two_viewports_and_the_right_ones_scrolling(
    browser, live_server, two_series_conference
):
    presenter, conference = two_series_conference
    console_context = _login(
        browser, live_server, presenter, viewport={"width": 1440, "height": 1000}
    )
    console = console_context.new_page()
    room_context = browser.new_context(viewport={"width": 1440, "height": 900})
    room = room_context.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        room.goto(f"{live_server.url}/c/{conference.code}/")
        room.wait_for_selector("#live-stage #viewer-1 .viewer-image", timeout=10000)
        assert room.locator("#live-stage #viewer-2").count() == 0

        # The presenter switches to two viewports: the room sees both.
        console.get_by_role("button", name="Two viewports").click()
        console.wait_for_selector("#console-viewport-2 #viewer-2", timeout=10000)
        room.wait_for_selector("#live-stage #viewer-2 .viewer-image", timeout=10000)
        assert room.locator("#live-stage #viewer-1 .viewer-image").is_visible()
        left = room.locator("#live-stage #viewer-1").bounding_box()
        right = room.locator("#live-stage #viewer-2").bounding_box()
        assert right["x"] > left["x"] + left["width"] / 2  # side by side at 1440 px
        assert _slice(room, "#live-stage #viewer-2-stage") == "11"  # the middle of 20

        # The presenter scrolls the right viewport: the room's right viewport follows.
        console.locator("#viewer-2").focus()
        console.keyboard.press("ArrowDown")
        console.keyboard.press("ArrowDown")
        _until(console, "document.querySelector('#viewer-2-stage').dataset.slice === '13'", 10)
        _until(
            room,
            "document.querySelector('#live-stage #viewer-2-stage')?.dataset.slice === '13'",
            timeout=10,
        )
        assert "Im 13/20" in room.locator("#live-stage #viewer-2 .viewer-overlay").inner_text()
        assert _slice(room, "#live-stage #viewer-1-stage") == "11"  # the left one stayed

        # Linked: the presenter scrolls the left one; the right follows by position in mm
        # (file n of the CT is slice n of series 1 and slice n - 8 of series 2), here and there.
        console.locator("[data-link-scrolling]").click()
        _until(console, "document.querySelector('[data-link-scrolling]')"
                        "?.getAttribute('aria-pressed') === 'true'", 10)  # fmt: skip
        console.locator("#viewer-1").focus()
        console.keyboard.press("ArrowDown")
        _until(console, "document.querySelector('#viewer-1-stage').dataset.slice === '12'", 10)
        _until(console, "document.querySelector('#viewer-2-stage').dataset.slice === '4'", 10)
        _until(
            room,
            "document.querySelector('#live-stage #viewer-2-stage')?.dataset.slice === '4'",
            timeout=10,
        )
        assert _slice(room, "#live-stage #viewer-1-stage") == "12"
        room.screenshot(path=str(SHOTS / "audience-1440.png"), full_page=True)
        console.screenshot(path=str(SHOTS / "console-1440.png"), full_page=True)

        # A member looks around in the right viewport, then snaps back to the presenter's view.
        room.locator("#live-stage #viewer-2 a[aria-label='Next slice']").click()
        _until(room, "document.querySelector('#live-stage #viewer-2-stage').dataset.slice === '5'")
        assert room.locator("[data-follow]").get_attribute("aria-pressed") == "false"
        console.locator("#viewer-1").focus()
        console.keyboard.press("ArrowDown")  # linked: the presenter's right viewport goes to 5
        _until(console, "document.querySelector('#viewer-1-stage').dataset.slice === '13'", 10)
        time.sleep(1.5)
        assert _slice(room, "#live-stage #viewer-1-stage") == "12"  # the member stays put
        room.get_by_role("link", name="Back to the presenter's view").click()
        _until(room, "document.querySelector('#live-stage #viewer-1-stage')?.dataset.slice"
                     " === '13'", timeout=10)  # fmt: skip
        assert _slice(room, "#live-stage #viewer-2-stage") == "5"
        assert room.locator("[data-follow]").get_attribute("aria-pressed") == "true"
        for page in (room, console):
            page.set_viewport_size({"width": 390, "height": 844})
        room.wait_for_timeout(300)
        left = room.locator("#live-stage #viewer-1").bounding_box()
        right = room.locator("#live-stage #viewer-2").bounding_box()
        assert right["y"] >= left["y"] + left["height"] - 1  # one under the other at 390 px
        width = room.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the audience page scrolls sideways at 390 px ({width} px)"
        room.screenshot(path=str(SHOTS / "audience-390.png"), full_page=True)
        console.screenshot(path=str(SHOTS / "console-390.png"), full_page=True)

        # Back to one viewer: the room's second viewport goes.
        console.get_by_role("button", name="One viewer").click()
        _until(room, "!document.querySelector('#live-stage #viewer-2')", timeout=10)
    finally:
        console_context.close()
        room_context.close()


def test_two_viewports_have_no_serious_axe_violations(browser, live_server, two_series_conference):
    from cases.conference import services
    from tests.browser.a11y import axe_run, describe, login_context

    presenter, conference = two_series_conference
    services.conference_layout(conference, item=conference.items.first(), layout=2)
    services.conference_link(conference, item=conference.items.first(), on=True)
    options = {"bypass_csp": True, "viewport": {"width": 1280, "height": 900}}
    contexts = [browser.new_context(**options),
                login_context(browser, live_server, presenter, **options)]  # fmt: skip
    try:
        room, console = (context.new_page() for context in contexts)
        room.goto(f"{live_server.url}/c/{conference.code}/")
        room.wait_for_selector("#live-stage #viewer-2 .viewer-image")
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        console.wait_for_selector("#console-viewport-2 #viewer-2")
        for page in (room, console):
            page.wait_for_load_state("load")
            violations = axe_run(page)
            assert not violations, describe(violations)
    finally:
        for context in contexts:
            context.close()
