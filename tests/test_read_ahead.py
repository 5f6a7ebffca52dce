"""Scrolling a stack: slices of a stack seen published render without a query, and a scroll
at a new window has the next slices rendered ahead into the shared store."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from cases.imaging import render
from cases.imaging.readahead import read_ahead_wait
from cases.imaging.render import (
    render_cache_has,
    render_claim,
    render_unclaim,
    slice_render_key,
)
from cases.models import Case
from cases.viewstate import slice_image_url

from .test_viewer_render import ct_figure  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack(ct_figure):  # noqa: F811
    return list(ct_figure.slices.order_by("position"))


def stored(image, width, center, fmt="jpeg") -> bool:
    key = slice_render_key(image, window_width=width, window_center=center, fmt=fmt)
    return render_cache_has(key)


def test_other_slices_of_a_stack_seen_published_render_without_a_query(client, stack):
    first = slice_image_url(stack[0], window_width=80, window_center=40)
    assert client.get(first).status_code == 200  # the stack is seen
    url = slice_image_url(stack[9], window_width=350, window_center=45, fmt="jpeg")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200 and len(queries) == 0
    expected = render.slice_render(stack[9], window_width=350, window_center=45, fmt="jpeg")
    assert response.content == expected
    # The figure's default window still needs the figure as it is now: one query.
    with CaptureQueriesContext(connection) as queries:
        assert client.get(slice_image_url(stack[9])).status_code == 200
    assert len(queries) == 1


def test_a_stack_returned_to_draft_is_forgotten_with_its_memory(client, stack):
    from cases.imaging import views

    first = slice_image_url(stack[0], window_width=80, window_center=40)
    assert client.get(first).status_code == 200  # the stack is seen
    Case.objects.filter(pk=stack[0].figure.case_id).update(status=Case.Status.DRAFT)
    views._published_until.clear()  # as after PUBLISHED_MEMORY_SECONDS
    url = slice_image_url(stack[3], window_width=90, window_center=40)
    assert client.get(url).status_code == 404


def test_scrolling_at_a_new_window_renders_the_next_slices_ahead(client, settings, stack):
    settings.RENDER_READ_AHEAD = 4
    client.get(slice_image_url(stack[0], window_width=80, window_center=40))  # the stack seen
    client.get(slice_image_url(stack[10], window_width=81, window_center=41, fmt="jpeg"))
    read_ahead_wait()
    # One slice at a new window is a window change, not a scroll: nothing rendered ahead.
    assert not stored(stack[11], 81, 41) and not stored(stack[9], 81, 41)
    client.get(slice_image_url(stack[11], window_width=81, window_center=41, fmt="jpeg"))
    read_ahead_wait()
    assert [stored(stack[i], 81, 41) for i in range(10, 18)] == [True] * 6 + [False] * 2
    # What was rendered ahead is exactly what the request would have rendered.
    url = slice_image_url(stack[13], window_width=81, window_center=41, fmt="jpeg")
    ahead = client.get(url).content
    render.render_cache_dir().rename(render.render_cache_dir().with_name("old"))
    assert client.get(url).content == ahead


def test_scrolling_down_reads_ahead_downwards(client, settings, stack):
    settings.RENDER_READ_AHEAD = 3
    client.get(slice_image_url(stack[0], window_width=80, window_center=40))
    for index in (20, 19):
        client.get(slice_image_url(stack[index], window_width=2500, window_center=480))
    read_ahead_wait()
    ahead = [stored(stack[i], 2500, 480, fmt="png") for i in range(14, 22)]
    assert ahead == [False, False, True, True, True, True, True, False]
    image = Image.open(io.BytesIO(client.get(
        slice_image_url(stack[17], window_width=2500, window_center=480)).content))  # fmt: skip
    assert image.size == (512, 512) and np.asarray(image).std() > 0


def test_no_read_ahead_when_turned_off(client, settings, stack):
    settings.RENDER_READ_AHEAD = 0
    client.get(slice_image_url(stack[0], window_width=80, window_center=40))
    for index in (5, 6):
        client.get(slice_image_url(stack[index], window_width=70, window_center=30))
    read_ahead_wait()
    assert not stored(stack[7], 70, 30, fmt="png")


def test_a_claim_is_held_once_released_and_lapses():
    key = "slice-render:test-claim"
    assert render_claim(key)
    assert not render_claim(key)  # another worker is rendering it
    render_unclaim(key)
    assert render_claim(key)
    claim = render._render_path(key).with_suffix(".claim")
    old = time.time() - render.CLAIM_SECONDS - 1
    os.utime(claim, (old, old))  # a worker killed mid-render left it behind
    assert not render_claim(key)  # the stale claim is cleared...
    assert render_claim(key)  # ...and the next try takes it
    render_unclaim(key)
