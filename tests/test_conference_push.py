"""The room told of each change: Redis pub/sub, the SSE stream under uvicorn, the fallback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import Client

from cases.conference import audience, services, stream
from cases.conference.state import state_store
from tests.conftest import case_build
from tests.seaweedfs import free_ports

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def conference(staff):
    cases = [case_build(slug="one"), case_build(slug="two")]
    return services.conference_create(title="Push", presenter=staff, cases=cases)


@pytest.fixture
def redis_url(settings):
    _redis_or_skip()
    settings.REDIS_URL = REDIS_URL
    return REDIS_URL


def uvicorn_start() -> tuple[str, subprocess.Popen]:
    """uvicorn serving the stream on a free loopback port, with Redis db 15."""
    (port,) = free_ports(1)
    env = os.environ | {"REDIS_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "caseviewer.settings"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cases.conference.stream:app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"{base}/", timeout=0.5)
            return base, process
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("uvicorn did not start")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def sse_server():
    _redis_or_skip()
    base, process = uvicorn_start()
    yield base
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _published(redis_url: str, code: str, change) -> tuple[object, list[bytes]]:
    """What ``change()`` returns, and the messages on conference ``code``'s channel meanwhile."""
    pubsub = _redis_or_skip().pubsub()
    pubsub.subscribe(stream.events_channel(code))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    result = change()
    messages = []
    while (message := pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
        messages.append(message["data"])
    pubsub.close()
    return result, messages


def test_a_state_change_publishes_the_rooms_new_screen(conference, redis_url):
    live, messages = _published(
        redis_url, conference.code, lambda: services.conference_start(conference)
    )
    assert messages == [audience.live_screen(live).encode()]
    screen = messages[0].decode()
    assert f'data-version="{live.version}"' in screen
    assert 'id="live-bar"' in screen and 'id="live-stage"' in screen
    assert 'class="room-text"' in screen  # the case on the stage, as the poll shows it


def test_the_pushed_screen_holds_nobodys_own_answer(conference, redis_url, staff):
    services.conference_start(conference)
    item = services.conference_items(conference)[0]
    question = services.question_open(
        conference, item=item, kind="poll", prompt="Which lobe?", options=["Upper", "Lower"]
    )
    voter = Client()
    voter.get(f"/c/{conference.code}/")
    voter.post(
        f"/c/{conference.code}/questions/{question.pk}/vote/",
        {"choice": "Lower"},
        headers={"HX-Request": "true"},
    )
    own = voter.get(f"/c/{conference.code}/live/", headers={"HX-Request": "true"}).content.decode()
    assert "Your answer: <strong>Lower</strong>" in own  # the poll still brings the member's own
    live, messages = _published(
        redis_url, conference.code, lambda: services.conference_navigate(conference, step=1)
    )
    (screen,) = (message.decode() for message in messages)
    assert 'id="live-question"' not in screen
    assert "Lower" not in screen and "csrfmiddlewaretoken" not in screen
    key = audience._question_key(live)
    assert f'data-question-key="{key}"' in screen  # the page fetches the panel when it differs


def test_a_screen_that_fails_to_render_is_announced_as_the_version(
    conference, redis_url, monkeypatch
):
    def broken(live):
        raise RuntimeError("template missing")

    monkeypatch.setattr(audience, "live_screen", broken)
    live, messages = _published(
        redis_url, conference.code, lambda: services.conference_start(conference)
    )
    assert messages == [str(live.version).encode()]
    assert state_store().read(conference.code).version == live.version  # the change stands


def test_the_screen_event_carries_each_line_of_html_as_data():
    event = stream.announcement_event('<p data-version="3">\r\na\rb\n</p>').decode()
    assert event == 'event: screen\ndata: <p data-version="3">\ndata: a\ndata: b\ndata: </p>\n\n'
    assert stream.announcement_event("12") == b"event: state\ndata: 12\n\n"


def test_a_connected_client_receives_the_screen_within_a_second(conference, redis_url, sse_server):
    url = f"{sse_server}/c/{conference.code}/events/"
    with httpx.stream("GET", url, timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert "event: state" in _until_blank(lines)  # the greeting on connect
        started = time.monotonic()
        live = services.conference_start(conference)
        event = _until_blank(lines)
        elapsed = time.monotonic() - started
    assert event[0] == "event: screen"
    data = "\n".join(line.removeprefix("data: ") for line in event[1:])
    assert data == audience.live_screen(live)
    assert elapsed < 1


def _until_blank(lines) -> list[str]:
    event = []
    for line in lines:
        if not line:
            if event:
                return event
            continue
        if not line.startswith("retry:"):
            event.append(line)
    return event


def test_the_stream_answers_404_for_other_paths(sse_server):
    assert httpx.get(f"{sse_server}/c/lower/events/", timeout=2).status_code == 404
    assert httpx.get(f"{sse_server}/admin/", timeout=2).status_code == 404


def test_the_stream_answers_204_without_redis(settings):
    settings.REDIS_URL = ""
    sent = []

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/c/ABC123/events/"}
    asyncio.run(stream.app(scope, receive, send))
    assert sent[0]["status"] == 204


def test_the_app_server_answers_the_stream_address_with_204(conference):
    response = Client().get(f"/c/{conference.code}/events/")
    assert response.status_code == 204
    assert Client().get("/c/NOSUCH/events/").status_code == 404


def test_the_audience_page_connects_to_the_stream_and_keeps_polling(conference, settings):
    settings.REDIS_URL = ""
    services.conference_start(conference)
    html = Client().get(f"/c/{conference.code}/").content.decode()
    assert f'sse-connect="/c/{conference.code}/events/"' in html
    assert 'hx-trigger="every 1s, cv:poll, sse:state"' in html
    assert "js/vendor/htmx-ext-sse" in html


def test_with_no_question_put_the_empty_panel_comes_with_the_screen(conference, redis_url):
    live, messages = _published(
        redis_url, conference.code, lambda: services.conference_start(conference)
    )
    assert live.question is None
    assert 'id="live-question"' in messages[0].decode()


def test_the_streams_of_one_process_share_one_subscription(conference, redis_url, sse_server):
    url = f"{sse_server}/c/{conference.code}/events/"
    channel = stream.events_channel(conference.code)
    with (
        httpx.stream("GET", url, timeout=5) as first,
        httpx.stream("GET", url, timeout=5) as second,
    ):
        lines = [first.iter_lines(), second.iter_lines()]
        assert all("event: state" in _until_blank(each) for each in lines)  # the greetings
        assert _redis_or_skip().pubsub_numsub(channel) == [(channel.encode(), 1)]
        live = services.conference_start(conference)
        events = [_until_blank(each) for each in lines]
    assert events[0] == events[1]
    assert events[0][0] == "event: screen"
    assert f'data-version="{live.version}"' in "\n".join(events[0])


def test_the_stream_answers_503_when_redis_is_gone(settings):
    (port,) = free_ports(1)  # nothing listens there
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    sent = []

    async def receive():
        await asyncio.sleep(5)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/c/ABC123/events/"}
    asyncio.run(asyncio.wait_for(stream.app(scope, receive, send), 10))
    assert sent[0]["status"] == 503  # the page's stream fails, and it polls
    assert stream._rooms == {}
