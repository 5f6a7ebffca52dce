"""Redis through REDIS_URL: the cache and the render cache, shared by every worker process.

Runs against the machine's Redis (REDIS_URL, or redis://127.0.0.1:6379/15). Skipped when no
Redis answers, unless REDIS_URL is set: then a missing Redis is a failure (CI sets it).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def _reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") and not _reachable(),
        reason=f"no Redis at {REDIS_URL} (set REDIS_URL to require one)",
    ),
]


@pytest.fixture
def server():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_settings(settings, server):
    """The settings REDIS_URL gives, under a key prefix of this test's own."""
    prefix = f"caseviewer-test-{uuid.uuid4().hex[:12]}"
    settings.REDIS_URL = REDIS_URL
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


def manage_shell(command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"REDIS_URL": REDIS_URL}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_redis_url_selects_the_redis_cache():
    backend = manage_shell(
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    )
    assert backend == "django.core.cache.backends.redis.RedisCache"


def test_a_value_cached_by_one_process_is_read_by_another(server):
    # Two processes with the production settings, as two gunicorn workers: one writes...
    key = f"shared-{uuid.uuid4().hex}"
    manage_shell(f"from django.core.cache import cache; cache.set({key!r}, 'from worker 1', 60)")
    try:
        # ...and the other reads, through Redis (an in-process cache would answer None).
        read = manage_shell(f"from django.core.cache import cache; print(cache.get({key!r}))")
        assert read == "from worker 1"
    finally:
        for stored in server.scan_iter(f"*{key}"):
            server.delete(stored)


@pytest.mark.django_db
def test_renders_are_stored_in_redis_not_on_disk(redis_settings, server, settings):
    from cases.imaging.ingest import slice_create_from_bytes
    from cases.imaging.params import RenderParams
    from cases.imaging.render import render_cache_dir, slice_render
    from cases.models import Case, Figure

    case = Case.objects.create(slug="redis-case", title="Redis", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    buffer = io.BytesIO()
    Image.new("L", (32, 32), 90).save(buffer, format="PNG")
    image = slice_create_from_bytes(
        figure=figure, name="grey.png", data=buffer.getvalue(), position=0
    )

    params = RenderParams(image.token, window_width=200, window_center=100)
    data = slice_render(image, params)
    key = params.key()
    stored = list(server.scan_iter(f"{redis_settings}:*{key}"))
    assert len(stored) == 1
    assert not render_cache_dir().exists()
    # A repeat is answered from Redis, without rendering: prove it by changing the bytes.
    from django.core.cache import cache

    cache.set(key, b"from redis")
    assert slice_render(image, params) == b"from redis"
    assert data.startswith(b"\x89PNG")
