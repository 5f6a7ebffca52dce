"""The room sees nothing later than the presenter's step: every demo case, step by step."""

from __future__ import annotations

import pytest
import redis
from django.test import Client

from cases.conference import audience, services, stream
from cases.conference.models import Conference
from cases.models import RevealStep
from cases.unknown.reveal import case_steps
from tests.test_unknown_spoilers import _later_identifiers, _later_texts, _plain, demo_cases

pytestmark = pytest.mark.django_db
__all__ = ["demo_cases"]  # the fixture, imported for pytest

REDIS_URL = "redis://127.0.0.1:6379/15"


def _assert_no_later_step(raw: str, case, step: int, steps: list[int], what: str) -> None:
    body = _plain(raw)
    for label, text in _later_texts(case, step).items():
        assert text not in body, f"{case} step {step}: {label} leaked in {what}"
    for label, identifier in _later_identifiers(case, step, steps).items():
        assert identifier not in raw, f"{case} step {step}: {label} leaked in {what}"
    if step < RevealStep.DIAGNOSIS:
        assert case.title not in raw, f"{case} step {step}: the title leaked in {what}"


def test_no_audience_response_shows_what_a_later_step_reveals(demo_cases, staff):
    conference = services.conference_create(title="Demo", presenter=staff, cases=demo_cases)
    services.conference_start(conference)
    client = Client()
    checked = 0
    for position, case in enumerate(demo_cases):
        steps = case_steps(case)
        for step in steps:
            live = services.conference_navigate(conference, position=position, to_step=step)
            assert (live.position, live.step) == (position, step)
            page = client.get(f"/c/{conference.code}/")
            fragment = client.get(f"/c/{conference.code}/live/", headers={"HX-Request": "true"})
            for what, response in (("the page", page), ("the poll", fragment)):
                assert response.status_code == 200
                _assert_no_later_step(response.content.decode(), case, step, steps, what)
                checked += 1
            # What the push stream carries to the room for this step.
            screen = audience.live_screen(live)
            assert f'data-version="{live.version}"' in screen
            _assert_no_later_step(screen, case, step, steps, "the pushed screen")
    assert checked > 2 * 8 * 4
    assert Conference.objects.get(pk=conference.pk).version == 1 + checked // 2


def test_no_pushed_screen_shows_what_a_later_step_reveals(demo_cases, staff, settings):
    """The messages the presenter's changes publish for the stream, as Redis carries them."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    conference = services.conference_create(title="Demo", presenter=staff, cases=demo_cases)
    services.conference_start(conference)
    pubsub = redis.Redis.from_url(REDIS_URL).pubsub()
    pubsub.subscribe(stream.events_channel(conference.code))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    checked = 0
    try:
        for position, case in enumerate(demo_cases):
            steps = case_steps(case)
            for step in steps:
                live = services.conference_navigate(conference, position=position, to_step=step)
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
                assert message is not None, f"{case} step {step}: nothing published"
                screen = message["data"].decode()
                assert f'data-version="{live.version}"' in screen
                _assert_no_later_step(screen, case, step, steps, "the published screen")
                checked += 1
    finally:
        pubsub.close()
    assert checked > 8 * 4
