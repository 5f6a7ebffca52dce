"""The library's version: a token in the cache that every change to what it counts replaces.

Cached facet counts are kept under it (see cases.library.facets), so a new token retires them
all at once, without the page counting anything to check. Whatever changes a case's indexed
text, status or filing calls ``library_changed``: the save and delete signals
(cases.library.signals), and code that changes cases without signals (the admin's bulk
publish, which uses ``QuerySet.update()``).
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.db import transaction

_VERSION_KEY = "library:version"


def library_version() -> str:
    """A token that changes whenever the library changes (see ``library_changed``)."""
    version = cache.get(_VERSION_KEY)
    if version is None:
        cache.add(_VERSION_KEY, secrets.token_hex(6), None)
        version = cache.get(_VERSION_KEY, "")
    return version


def _bump() -> None:
    cache.set(_VERSION_KEY, secrets.token_hex(6), None)


def library_changed() -> None:
    """Retire every cached count: at once, and again when the change is committed.

    A page counted by another request between the two would otherwise keep counts taken
    before the commit under the new token.
    """
    _bump()
    transaction.on_commit(_bump)
