"""The library's routes: collections and citation downloads."""

from __future__ import annotations

urlpatterns: list = []
