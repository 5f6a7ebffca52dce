"""manage.py backup and restore: a round trip keeps every row and every stored file.

The round trip runs on whatever database the suite runs on (SQLite and PostgreSQL in CI);
the command-line test uses real SQLite files and a writer holding a transaction open.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.management import CommandError, call_command
from PIL import Image

from cases.backup import (
    EXCLUDED_MODELS,
    BackupError,
    backup_create,
    backup_restore,
    media_files,
)
from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Case, Figure, Slice
from tests.hostile import assert_media_clean, phi_dicom_bytes, phi_jpeg_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
CT_ZIP = ROOT / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


def row_counts() -> dict[str, int]:
    excluded = {label.lower() for label in EXCLUDED_MODELS}
    return {
        model._meta.label_lower: model.objects.count()
        for model in apps.get_models()
        if model._meta.label_lower not in excluded and not model._meta.proxy
    }


def media_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and "render-cache" not in path.parts
    }


def installation_empty(settings) -> None:
    """What a new installation looks like: no rows (migrate recreates its own), no media.

    flush needs the test outside a transaction on PostgreSQL: transaction=True.
    """
    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def library(seed_case, staff, client):
    """The seed article, a case with PNG and DICOM slices, a comment, an attempt, a log."""
    case = Case.objects.create(slug="imaged", title="Imaged", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, window_width=80, window_center=40)
    for position in range(2):
        buffer = io.BytesIO()
        Image.new("L", (48, 40), 60 * position).save(buffer, format="PNG")
        slice_create_from_bytes(
            figure=figure, name=f"p{position}.png", data=buffer.getvalue(), position=position
        )
    with zipfile.ZipFile(CT_ZIP) as archive:
        name = sorted(n for n in archive.namelist() if n.endswith(".dcm"))[0]
        ct = Figure.objects.create(case=case, number=2)
        slice_create_from_bytes(figure=ct, name=name, data=archive.read(name), position=0)
    if Comment := apps.get_model("cases", "Comment"):
        Comment.objects.create(case=case, author=staff, body="Hi", body_html="<p>Hi</p>")
    LogEntry.objects.log_actions(
        user_id=staff.pk, queryset=[case], action_flag=ADDITION, change_message="Added."
    )
    # A render asked for twice lands in the render cache, which a backup leaves out.
    client.force_login(staff)
    first = Slice.objects.filter(figure=figure).first()
    for _ in range(2):
        assert client.get(f"/img/{first.token}.png").status_code == 200
    return case


@pytest.mark.django_db(transaction=True)
def test_round_trip_keeps_every_row_and_every_file(library, settings, tmp_path, client):
    media = Path(settings.MEDIA_ROOT)
    counts, hashes = row_counts(), media_hashes(media)
    assert counts["cases.slice"] == 3 and len(hashes) == 3
    assert (media / "render-cache").is_dir()

    archive = tmp_path / "backup.tar.gz"
    manifest = backup_create(out=archive)
    assert {k: v for k, v in counts.items() if v} == manifest.counts
    assert {name.removeprefix("media/"): f["sha256"] for name, f in manifest.files.items()
            if name.startswith("media/")} == hashes  # fmt: skip
    assert manifest.missing_media == []

    installation_empty(settings)
    assert row_counts()["cases.case"] == 0 and not media.exists()
    result = backup_restore(archive=archive)

    assert row_counts() == counts
    assert media_hashes(media) == hashes
    assert result.files == 3
    # The restored library lists and counts what was restored.
    library = client.get("/")
    assert library.context["total"] == Case.objects.published().count() > 0
    # The restored site serves the restored case and renders its images.
    case = Case.objects.get(slug="imaged")
    assert client.get(f"/cases/{case.slug}/").status_code == 200
    for image in Slice.objects.filter(figure__case=case):
        response = client.get(f"/img/{image.token}.png")
        assert response.status_code == 200, image.image.name
    user = apps.get_model(settings.AUTH_USER_MODEL).objects.get(username="author")
    assert user.check_password("author-pass-123")


@pytest.mark.django_db(transaction=True)
def test_a_damaged_archive_is_refused_before_anything_changes(library, settings, tmp_path):
    archive = tmp_path / "backup.tar"
    backup_create(out=archive)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as target:
        for member in source:
            data = source.extractfile(member).read()
            if member.name.startswith("media/slices/") and member.name.endswith(".png"):
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit flipped
            target.addfile(member, io.BytesIO(data))
    installation_empty(settings)

    with pytest.raises(CommandError, match="does not match its hash.*Nothing was changed"):
        call_command("restore", str(damaged))
    assert Case.objects.count() == 0
    assert not any(media_files())
    with pytest.raises(CommandError, match="does not match its hash"):
        call_command("restore", str(damaged), "--check")
    out = io.StringIO()
    call_command("restore", str(archive), "--check", stdout=out)
    assert "intact" in out.getvalue()


def test_restore_refuses_an_installation_that_is_not_empty(library, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    before = row_counts()
    with pytest.raises(CommandError, match="empty installation.*Nothing was changed"):
        call_command("restore", str(archive))
    assert row_counts() == before


def test_a_foreign_or_unsafe_archive_is_refused(tmp_path, settings):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as archive:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(CommandError, match="unexpected member"):
        call_command("restore", str(evil))
    assert not (tmp_path / "outside.txt").exists()
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as archive:
        body = json.dumps({"format": "something-else"}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    with pytest.raises(CommandError, match="not a CaseViewer backup"):
        call_command("restore", str(plain))


def test_backup_never_overwrites_and_names_a_file_in_a_directory(library, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", str(tmp_path), stdout=out, stderr=err)
    assert "reading the database snapshot" in err.getvalue()  # progress goes to stderr
    written = Path(out.getvalue().strip().splitlines()[-1])
    assert written.parent == tmp_path and written.name.startswith("caseviewer-backup-")
    assert written.name.endswith(".tar.gz")
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(written))


# --- the commands as an administrator runs them, on SQLite files --------------------------

SEED = """
import io
from PIL import Image
from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Case, Figure
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser("root", "root@example.org", "root-pass-123")
case = Case.objects.create(slug="cli", title="CLI", status="published")
figure = Figure.objects.create(case=case, number=1)
for position in range(3):
    buffer = io.BytesIO()
    Image.new("L", (32, 32), 50 * position).save(buffer, format="PNG")
    slice_create_from_bytes(figure=figure, name="s.png", data=buffer.getvalue(),
                            position=position)
