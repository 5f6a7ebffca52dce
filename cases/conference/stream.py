"""The room's push channel: server-sent events from Redis pub/sub, as a small ASGI app.

Run by uvicorn beside the gunicorn app servers (``make sse``); the balancer sends
``/c/<code>/events/`` here. With every change the state store publishes on the conference's
channel (``state.RedisStateStore.change``) what the room's screen now shows: the bar and the
stage as HTML, rendered once by the presenter's request. Each connected audience page gets it
as ``event: screen`` and swaps it in with no request of its own; a bare version (the screen
did not render) comes as ``event: state``, on which the page fetches the fragments with the
usual conditional GET. The HTML still comes from Django: this process never touches the
database. Without ``REDIS_URL`` it answers 204, which tells the page to keep polling.

One Redis connection per open stream keeps the code plain: uvicorn and Redis both hold
thousands of them, more than a room has members.
"""

from __future__ import annotations

import asyncio
import os
import re

EVENTS_PATH = re.compile(r"^/c/(?P<code>[A-Z0-9]{1,32})/events/$")
# A ping this often: idle proxies keep the stream open, and the page knows it is live.
KEEPALIVE_SECONDS = 15
RETRY_MS = 2000  # how soon a browser reconnects after the stream drops


def events_channel(code: str) -> str:
    """The pub/sub channel on which conference ``code``'s changes are announced."""
    return f"caseviewer:conference:{code}:events"


def state_event(version: int | str) -> bytes:
    return f"event: state\ndata: {version}\n\n".encode()


def screen_event(html: str) -> bytes:
    """The screen as one event: a ``data:`` line per line of HTML (the browser rejoins them)."""
    lines = re.split(r"\r\n|\r|\n", html)
    return ("event: screen\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


def announcement_event(message: str) -> bytes:
    """What the state store published, as the event for the page: a version or a screen."""
    return state_event(message) if message.isdigit() else screen_event(message)


def _redis_url() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")
    from django.conf import settings

    return getattr(settings, "REDIS_URL", "") or ""


async def _respond(send, status: int, body: bytes = b"") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send) -> None:
    """ASGI entry point: ``uvicorn cases.conference.stream:app``."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    match = EVENTS_PATH.match(scope["path"])
    if match is None or scope["method"] != "GET":
        await _respond(send, 404, b"Not found")
        return
    url = _redis_url()
    if not url:
        await _respond(send, 204)  # no pub/sub to follow: the page polls
        return
    await _stream(match["code"], url, receive, send)


async def _disconnect(receive) -> None:
    """Returns when the client has gone (the request's empty body comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _stream(code: str, url: str, receive, send) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(events_channel(code))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-store"),
                    # nginx passes the stream on as it comes instead of buffering it.
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        # A first event straight away: the page fetches what changed while it connected.
        await send(
            {
                "type": "http.response.body",
                "body": f"retry: {RETRY_MS}\n\n".encode() + state_event("connected"),
                "more_body": True,
            }
        )
        disconnected = asyncio.ensure_future(_disconnect(receive))
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while not disconnected.done():
            listening = asyncio.ensure_future(
                pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS)
            )
            await asyncio.wait({listening, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected.done():
                listening.cancel()
                break
            message = listening.result()
            if message is not None:
                body = announcement_event(message["data"].decode())
            elif loop.time() - last_sent >= KEEPALIVE_SECONDS:
                body = b"event: ping\ndata: \n\n"
            else:
                continue  # the subscription's own confirmation, skipped
            await send({"type": "http.response.body", "body": body, "more_body": True})
            last_sent = loop.time()
        disconnected.cancel()
    except OSError:
        pass  # the client went away mid-send, or Redis did: the page reconnects or polls
    finally:
        await pubsub.aclose()
        await client.aclose()
