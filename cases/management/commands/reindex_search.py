"""Rebuild the full-text search index of every case (after a fixture load or a restore)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from cases.library.search import search_index_cases


class Command(BaseCommand):
    help = "Rebuild the library's full-text search index from the cases."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            count = search_index_cases()
        self.stdout.write(f"Indexed {count} case(s).")
