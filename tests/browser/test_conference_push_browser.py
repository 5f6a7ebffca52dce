"""The room told by the push stream: HAProxy sends /c/<code>/events/ to uvicorn, the rest to
Django, as in production; without Redis the page polls."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.test_conference_browser import _login, _until, head_ct_conference  # noqa: F401
from tests.seaweedfs import free_ports
from tests.test_conference_push import REDIS_URL, _redis_or_skip, uvicorn_start

pytestmark = pytest.mark.django_db(transaction=True)

HAPROXY = "/usr/sbin/haproxy"
LIVE_URL = re.compile(r"/c/[A-Z0-9]+/live/$")
CONSOLE_SLICE = "document.querySelector('#viewer-1-stage').dataset.slice === '{}'"
ROOM_SLICE = "document.querySelector('#live-stage #viewer-1-stage')?.dataset.slice === '{}'"
ROOM_HELD = """(() => {
  const viewer = document.querySelector('#live-stage #viewer-1');
  const image = viewer.querySelector('.viewer-image');
  return {engaged: viewer.dataset.engaged === '1', complete: image.complete,
          src: image.getAttribute('src')};
})()"""


def haproxy_config(port: int, app: int, stream: int) -> str:
    return f"""global
    maxconn 200

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:{port}
    acl events path_reg ^/c/[^/]+/events/$
    use_backend stream if events
    default_backend app

backend app
    server django 127.0.0.1:{app}

backend stream
    option http-no-delay
    server uvicorn 127.0.0.1:{stream}
"""


@pytest.fixture
def balanced(live_server, settings, tmp_path):
    """HAProxy on a free loopback port before live_server and the stream; Redis db 15."""
    if not Path(HAPROXY).exists():
        pytest.fail(f"{HAPROXY} is missing: `make test` installs Debian's haproxy")
    _redis_or_skip()
    settings.REDIS_URL = REDIS_URL
    stream_url, stream = uvicorn_start()
    (port,) = free_ports(1)
    config = tmp_path / "haproxy.cfg"
    app_port = live_server.url.rsplit(":", 1)[1]
    config.write_text(haproxy_config(port, int(app_port), int(stream_url.rsplit(":", 1)[1])))
    haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)])
    time.sleep(0.3)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}")
    for process in (haproxy, stream):
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _live_requests(page) -> list[float]:
    seen: list[float] = []
    page.on("request", lambda r: "/live/" in r.url and seen.append(time.monotonic()))
    return seen


def test_the_room_hears_the_presenters_step_on_the_stream(
    browser,
    balanced,
    head_ct_conference,  # noqa: F811
    screenshot_dir,
):
    presenter, conference = head_ct_conference
    console_context = _login(browser, balanced, presenter)
    room_context = browser.new_context()
    console, room = console_context.new_page(), room_context.new_page()
    try:
        console.goto(f"{balanced.url}/conference/{conference.code}/")
        room.goto(f"{balanced.url}/c/{conference.code}/")
        _until(room, "document.getElementById('live-poll').dataset.stream === 'heard'")
        room.wait_for_timeout(1000)  # the fetch on connecting has its answer
        # From here the room cannot fetch the screen: what it shows came on the stream.
        room.route(LIVE_URL, lambda route: route.abort())
        console.get_by_role("button", name="Start").click()
        room.wait_for_selector("text=Case 1 of 1", timeout=3000)
        assert "Fell at home" in room.locator("#live-stage").inner_text()

        # The presenter scrolls: the room holds the stack and steps through it.
        console.locator("body").click(position={"x": 5, "y": 5})
        console.keyboard.press("ArrowRight")
        room.wait_for_selector("#live-stage #viewer-1 .viewer-image", timeout=3000)
        console.locator("#viewer-1").focus()
        for number in (16, 17):
            console.keyboard.press("ArrowDown")
            _until(console, CONSOLE_SLICE.format(number))
            _until(room, ROOM_SLICE.format(number), timeout=1.5)
        held = room.evaluate(ROOM_HELD)
        assert held["engaged"] and held["complete"], held
        assert "size=" in held["src"], held  # the held stack's picture, not the fragment's

        # A member looking around keeps their view while the stream brings the presenter's.
        room.locator("#live-stage a[aria-label='Next slice']").click()
        _until(room, ROOM_SLICE.format(18))
        version = room.evaluate("document.getElementById('live-bar').dataset.version")
        console.locator("#viewer-1").focus()
        console.keyboard.press("ArrowDown")
        _until(console, CONSOLE_SLICE.format(18))
        console.keyboard.press("ArrowDown")
        _until(console, CONSOLE_SLICE.format(19))
        _until(room, f"Number(document.getElementById('live-bar').dataset.version) > {version}")
        room.wait_for_timeout(500)
        assert room.locator("#live-stage #viewer-1-stage").get_attribute("data-slice") == "18"
        room.unroute(LIVE_URL)  # snapping back and a question's panel are fetched
        room.get_by_role("link", name="Back to the presenter's view").click()
        _until(room, ROOM_SLICE.format(19), timeout=3.0)

        # A question is the member's own (their answer): the bar says it changed, the page
        # fetches the panel; the results keep the member's answer beside the bars.
        console.get_by_role("button", name="Open poll").click()
        room.get_by_role("button", name="Chronic infarct").click(timeout=3000)
        room.wait_for_selector("text=Your answer:")
        console.get_by_role("button", name="Show results to the room").click()
        room.wait_for_selector("#live-question .bars", timeout=3000)
        assert "Your answer: Chronic infarct" in room.locator("#live-question").inner_text()
        for width in (1440, 390):
            room.set_viewport_size({"width": width, "height": 900})
            room.screenshot(path=str(screenshot_dir / f"conference-push-room-{width}.png"))
    finally:
        console_context.close()
        room_context.close()


def test_without_redis_the_room_polls(browser, live_server, settings, head_ct_conference):  # noqa: F811
    settings.REDIS_URL = ""
    presenter, conference = head_ct_conference
    console_context = _login(browser, live_server, presenter)
    room_context = browser.new_context()
    console, room = console_context.new_page(), room_context.new_page()
    try:
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        polls = _live_requests(room)
        room.goto(f"{live_server.url}/c/{conference.code}/")
        room.wait_for_timeout(2500)
        assert len(polls) >= 2
        assert room.evaluate("document.getElementById('live-poll').dataset.stream") != "heard"
        console.get_by_role("button", name="Start").click()
        room.wait_for_selector("text=Case 1 of 1", timeout=3000)
    finally:
        console_context.close()
        room_context.close()
