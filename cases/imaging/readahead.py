"""Read-ahead: while a viewer scrolls through a stack, render the next slices before they are
asked for, as a PACS prefetches.

A radiologist who sets a new window and scrolls asks for a rendering nobody has made yet at
every step. When a slice is rendered afresh and its neighbour at the same view is already in
the render store, the viewer is scrolling: the next ``RENDER_READ_AHEAD`` slices in that
direction are rendered on a background thread into the shared store, so the next requests
(from any worker) find them there. Workers reading ahead in the same stack share the work
through claims in the store. ``RENDER_READ_AHEAD = 0`` turns it off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings

from cases.models import Slice

from .render import render_cache_has, render_claim, render_key, render_to_store, render_unclaim

logger = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caseviewer-read-ahead")
_queued: dict[str, Future] = {}  # render key -> its pending job, in this process
_lock = threading.Lock()


def read_ahead(stack: Sequence[Slice], index: int, *, fmt: str, **params) -> int:
    """After a fresh rendering of ``stack[index]``, queue the next slices if scrolling.

    ``params`` are ``render_key``'s keywords for the view just rendered (no annotations:
    read-ahead renders plain slices). Returns the number of slices queued.
    """
    count = getattr(settings, "RENDER_READ_AHEAD", 0)
    if count <= 0 or params.get("annotations") or len(stack) < 3:
        return 0

    def key_at(i: int) -> str:
        return render_key(stack[i].token, fmt=fmt, **params)

    if index > 0 and render_cache_has(key_at(index - 1)):
        step = 1
    elif index + 1 < len(stack) and render_cache_has(key_at(index + 1)):
        step = -1
    else:
        return 0  # one slice at a new view: a window change, not a scroll
    stop = min(len(stack), index + count + 1) if step == 1 else max(-1, index - count - 1)
    render_args = {name: value for name, value in params.items() if name != "annotations"}
    queued = 0
    for i in range(index + step, stop, step):
        key = key_at(i)
        with _lock:
            if key in _queued:
                continue
            _queued[key] = future = _executor.submit(_render, stack[i], key, fmt, render_args)
        future.add_done_callback(lambda _done, key=key: _forget(key))
        queued += 1
    return queued


def read_ahead_wait(timeout: float = 10) -> None:
    """Block until every queued read-ahead has finished (for tests and the bench)."""
    with _lock:
        futures = list(_queued.values())
    wait(futures, timeout=timeout)


def _render(image: Slice, key: str, fmt: str, render_args: dict) -> None:
    try:
        if render_cache_has(key) or not render_claim(key):
            return  # already rendered, or another worker is on it
        try:
            render_to_store(image, key, fmt=fmt, annotations=(), **render_args)
        finally:
            render_unclaim(key)
    except Exception:  # a prefetch that fails costs nothing but its own request later
        logger.exception("read-ahead of a slice failed")


def _forget(key: str) -> None:
    with _lock:
        _queued.pop(key, None)
