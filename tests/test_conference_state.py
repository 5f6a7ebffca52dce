"""The shared live state: database and Redis stores, versions, head counts."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.conference import services
from cases.conference.state import (
    DatabaseStateStore,
    LiveState,
    RedisStateStore,
    state_store,
)
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"
HX = {"HX-Request": "true"}


@pytest.fixture
def conference(staff):
    cases = [case_build(slug="one"), case_build(slug="two")]
    return services.conference_create(title="State", presenter=staff, cases=cases)


@pytest.fixture
def redis_url(settings):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("caseviewer:conference:*"):
        client.delete(key)
    yield REDIS_URL
    for key in client.scan_iter("caseviewer:conference:*"):
        client.delete(key)


def test_the_database_store_is_the_default(settings):
    settings.REDIS_URL = ""
    assert isinstance(state_store(), DatabaseStateStore)
    assert state_store().read("NOSUCH") is None


def test_state_round_trips_through_json():
    live = LiveState(conference=3, code="ABCDEF", version=7, view={"slice": "4"}, question=2)
    assert LiveState.from_json(live.as_json()) == live
    assert live.etag == '"ABCDEF-7"'


def test_the_database_row_holds_state_and_version(conference):
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)
    conference.refresh_from_db()
    assert conference.version == 2
    assert conference.state["step"] == 2 and conference.status == "live"
    assert "version" not in conference.state  # the column holds it


def test_redis_answers_reads_after_a_change_and_the_database_stays_the_record(
    conference, redis_url, django_assert_num_queries
):
    store = state_store()
    assert isinstance(store, RedisStateStore)
    services.conference_start(conference)
    live = services.conference_navigate(conference, step=1)
    with django_assert_num_queries(0):
        assert store.read(conference.code) == live
    # Another app server (its own connection) sees the same state.
    other = RedisStateStore(redis_url)
    assert other.read(conference.code).version == 2
    # Redis lost it (restart, eviction): read from the database and cached again.
    store.forget(conference.code)
    assert store.read(conference.code) == live
    with django_assert_num_queries(0):
        assert store.read(conference.code) == live


def test_redis_never_goes_back_to_an_older_version(conference, redis_url):
    store = state_store()
    services.conference_start(conference)
    newer = services.conference_navigate(conference, step=1)
    older = LiveState(**{**newer.__dict__, "version": 1, "step": 1})
    store._publish(older)
    assert store.read(conference.code).version == newer.version


def test_polls_through_redis_cost_no_query(conference, redis_url, django_assert_num_queries):
    services.conference_start(conference)
    client = Client()
    etag = client.get(f"/c/{conference.code}/live/", headers=HX)["ETag"]
    with django_assert_num_queries(0):
        response = client.get(f"/c/{conference.code}/live/", headers=HX | {"If-None-Match": etag})
    assert response.status_code == 304
    services.conference_navigate(conference, step=1)
    response = client.get(f"/c/{conference.code}/live/", headers=HX | {"If-None-Match": etag})
    assert response.status_code == 200 and response["ETag"] == f'"{conference.code}-2"'


def test_redis_counts_heads(conference, redis_url):
    services.conference_start(conference)
    for _ in range(4):
        Client().get(f"/c/{conference.code}/live/", headers=HX)
    store = state_store()
    assert store.audience_count(store.read(conference.code)) == 4
    assert not conference.audience.exists()  # nothing written to the database
