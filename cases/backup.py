"""Backup and restore of a whole installation: a consistent database snapshot and the media.

A backup is one tar file (gzip-compressed when its name ends in ``.gz``):

* ``data.json``: every row, as Django fixtures with natural keys, read inside one snapshot
  of the database (a WAL read transaction on SQLite, REPEATABLE READ on PostgreSQL) so that
  writers are never blocked and no half-finished change is caught. Being fixtures, it
  restores into either engine: a backup taken on SQLite restores into PostgreSQL.
* ``media/...``: every file in the media store (``default_storage``: MEDIA_ROOT, or the S3
  bucket), the render cache excepted (it is rebuilt on demand).
* ``manifest.json``: the format, when and from what it was taken, the migrations applied,
  the number of rows per model, and the size and SHA-256 of every other member.

Restore checks the whole archive against its manifest before it changes anything, and only
restores into an empty installation (no users, no cases, no media), so nothing is merged or
overwritten by accident.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import django
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command, get_commands
from django.db import connection, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

FORMAT = "caseviewer-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATA = "data.json"
MEDIA_PREFIX = "media/"
# Rebuilt by migrate (and referred to by natural keys), only valid for one SECRET_KEY, or
# alive only while a process runs (the task workers' heartbeats).
EXCLUDED_MODELS = (
    "contenttypes.ContentType",
    "auth.Permission",
    "sessions.Session",
    "cases.TaskWorker",
)
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup that cannot be taken, or an archive that cannot or must not be restored."""


