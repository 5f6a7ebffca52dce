"""manage.py backup OUT: the database (one consistent snapshot) and the media in one archive."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.backup import BackupError, archive_default_name, backup_create


class Command(BaseCommand):
    # A backup must run even where a system check would fail, and must not wait for a
    # worker's write: Django's SQLite JSON probe, run by the checks, opens a write transaction.
    requires_system_checks = []
    help = (
        "Back up the database and the stored images into one archive (a .tar.gz, or a plain "
        ".tar) with a manifest of SHA-256 hashes. OUT is a new file, or a directory to put a "
        "dated archive in. Safe while the site runs: writers are not blocked."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("out", help="new archive file, or an existing directory")

    def handle(self, *args, out: str, **options) -> None:
        path = Path(out)
        if path.is_dir():
            path = path / archive_default_name()
        try:
            manifest = backup_create(out=path, progress=self.stderr.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest.counts.values())
        size = path.stat().st_size
        self.stdout.write(
            f"Backed up {rows} rows ({len(manifest.counts)} models) and "
            f"{len(manifest.media_files)} media files to {path} ({size / 1e6:.1f} MB)."
        )
        for name in manifest.missing_media:
            self.stderr.write(f"warning: {name} is referenced but was not in MEDIA_ROOT")
        self.stdout.write(str(path))
