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

from cases.conference import services, stream
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


def test_a_state_change_is_published_on_the_conference_channel(conference, redis_url):
    pubsub = _redis_or_skip().pubsub()
    pubsub.subscribe(stream.events_channel(conference.code))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    live = services.conference_start(conference)
    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    pubsub.close()
    assert message is not None
    assert message["data"] == str(live.version).encode()


def test_a_connected_client_receives_the_change_within_a_second(conference, redis_url, sse_server):
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
    assert event == ["event: state", f"data: {live.version}"]
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
