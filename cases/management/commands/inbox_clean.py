"""manage.py inbox_clean [--days N]: remove studies nobody claimed (run it daily)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cases.inbox.receive import inbox_clean


class Command(BaseCommand):
    help = "Delete the draft cases of inbox studies unclaimed for INBOX_KEEP_DAYS days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.INBOX_KEEP_DAYS)

    def handle(self, *args, days: int, **options) -> None:
        removed = inbox_clean(days=days)
        self.stdout.write(
            f"Removed {removed} unclaimed inbox stud{'y' if removed == 1 else 'ies'}."
        )