@dataclass
class Manifest:
    created: str
    database: str
    django: str
    migrations: dict[str, list[str]]
    counts: dict[str, int]
    files: dict[str, dict]  # member name -> {"size": int, "sha256": str}
    missing_media: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(
            {"format": FORMAT, "version": VERSION} | self.__dict__, indent=2, sort_keys=True
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise BackupError(f"{MANIFEST} is not JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise BackupError("not a CaseViewer backup (its manifest names another format)")
        if raw.get("version") != VERSION:
            raise BackupError(f"backup format version {raw.get('version')} is not supported")
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError as exc:
            raise BackupError(f"{MANIFEST} is incomplete: {exc}") from exc

    @property
    def media_files(self) -> list[str]:
        return sorted(name for name in self.files if name.startswith(MEDIA_PREFIX))


@dataclass
class RestoreResult:
    manifest: Manifest
    rows: int
    files: int


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def _skipped_media_dirs() -> list[str]:
    """Folders of the media store left out of a backup: the render cache, if it lies there."""
    from cases.imaging.render import render_cache_dir

    if not isinstance(default_storage, FileSystemStorage):
        return []
    root = Path(default_storage.location).resolve()
    cache_dir = render_cache_dir().resolve()
    return [cache_dir.relative_to(root).as_posix()] if cache_dir.is_relative_to(root) else []


def media_files() -> Iterator[str]:
    """The name of every file in the media store, render cache aside, in a stable order."""
    if isinstance(default_storage, FileSystemStorage) and not _media_root().exists():
        return
    skipped = set(_skipped_media_dirs())

    def walk(folder: str) -> Iterator[str]:
        directories, files = default_storage.listdir(folder)
        for name in sorted(files):
            path = f"{folder}/{name}" if folder else name
            if isinstance(default_storage, FileSystemStorage):
                local = Path(default_storage.path(path))
                if local.is_symlink() or not local.is_file():
                    continue
            yield path
        for name in sorted(directories):
            path = f"{folder}/{name}" if folder else name
            if path not in skipped:
                yield from walk(path)

    yield from walk("")


def _file_field_values(objects: list[dict]) -> set[str]:
    """Names stored in FileFields across the dumped rows."""
    fields_by_label = {
        model._meta.label_lower: [
            f.name for f in model._meta.get_fields() if isinstance(f, models.FileField)
        ]
        for model in apps.get_models()
    }
    names = set()
    for obj in objects:
        for name in fields_by_label.get(obj["model"], []):
            if value := obj["fields"].get(name):
                names.add(value)
    return names


def _database_dump(out: Path) -> dict[str, list[str]]:
    """Write every row to ``out`` from one snapshot; return the migrations it had applied."""
    options = {
        "natural_foreign": True,
        "natural_primary": True,
        "exclude": list(EXCLUDED_MODELS),
        "output": str(out),
        "verbosity": 0,
    }
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        # A plain (deferred) read transaction: in WAL mode it sees one snapshot and never
        # blocks the workers' writes, which the settings' IMMEDIATE transactions would.
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
            try:
                applied = MigrationRecorder(connection).applied_migrations()
                call_command("dumpdata", **options)
            finally:
                cursor.execute("ROLLBACK")
    else:
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # One snapshot for every table, taken at the first query.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            applied = MigrationRecorder(connection).applied_migrations()
            call_command("dumpdata", **options)
    migrations: dict[str, list[str]] = {}
    for app_label, name in sorted(applied):
        migrations.setdefault(app_label, []).append(name)
    return migrations


def _add_file(archive: tarfile.TarFile, name: str, stream: IO[bytes], size: int) -> dict:
    """Add ``size`` bytes from ``stream`` as ``name``, hashing them as they go in."""
    digest = hashlib.sha256()

    class Hashing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            data = stream.read(len(buffer))
            count = len(data)
            buffer[:count] = data
            digest.update(data)
            return count

    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BufferedReader(Hashing(), CHUNK))
    return {"size": info.size, "sha256": digest.hexdigest()}


def _add_media(archive: tarfile.TarFile, name: str) -> dict:
    with default_storage.open(name, "rb") as stream:
        return _add_file(archive, MEDIA_PREFIX + name, stream, default_storage.size(name))


def backup_create(*, out: Path, progress: Callable[[str], None] | None = None) -> Manifest:
    """Write a backup of the database and the media to ``out`` (a new file).

    ``progress(message)`` hears about each stage and every hundredth media file.

    The database snapshot comes first, then the media: a file added meanwhile is carried
    along unused, and a file deleted meanwhile is named in the manifest's ``missing_media``.
    The archive appears whole or not at all (written aside, then renamed).
    """
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists: choose a new name")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a directory")
    partial = out.with_name(f".{out.name}.partial")
    mode = "w:gz" if out.name.endswith(".gz") else "w"
    with tempfile.TemporaryDirectory(prefix="caseviewer-backup-") as scratch:
        data_path = Path(scratch) / DATA
        if progress:
            progress("reading the database snapshot")
        migrations = _database_dump(data_path)
        objects = json.loads(data_path.read_bytes())
        counts = Counter(obj["model"] for obj in objects)
        referenced = _file_field_values(objects)
        del objects
        files: dict[str, dict] = {}
        try:
            with tarfile.open(partial, mode) as archive:
                with data_path.open("rb") as stream:
                    files[DATA] = _add_file(archive, DATA, stream, data_path.stat().st_size)
                stored = set()
                for name in media_files():
                    try:
                        files[MEDIA_PREFIX + name] = _add_media(archive, name)
                    except FileNotFoundError:  # deleted since it was listed
                        continue
                    stored.add(name)
                    if progress and len(stored) % 100 == 0:
                        progress(f"{len(stored)} media files archived")
                manifest = Manifest(
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    database=connection.vendor,
                    django=django.get_version(),
                    migrations=migrations,
                    counts=dict(sorted(counts.items())),
                    files=files,
                    missing_media=sorted(referenced - stored),
                )
                body = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(body)
                info.mtime = int(datetime.now(UTC).timestamp())
                archive.addfile(info, io.BytesIO(body))
            with partial.open("rb") as stream:
                os.fsync(stream.fileno())
            partial.rename(out)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or ".." in path.parts
        or name not in (MANIFEST, DATA)
        and (not name.startswith(MEDIA_PREFIX) or len(path.parts) < 2)
    ):
        raise BackupError(f"unexpected member {name!r} in the archive")
    return path


def archive_unpack(archive_path: Path, into: Path) -> Manifest:
    """Unpack the archive into ``into`` and check every member against the manifest."""
    archive_path = Path(archive_path)
    if not archive_path.is_file():
        raise BackupError(f"{archive_path} is not a file")
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            for member in archive:
                _member_path(member.name)
                if not member.isfile():
                    raise BackupError(f"{member.name!r} in the archive is not a regular file")
                archive.extract(member, into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"cannot read {archive_path}: {exc}") from exc
    manifest_path = into / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{archive_path} has no {MANIFEST}")
    manifest = Manifest.from_json(manifest_path.read_bytes())
    present = {
        path.relative_to(into).as_posix()
        for path in into.rglob("*")
        if path.is_file() and path != manifest_path
    }
    listed = set(manifest.files)
    if DATA not in listed:
        raise BackupError(f"the manifest lists no {DATA}")
    if missing := sorted(listed - present):
        raise BackupError(f"{len(missing)} file(s) in the manifest are not in the archive, "
                          f"e.g. {missing[0]}")  # fmt: skip
    if extra := sorted(present - listed):
        raise BackupError(f"{len(extra)} file(s) in the archive are not in the manifest, "
                          f"e.g. {extra[0]}")  # fmt: skip
    for name, expected in manifest.files.items():
        path = into / name
        if path.stat().st_size != expected["size"] or _sha256_file(path) != expected["sha256"]:
            raise BackupError(f"{name} does not match its hash in the manifest (damaged?)")
    return manifest