"""


def manage(*args: str, db: Path, media: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"DATABASE_URL": f"sqlite:///{db}", "MEDIA_ROOT": str(media)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.django_db(transaction=False)
def test_commands_back_up_a_live_sqlite_site_without_blocking_and_restore_it(tmp_path):
    source_db, source_media = tmp_path / "site.sqlite3", tmp_path / "media"
    for args in (("migrate", "--noinput"), ("shell", "--no-imports", "-c", SEED)):
        done = manage(*args, db=source_db, media=source_media)
        assert done.returncode == 0, done.stderr

    # A worker is in the middle of a write: the backup neither waits for it nor sees it.
    writer = sqlite3.connect(source_db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE cases_case SET title = 'uncommitted' WHERE slug = 'cli'")
    archive = tmp_path / "site.tar.gz"
    started = time.monotonic()
    done = manage("backup", str(archive), db=source_db, media=source_media)
    elapsed = time.monotonic() - started
    writer.execute("ROLLBACK")
    writer.close()
    assert done.returncode == 0, done.stderr
    assert elapsed < 15, "the backup waited for the writer (busy timeout is 20 s)"
    assert "3 media files" in done.stdout

    target_db, target_media = tmp_path / "new.sqlite3", tmp_path / "new-media"
    done = manage("restore", str(archive), db=target_db, media=target_media)
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout
    with sqlite3.connect(target_db) as db:
        assert db.execute("SELECT title FROM cases_case").fetchall() == [("CLI",)]
        assert db.execute("SELECT count(*) FROM cases_slice").fetchone() == (3,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert media_hashes(target_media) == media_hashes(source_media)

    again = manage("restore", str(archive), db=target_db, media=target_media)
    assert again.returncode != 0
    assert "empty installation" in again.stderr


@pytest.mark.django_db(transaction=True)
def test_restore_passes_hostile_media_through_the_ingest(library, settings, tmp_path):
    # A backup someone edited: slice files replaced with PHI-laden originals.
    hostile = {"dcm": phi_dicom_bytes(), "png": phi_jpeg_bytes()}
    for slice_ in Slice.objects.all():
        Path(slice_.image.path).write_bytes(hostile[slice_.image.name.rsplit(".", 1)[1]])
    archive = tmp_path / "backup.tar.gz"
    backup_create(out=archive)
    installation_empty(settings)

    backup_restore(archive=archive)

    assert assert_media_clean(settings.MEDIA_ROOT) == 3
    for slice_ in Slice.objects.all():
        assert slice_.sha256 == hashlib.sha256(Path(slice_.image.path).read_bytes()).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_media_the_ingest_refuses(library, settings, tmp_path):
    Path(Slice.objects.first().image.path).write_bytes(b"MZ not an image")
    archive = tmp_path / "backup.tar.gz"
    backup_create(out=archive)
    installation_empty(settings)
    with pytest.raises(BackupError, match="not an image this app stores"):
        backup_restore(archive=archive)
    assert row_counts()["cases.case"] == 0
