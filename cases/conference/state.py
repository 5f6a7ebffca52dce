"""The live state of a conference, shared by every worker and app server.

One small JSON document per conference with a version number that goes up by one with each
change. The database row (``Conference.state`` / ``version``) is the record; with
``REDIS_URL`` set, Redis holds a copy that answers the audience's polls (and keeps the head
count), so a poll costs one Redis GET and no database query, and each change is announced
on the conference's pub/sub channel for the push stream (``stream.py``). Nothing lives in a
worker's memory that another worker needs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cache

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from .models import AudienceMember, Conference
from .stream import events_channel

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20  # how often one audience member's poll records that they are there
PRESENT_SECONDS = 50  # seen within this long: counted in the audience
STATE_TTL = 24 * 3600  # Redis copies expire a day after the last change
# Each worker may answer polls from a copy this young: a change reaches the room at most this
# much later, and a worker asks the database once per this interval and conference instead of
# once per poll. A cache, not state: any worker can rebuild it from the record.
READ_CACHE_SECONDS = 0.4

# Sent by the Redis store after each change is stored, with the new state (``live``). A
# receiver returns what the room's screen now shows, as HTML, rendered once here for everyone
# (``audience.live_screen``, connected in ``CasesConfig.ready``); the push stream carries it.
live_announce = Signal()


@dataclass(frozen=True)
class LiveState:
    """Where the presenter is: case, step, figure and view, the question put to the room."""

    conference: int = 0
    code: str = ""
    version: int = 0
    status: str = Conference.Status.SCHEDULED
    position: int = 0  # index in the playlist
    step: int = 1
    figure: int | None = None  # figure number in the case, or None before the images
    view: dict[str, str] = field(default_factory=dict)  # the viewer's query (ViewState)
    question: int | None = None
    results: bool = False  # the question's results shown to the room
    # The study view: 2 shows ``second`` (another figure the step has revealed) beside
    # ``figure``, each at its own view; ``link`` links their scrolling (cases.imaging.linking).
    layout: int = 1
    second: int | None = None
    second_view: dict[str, str] = field(default_factory=dict)
    link: bool = False

    @property
    def etag(self) -> str:
        return f'"{self.code}-{self.version}"'

    @property
    def is_live(self) -> bool:
        return self.status == Conference.Status.LIVE

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> LiveState:
        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, data: dict) -> LiveState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("view", "second_view"):
            known[name] = {str(k): str(v) for k, v in (known.get(name) or {}).items()}
        return cls(**known)


def _from_row(conference_id: int, code: str, version: int, state: dict, status: str) -> LiveState:
    return LiveState.from_dict(
        state | {"conference": conference_id, "code": code, "version": version, "status": status}
    )


class DatabaseStateStore:
    """The state in the conference's own row; the head count in ``AudienceMember`` rows."""

    name = "database"

    def __init__(self) -> None:
        self._recent: dict[str, tuple[float, LiveState]] = {}

    def read(self, code: str, *, fresh: bool = False) -> LiveState | None:
        """The state of conference ``code``; a copy up to READ_CACHE_SECONDS old unless fresh."""
        now = time.monotonic()
        cached = self._recent.get(code)
        if cached is not None and not fresh and now - cached[0] < READ_CACHE_SECONDS:
            return cached[1]
        live = self._read(code)
        if live is not None:
            if len(self._recent) > 1000:
                self._recent.clear()
            self._recent[code] = (now, live)
        return live

    def _read(self, code: str) -> LiveState | None:
        row = (
            Conference.objects.filter(code=code)
            .values_list("pk", "code", "version", "state", "status")
            .first()
        )
        return _from_row(*row) if row else None

    def change(self, conference: Conference, update: Callable[[LiveState], LiveState]) -> LiveState:
        """Apply ``update`` to the current state under a row lock; one version per change."""
        with transaction.atomic():
            row = Conference.objects.select_for_update().get(pk=conference.pk)
            current = _from_row(row.pk, row.code, row.version, row.state, row.status)
            new = replace(update(current), conference=row.pk, code=row.code)
            new = replace(new, version=current.version + 1)
            data = asdict(new)
            for key in ("conference", "code", "version", "status"):
                data.pop(key)
            Conference.objects.filter(pk=row.pk).update(
                version=new.version, state=data, status=new.status
            )
        conference.version, conference.state, conference.status = new.version, data, new.status
        self._recent.pop(row.code, None)
        return new

    def heartbeat(self, live: LiveState, member: str) -> None:
        AudienceMember.objects.update_or_create(
            conference_id=live.conference, member=member, defaults={"last_seen": timezone.now()}
        )

    def audience_count(self, live: LiveState) -> int:
        since = timezone.now() - timezone.timedelta(seconds=PRESENT_SECONDS)
        return AudienceMember.objects.filter(
            conference_id=live.conference, last_seen__gte=since
        ).count()


# Store a copy only if it is newer than what Redis holds: two presenters' changes committed
# in one order must not be published in the other.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '"version":(%d+)'))
  if version and version >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


class RedisStateStore(DatabaseStateStore):
    """Redis answers the polls and counts heads; the database stays the record."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "caseviewer:conference") -> None:
        import redis

        super().__init__()
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._set_if_newer = self.redis.register_script(_SET_IF_NEWER)

    def _key(self, code: str, what: str) -> str:
        return f"{self.prefix}:{code}:{what}"

    def _publish(self, live: LiveState) -> None:
        self._set_if_newer(
            keys=[self._key(live.code, "state")], args=[live.as_json(), live.version, STATE_TTL]
        )

    def read(self, code: str, *, fresh: bool = False) -> LiveState | None:
        data = self.redis.get(self._key(code, "state"))
        if data is not None:
            return LiveState.from_json(data)
        live = self._read(code)  # not cached yet (or expired): the record, then a copy
        if live is not None:
            self._publish(live)
        return live

    def change(self, conference: Conference, update: Callable[[LiveState], LiveState]) -> LiveState:
        live = super().change(conference, update)
        self._publish(live)
        # Announced after the copy is stored: a page told of a version finds it when it asks.
        self.redis.publish(events_channel(live.code), self._announcement(live))
        return live

    def _announcement(self, live: LiveState) -> str:
        """The room's new screen as HTML, or only the version if no receiver renders it.

        The change is stored already: a screen that fails to render costs the room one
        conditional GET (the version tells the pages to fetch), not the presenter's change.
        """
        for _, screen in live_announce.send_robust(sender=type(self), live=live):
            if isinstance(screen, Exception):
                logger.error("The room's screen did not render", exc_info=screen)
            elif screen:
                return screen
        return str(live.version)

    def forget(self, code: str) -> None:
        self.redis.delete(self._key(code, "state"), self._key(code, "audience"))

    def heartbeat(self, live: LiveState, member: str) -> None:
        key = self._key(live.code, "audience")
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(key, {member: now})
        pipe.zremrangebyscore(key, "-inf", now - PRESENT_SECONDS)
        pipe.expire(key, STATE_TTL)
        pipe.execute()

    def audience_count(self, live: LiveState) -> int:
        return self.redis.zcount(
            self._key(live.code, "audience"), time.time() - PRESENT_SECONDS, "+inf"
        )


@cache
def _store(url: str) -> DatabaseStateStore:
    # One per worker process (and URL): a connection pool and a read cache, not shared state.
    return RedisStateStore(url) if url else DatabaseStateStore()


def state_store() -> DatabaseStateStore:
    """The store for this deployment: Redis when ``REDIS_URL`` is set, else the database."""
    return _store(getattr(settings, "REDIS_URL", "") or "")