def backup_verify(*, archive: Path) -> Manifest:
    """Check an archive against its manifest without restoring it."""
    with tempfile.TemporaryDirectory(prefix="caseviewer-verify-") as scratch:
        return archive_unpack(archive, Path(scratch))


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _installation_is_empty() -> list[str]:
    """What already lives here (empty list: nothing)."""
    found = []
    from cases.models import Case

    for model in (get_user_model(), Case):
        if model.objects.exists():
            found.append(f"{model._meta.verbose_name_plural} in the database")
    if next(media_files(), None):
        found.append("files in the media store")
    return found


def _database_counts(labels: list[str]) -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in labels}


def backup_restore(*, archive: Path) -> RestoreResult:
    """Restore ``archive`` into this (empty) installation: migrate, load the rows, place media.

    Nothing is changed unless the archive is whole and matches its manifest, its migrations
    are known to this code, and the installation is empty. The rows load in one transaction;
    the media files are moved into place inside it and removed again if it fails.
    """
    media_root = _media_root()
    media_root.mkdir(parents=True, exist_ok=True)
    # Unpack next to MEDIA_ROOT so that placing the files is a rename, not a second copy.
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=media_root.parent) as scratch:
        staging = Path(scratch)
        manifest = archive_unpack(archive, staging)
        backup_migrations = {
            (app, name) for app, names in manifest.migrations.items() for name in names
        }
        if unknown := sorted(backup_migrations - _known_migrations()):
            app, name = unknown[0]
            raise BackupError(
                f"the backup was taken by a newer version (migration {app}.{name} is unknown "
                "here): restore it with that version, then upgrade"
            )
        call_command("migrate", interactive=False, verbosity=0)
        if found := _installation_is_empty():
            raise BackupError(
                "restore only goes into an empty installation; found " + ", ".join(found)
            )
        placed: list[str] = []
        try:
            with transaction.atomic():
                call_command("loaddata", str(staging / DATA), verbosity=0)
                for name in manifest.media_files:
                    placed.append(_media_place(name[len(MEDIA_PREFIX) :], staging / name))
                _slices_ingest()
                counts = _database_counts(sorted(manifest.counts))
                if counts != manifest.counts:
                    wrong = {
                        k: (counts[k], v) for k, v in manifest.counts.items() if counts[k] != v
                    }
                    raise BackupError(f"row counts differ after loading (now, backup): {wrong}")
                if "reindex_search" in get_commands():
                    # Fixtures load without signals: rebuild the search index from the rows.
                    call_command("reindex_search", verbosity=0, stdout=io.StringIO())
        except BaseException:
            for name in placed:
                default_storage.delete(name)
            raise
    return RestoreResult(manifest=manifest, rows=sum(manifest.counts.values()), files=len(placed))


class _StagedFile(File):
    """An unpacked file: FileSystemStorage moves it into place instead of copying it."""

    def temporary_file_path(self) -> str:
        return self.name


def _media_place(name: str, staged: Path) -> str:
    """Store the unpacked ``staged`` as ``name`` in the media store; return the name."""
    with staged.open("rb") as handle:
        stored = default_storage.save(name, _StagedFile(handle, name=str(staged)))
    if stored != name:
        default_storage.delete(stored)
        raise BackupError(f"media file {name} could not be stored under its own name")
    return stored


def _slices_ingest() -> int:
    """Pass every restored slice file through the one ingest; return how many it rewrote.

    A backup holds files this app stored, which the ingest leaves byte for byte as they are;
    one that holds anything else (identifying DICOM, a JPEG with EXIF) gets the file the app
    would have stored, and a file the ingest refuses refuses the restore.
    """
    from cases.imaging.ingest import ImageRejected, file_size_check, images_prepare
    from cases.models import Slice

    rewritten = 0
    for slice_ in Slice.objects.exclude(image="").iterator():
        name = slice_.image.name
        try:
            file_size_check(name, slice_.image.size)
            with slice_.image.open("rb") as handle:
                data = handle.read()
            prepared = images_prepare(name=name, data=data)
        except (ImageRejected, OSError) as exc:
            raise BackupError(f"media file {name} is not an image this app stores: {exc}") from exc
        if len(prepared) != 1:
            raise BackupError(f"media file {name} holds several frames, not one slice")
        content = prepared[0].content
        if content != data:
            with slice_.image.open("wb") as handle:
                handle.write(content)
            slice_.sha256 = hashlib.sha256(content).hexdigest()
            slice_.save(update_fields=["sha256"])
            rewritten += 1
    return rewritten


def archive_default_name() -> str:
    return f"caseviewer-backup-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar.gz"
