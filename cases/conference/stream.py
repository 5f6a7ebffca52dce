"""The room's push channel: server-sent events from Redis pub/sub, as a small ASGI app.

Run by uvicorn beside the gunicorn app servers (``make sse``); the balancer sends
``/c/<code>/events/`` here. With every change the state store publishes on the conference's
channel (``state.RedisStateStore.change``) what the room's screen now shows: the bar and the
stage as HTML, rendered once by the presenter's request. Each connected audience page gets it
as ``event: screen`` and swaps it in with no request of its own; a bare version (the screen
did not render) comes as ``event: state``, on which the page fetches the fragments with the
usual conditional GET. The HTML still comes from Django: this process never touches the
database. Without ``REDIS_URL`` it answers 204, which tells the page to keep polling.

Each process subscribes once per conference and hands every message, made into an event
once, to all of that conference's open streams (``_Room``): a change costs one Redis message
and one encoding per process, not one per member.
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


class _Room:
    """One conference's Redis subscription in this process, shared by its open streams."""

    def __init__(self, code: str, url: str) -> None:
        self.code = code
        self.url = url
        self.streams: set[asyncio.Queue] = set()
        self.subscribed = asyncio.Event()
        self.listening = False  # subscribed, and not ended since
        self.task = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(self.url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(events_channel(self.code))
            self.listening = True
            self.subscribed.set()
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                body = announcement_event(message["data"].decode())
                for stream in self.streams:
                    stream.put_nowait(body)
        except (OSError, redis.RedisError):
            pass  # Redis went away: the streams end below, and the browsers reconnect or poll
        finally:
            self.listening = False
            if _rooms.get(self.code) is self:
                del _rooms[self.code]
            for stream in self.streams:
                stream.put_nowait(None)
            self.subscribed.set()  # a stream waiting for the subscription sees it failed
            await pubsub.aclose()
            await client.aclose()


_rooms: dict[str, _Room] = {}


def _room_join(code: str, url: str) -> tuple[_Room, asyncio.Queue]:
    room = _rooms.get(code)
    if room is None:
        room = _rooms[code] = _Room(code, url)
    stream: asyncio.Queue = asyncio.Queue()
    room.streams.add(stream)
    return room, stream


def _room_leave(room: _Room, stream: asyncio.Queue) -> None:
    room.streams.discard(stream)
    if not room.streams and _rooms.get(room.code) is room:
        del _rooms[room.code]
        room.task.cancel()


async def _stream(code: str, url: str, receive, send) -> None:
    room, events = _room_join(code, url)
    try:
        await room.subscribed.wait()
        if not room.listening:
            await _respond(send, 503, b"No pub/sub")  # the page polls
            return
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
        while not disconnected.done():
            next_event = asyncio.ensure_future(events.get())
            await asyncio.wait(
                {next_event, disconnected},
                timeout=KEEPALIVE_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if disconnected.done():
                next_event.cancel()
                break
            if next_event.done():
                body = next_event.result()
                if body is None:
                    break  # the subscription ended: so does the stream
            else:
                next_event.cancel()
                body = b"event: ping\ndata: \n\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})
        disconnected.cancel()
        await send({"type": "http.response.body", "body": b""})
    except OSError:
        pass  # the client went away mid-send: the page reconnects or polls
    finally:
        _room_leave(room, events)
