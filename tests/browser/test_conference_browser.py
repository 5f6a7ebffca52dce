from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _until(page, expression: str, timeout: float = 5) -> None:
    """Wait until ``expression`` is true, asking from outside the page.

    These pages run under the site's real CSP, which forbids wait_for_function's eval.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def _login(browser, live_server, user, **options):
    """A browser context signed in as ``user`` (a session made on the server side)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    context = browser.new_context(**options)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
          "url": live_server.url}]
    )  # fmt: skip
    return context


@pytest.fixture
def head_ct_conference(django_user_model):
    from cases.conference import services
    from cases.importers.dicom import dicom_import
    from cases.models import Case
    from tests.conftest import DEMO_DIR

    presenter = django_user_model.objects.create_user("presenter", is_staff=True)
    case = Case.objects.create(
        slug="head-ct-quiz",
        title="Head CT: chronic infarct",
        unknown_title="70-year-old man, fell at home",
        status=Case.Status.PUBLISHED,
        history="Fell at home; drowsy since.",
        findings="Low density in the left MCA territory.",
        diagnosis="Chronic infarct",
        differential="Chronic infarct\nLow-grade glioma\nCerebritis",
        teaching_point="Volume loss and CSF density mean an old infarct.",
    )
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip", caption="Head CT.")
    conference = services.conference_create(
        title="Neuro conference", presenter=presenter, cases=[case]
    )
    return presenter, conference


def test_the_room_follows_the_presenters_step_and_slice(
    browser, live_server, head_ct_conference, screenshot_dir
):
    presenter, conference = head_ct_conference
    console_context = _login(
        browser, live_server, presenter, viewport={"width": 1400, "height": 1000}
    )
    console = console_context.new_page()
    room_context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    room = room_context.new_page()
    try:
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        room.goto(f"{live_server.url}/c/{conference.code}/")
        assert "Waiting for the presenter to start" in room.locator("#live-bar").inner_text()

        console.get_by_role("button", name="Start").click()
        room.wait_for_selector("text=Case 1 of 1", timeout=3000)
        assert "Fell at home" in room.locator("#live-stage").inner_text()

        # The presenter advances a step with the keyboard: the images appear in the room.
        console.locator("body").click(position={"x": 5, "y": 5})
        console.keyboard.press("ArrowRight")
        console.wait_for_selector("#viewer-1")
        started = time.monotonic()
        room.wait_for_selector("#live-stage #viewer-1 .viewer-image", timeout=3000)
        assert "Images" in room.locator("#live-bar").inner_text()
        step_seen = time.monotonic() - started
        assert room.locator("#live-stage output").inner_text() == "15"

        # The presenter scrolls the stack: the room's viewer shows the same slice.
        console.locator("#viewer-1").focus()
        console.keyboard.press("ArrowDown")
        console.keyboard.press("ArrowDown")
        _until(console, "document.querySelector('#viewer-1-stage').dataset.slice === '17'")
        started = time.monotonic()
        _until(
            room,
            "document.querySelector('#live-stage #viewer-1-stage')?.dataset.slice === '17'",
            timeout=3.0,
        )
        slice_seen = time.monotonic() - started
        assert "Im 17/28" in room.locator("#live-stage .viewer-overlay").inner_text()
        assert step_seen < 3 and slice_seen < 3

        # A member looks around on their own, then snaps back with one click.
        room.locator("#live-stage a[aria-label='Next slice']").click()
        _until(room, "document.querySelector('#live-stage #viewer-1-stage').dataset.slice === '18'")
        assert room.locator("[data-follow]").get_attribute("aria-pressed") == "false"
        console.keyboard.press("ArrowDown")  # the presenter moves on: the member stays put
        _until(console, "document.querySelector('#viewer-1-stage').dataset.slice === '18'")
        console.locator("#viewer-1").focus()  # as a presenter's next key press would find it
        console.keyboard.press("ArrowDown")
        _until(console, "document.querySelector('#viewer-1-stage').dataset.slice === '19'")
        time.sleep(1.5)
        assert room.locator("#live-stage #viewer-1-stage").get_attribute("data-slice") == "18"
        room.get_by_role("link", name="Back to the presenter's view").click()
        _until(
            room,
            "document.querySelector('#live-stage #viewer-1-stage').dataset.slice === '19'",
            timeout=3.0,
        )
        assert room.locator("[data-follow]").get_attribute("aria-pressed") == "true"

        # A poll: the member votes on the phone; the presenter's bars count it.
        console.get_by_role("button", name="Open poll").click()
        room.get_by_role("button", name="Chronic infarct").click(timeout=3000)
        room.wait_for_selector("text=Your answer:")
        console.wait_for_selector("#console-panel >> text=1 answer", timeout=4000)
        console.get_by_role("button", name="Show results to the room").click()
        room.wait_for_selector("#live-question .bars", timeout=3000)
        room.screenshot(path=str(screenshot_dir / "conference-audience-390.png"), full_page=True)
        console.screenshot(path=str(screenshot_dir / "conference-console.png"), full_page=True)
        width = room.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the audience page scrolls sideways at 390 px ({width} px)"
    finally:
        console_context.close()
        room_context.close()


def test_click_question_heat_map(browser, live_server, head_ct_conference, screenshot_dir):
    from cases.conference import services

    presenter, conference = head_ct_conference
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)
    console_context = _login(
        browser, live_server, presenter, viewport={"width": 1400, "height": 1000}
    )
    console = console_context.new_page()
    rooms = [browser.new_context(viewport={"width": 390, "height": 844}) for _ in range(3)]
    try:
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        console.get_by_role("button", name="Ask to click the finding").click()
        console.wait_for_selector("text=Click the finding.")
        for n, context in enumerate(rooms):
            room = context.new_page()
            room.goto(f"{live_server.url}/c/{conference.code}/")
            target = room.locator("[data-click-answer]")
            box = target.bounding_box()
            target.click(position={"x": box["width"] * (0.3 + 0.02 * n), "y": box["height"] * 0.4})
            room.wait_for_selector("text=Your click is in")
        console.wait_for_selector("#console-panel >> text=3 clicks", timeout=4000)
        heat = console.locator("#console-panel img.heatmap")
        heat.wait_for()
        _until(console, "document.querySelector('#console-panel img.heatmap').naturalWidth > 0")
        heat.screenshot(path=str(screenshot_dir / "conference-heatmap.png"))
    finally:
        console_context.close()
        for context in rooms:
            context.close()
