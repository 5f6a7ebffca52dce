"""manage.py restore IN: an archive from `manage.py backup`, into an empty installation."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.backup import BackupError, backup_restore, backup_verify


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into an empty installation (a new "
        "database and an empty MEDIA_ROOT): checks every file against the manifest first, "
        "migrates, loads the rows and places the media. --check only verifies the archive."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("archive", help="the archive written by manage.py backup")
        parser.add_argument(
            "--check",
            action="store_true",
            help="verify the archive against its manifest and change nothing",
        )

    def handle(self, *args, archive: str, check: bool = False, **options) -> None:
        try:
            if check:
                manifest = backup_verify(archive=Path(archive))
                self.stdout.write(
                    f"{archive}: intact. Taken {manifest.created} on {manifest.database}: "
                    f"{sum(manifest.counts.values())} rows, {len(manifest.media_files)} "
                    "media files, every hash matches."
                )
                return
            result = backup_restore(archive=Path(archive))
        except BackupError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {result.rows} rows and {result.files} media files from {archive} "
                f"(taken {result.manifest.created} on {result.manifest.database}); row counts "
                "and file hashes match the manifest."
            )
        )
