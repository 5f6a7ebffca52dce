"""Case bundles: export, import into an empty installation, export again: the same bundle."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from cases.bundles import BundleError, bundle_export, bundle_import, bundle_read
from cases.library.models import CaseDifficulty, Collection, CollectionItem, Difficulty
from cases.models import Case, Figure, Keyword, Slice, Tag
from tests.hostile import assert_media_clean, phi_dicom_bytes, phi_jpeg_bytes

pytestmark = pytest.mark.django_db


def _png(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("L", (16, 16), seed % 256)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _small_case(slug: str, *, uid: str | None = None) -> Case:
    from django.core.files.base import ContentFile

    case = Case.objects.create(
        slug=slug, title=f"Case {slug}", status="published", diagnosis="Pneumothorax"
    )
    if uid:
        Case.objects.filter(pk=case.pk).update(public_id=uid)
        case.refresh_from_db()
    figure = Figure.objects.create(case=case, number=1, caption="Chest radiograph")
    slice_ = Slice(figure=figure, position=0, width=16, height=16)
    slice_.image.save("a.png", ContentFile(_png(len(slug))), save=True)
    return case


def _zip(manifest: dict, files: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _manifest_and_hashes(data: bytes) -> tuple[bytes, dict[str, str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = archive.read("manifest.json")
        hashes = {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if name != "manifest.json"
        }
    return manifest, hashes


def _empty_installation(settings, tmp_path: Path) -> None:
    Case.objects.all().delete()
    Tag.objects.all().delete()
    Keyword.objects.all().delete()
    settings.MEDIA_ROOT = tmp_path / "other-installation"


def test_round_trip_of_every_demo_case_gives_the_same_manifest_and_files(
    settings, tmp_path, learner
):
    call_command("load_demo", stdout=StringIO())
    CaseDifficulty.objects.create(case=Case.objects.order_by("pk").first(), level=2)
    out = tmp_path / "demo.zip"
    call_command("export_cases", str(out), stdout=StringIO())
    first = out.read_bytes()
    manifest, hashes = _manifest_and_hashes(first)
    exported = json.loads(manifest)
    assert exported["version"] == 1 and len(exported["cases"]) == Case.objects.count() == 9
    assert len(hashes) == len({s.sha256 for s in Slice.objects.all()}) > 50
    before = {
        c.public_id: (c.title, c.figures.count(), c.references.count(), c.tags.count())
        for c in Case.objects.all()
    }

    _empty_installation(settings, tmp_path)
    printed = StringIO()
    call_command("import_cases", str(out), stdout=printed)
    assert "Imported 9 case(s)" in printed.getvalue()
    after = {
        c.public_id: (c.title, c.figures.count(), c.references.count(), c.tags.count())
        for c in Case.objects.all()
    }
    assert after == before

    again = tmp_path / "again.zip"
    call_command("export_cases", str(again), stdout=StringIO())
    assert _manifest_and_hashes(again.read_bytes()) == (manifest, hashes)
    assert again.read_bytes() == first  # the zip itself is reproducible
    # The imported cases are searchable at once.
    from cases.library.search import search_ranked

    assert search_ranked(Case.objects.all(), query="leiomyosarcoma").exists()


def test_importing_the_same_bundle_twice_adds_nothing(tmp_path):
    _small_case("one")
    _small_case("two")
    data = bundle_export(cases=Case.objects.order_by("slug"))
    report = bundle_import(data)
    assert report.imported == [] and report.skipped == ["one", "two"]
    assert Case.objects.count() == 2 and Slice.objects.count() == 2


def test_import_keeps_public_ids_and_stores_files_under_new_names(settings, tmp_path):
    case = _small_case("one")
    old = case.figures.get().slices.get()
    data = bundle_export(cases=[case])
    _empty_installation(settings, tmp_path)
    bundle_import(data)
    new = Slice.objects.get()
    assert new.figure.case.public_id == case.public_id
    assert new.token != old.token and new.sha256 == hashlib.sha256(_png(3)).hexdigest()
    assert new.image.read() == _png(3)


def test_collection_export_and_import_for_an_owner(settings, tmp_path, learner, capsys):
    a, b = _small_case("aaa"), _small_case("bbb")
    collection = Collection.objects.create(owner=learner, title="Pneumothorax set")
    CollectionItem.objects.create(collection=collection, case=b, position=1)
    CollectionItem.objects.create(collection=collection, case=a, position=2)
    out = tmp_path / "set.zip"
    call_command("export_cases", str(out), "--collection", str(collection.pk), stdout=StringIO())
    manifest = json.loads(_manifest_and_hashes(out.read_bytes())[0])
    assert [c["slug"] for c in manifest["cases"]] == ["bbb", "aaa"]
    _empty_installation(settings, tmp_path)
    Collection.objects.all().delete()
    call_command("import_cases", str(out), "--owner", "learner", stdout=StringIO())
    imported = Collection.objects.get(owner=learner)
    assert [c.slug for c in imported.playlist()] == ["bbb", "aaa"]
    call_command("import_cases", str(out), "--owner", "learner", stdout=StringIO())
    assert Collection.objects.count() == 1


def test_failure_part_way_leaves_no_rows_and_no_files(settings, tmp_path):
    _small_case("first")
    _small_case("second")
    data = bundle_export(cases=Case.objects.order_by("slug"))
    manifest, files = bundle_read(data)
    manifest["cases"][1]["figures"][0]["reveal_step"] = 99  # found only while writing case 2
    broken = _zip(manifest, files)
    _empty_installation(settings, tmp_path)
    with pytest.raises(BundleError, match="reveal_step"):
        bundle_import(broken)
    assert not Case.objects.exists() and not Slice.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]


def _valid_bundle() -> tuple[dict, dict[str, bytes]]:
    case = _small_case("valid")
    manifest, files = bundle_read(bundle_export(cases=[case]))
    case.delete()
    return manifest, files


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("version", "unsupported bundle version 99"),
        ("format", "not a CaseViewer bundle"),
        ("missing-file", "is missing"),
        ("traversal", "unsafe file name"),
        ("absolute", "unsafe file name"),
        ("stranger", "unexpected file"),
        ("duplicate-uid", "duplicate case uid"),
        ("duplicate-slug", "duplicate case slug"),
        ("hash", "does not match its hash"),
        ("not-an-image", "files/"),
        ("unknown-field", "unknown field"),
    ],
)
def test_bad_bundles_are_rejected_with_a_clear_message_and_change_nothing(breakage, message):
    manifest, files = _valid_bundle()
    name = next(iter(files))
    if breakage == "version":
        manifest["version"] = 99
    elif breakage == "format":
        manifest["format"] = "something-else"
    elif breakage == "missing-file":
        files.pop(name)
        manifest["files"].pop(name)
    elif breakage == "traversal":
        files["files/../../etc/passwd"] = b"x"
    elif breakage == "absolute":
        files["/tmp/evil.png"] = b"x"
    elif breakage == "stranger":
        files["notes.txt"] = b"x"
    elif breakage in {"duplicate-uid", "duplicate-slug"}:
        twin = json.loads(json.dumps(manifest["cases"][0]))
        if breakage == "duplicate-uid":
            twin["slug"] = "other-slug"
        else:
            twin["uid"] = "0123456789ab"
        manifest["cases"].append(twin)
    elif breakage == "hash":
        files[name] = files[name] + b"tampered"
    elif breakage == "not-an-image":
        fake = b"<html>not an image</html>"
        digest = hashlib.sha256(fake).hexdigest()
        new_name = f"files/{digest}.png"
        files = {new_name: fake}
        manifest["files"] = {new_name: digest}
        manifest["cases"][0]["figures"][0]["slices"][0]["file"] = new_name
    elif breakage == "unknown-field":
        manifest["cases"][0]["figures"][0]["owner_password"] = "x"
    counts = (Case.objects.count(), Slice.objects.count(), Tag.objects.count())
    with pytest.raises(BundleError, match=message):
        bundle_import(_zip(manifest, files))
    assert (Case.objects.count(), Slice.objects.count(), Tag.objects.count()) == counts


def test_not_a_zip_is_rejected(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK nothing")
    with pytest.raises(CommandError, match="not a zip file"):
        call_command("import_cases", str(path), stdout=StringIO())


def test_a_slug_taken_by_another_case_is_refused(settings, tmp_path):
    data = bundle_export(cases=[_small_case("clash")])
    Case.objects.all().delete()
    Case.objects.create(slug="clash", title="Someone else's case")
    with pytest.raises(BundleError, match="slug is taken"):
        bundle_import(data)
    assert Case.objects.count() == 1


def test_export_command_refuses_unknown_slugs_and_collections(tmp_path):
    with pytest.raises(CommandError, match="no case with slug nope"):
        call_command("export_cases", str(tmp_path / "x.zip"), "--case", "nope")
    with pytest.raises(CommandError, match="no collection"):
        call_command("export_cases", str(tmp_path / "x.zip"), "--collection", "999")


def test_difficulty_tags_and_keywords_travel(settings, tmp_path):
    case = _small_case("rich")
    CaseDifficulty.objects.create(case=case, level=Difficulty.FELLOW)
    case.tags.add(Tag.objects.create(kind=Tag.Kind.SYSTEM, name="Chest"))
    case.keywords.add(Keyword.objects.create(name="Air leak"))
    data = bundle_export(cases=[case])
    _empty_installation(settings, tmp_path)
    bundle_import(data)
    imported = Case.objects.get(slug="rich")
    assert imported.difficulty.level == Difficulty.FELLOW
    assert [t.name for t in imported.tags.all()] == ["Chest"]
    assert [k.name for k in imported.keywords.all()] == ["Air leak"]


# -- the admin ----------------------------------------------------------------------------


def test_admin_exports_selected_cases_as_a_bundle(client, staff):
    one, two = _small_case("one"), _small_case("two")
    client.force_login(staff)
    response = client.post(
        "/admin/cases/case/",
        {"action": "bundle_export_action", "_selected_action": [one.pk, two.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="cases-')
    manifest = json.loads(_manifest_and_hashes(response.content)[0])
    assert [c["slug"] for c in manifest["cases"]] == ["one", "two"]


def test_admin_imports_a_bundle_and_reports(client, staff, settings, tmp_path):
    data = bundle_export(cases=[_small_case("one")])
    _empty_installation(settings, tmp_path)
    client.force_login(staff)
    page = client.get("/admin/cases/case/import-bundle/")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()
    assert "Import a bundle" in client.get("/admin/cases/case/").content.decode()
    upload = io.BytesIO(data)
    upload.name = "one.zip"
    response = client.post("/admin/cases/case/import-bundle/", {"bundle": upload}, follow=True)
    assert "Imported 1 case(s) with 1 file(s); skipped 0 already here." in response.content.decode()
    assert Case.objects.filter(slug="one").exists()


def test_admin_import_of_a_bad_bundle_says_why_and_changes_nothing(client, staff):
    client.force_login(staff)
    upload = io.BytesIO(b"not a zip at all")
    upload.name = "bad.zip"
    response = client.post("/admin/cases/case/import-bundle/", {"bundle": upload})
    assert response.status_code == 422
    assert "not a zip file. Nothing was imported." in response.content.decode()
    assert not Case.objects.exists()


def test_admin_import_needs_staff(client, learner):
    client.force_login(learner)
    response = client.get("/admin/cases/case/import-bundle/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_exports_a_collection(client, staff, learner):
    collection = Collection.objects.create(owner=learner, title="Set")
    CollectionItem.objects.create(collection=collection, case=_small_case("one"), position=1)
    client.force_login(staff)
    response = client.post(
        "/admin/cases/collection/",
        {"action": "export_bundle", "_selected_action": [collection.pk]},
    )
    manifest = json.loads(_manifest_and_hashes(response.content)[0])
    assert manifest["collection"]["title"] == "Set"


def test_admin_import_names_the_cases_it_skipped(client, staff):
    data = bundle_export(cases=[_small_case("already-here")])
    client.force_login(staff)
    upload = io.BytesIO(data)
    upload.name = "again.zip"
    response = client.post("/admin/cases/case/import-bundle/", {"bundle": upload}, follow=True)
    assert "skipped 1 already here (already-here)." in response.content.decode()


def test_export_command_prints_progress_per_case(tmp_path, capsys):
    from django.core.management import call_command

    _small_case("first")
    _small_case("second")
    call_command("export_cases", str(tmp_path / "out.zip"))
    captured = capsys.readouterr()
    assert "[1/2] first" in captured.err and "[2/2] second" in captured.err
    assert "Exported 2 case(s)" in captured.out


def _hostile_bundle() -> bytes:
    """A valid bundle whose two slices are the PHI-laden DICOM and JPEG, as they came."""
    case = _small_case("hostile")
    figure = case.figures.get()
    second = Slice(figure=figure, position=1, width=16, height=16)
    second.image.save("b.png", ContentFile(_png(7)), save=True)
    manifest, _ = bundle_read(bundle_export(cases=[case]))
    files = {}
    slices = manifest["cases"][0]["figures"][0]["slices"]
    for slice_, (data, suffix) in zip(
        slices, [(phi_dicom_bytes(), "dcm"), (phi_jpeg_bytes(), "jpg")], strict=True
    ):
        digest = hashlib.sha256(data).hexdigest()
        slice_["file"] = f"files/{digest}.{suffix}"
        files[slice_["file"]] = data
    manifest["files"] = {name: name[6:70] for name in files}
    case.delete()
    return _zip(manifest, files)


def test_import_cases_stores_hostile_images_clean_and_says_what_it_removed(settings, tmp_path):
    data = _hostile_bundle()
    _empty_installation(settings, tmp_path)
    bundle = tmp_path / "hostile.zip"
    bundle.write_bytes(data)
    printed = StringIO()
    call_command("import_cases", str(bundle), stdout=printed)
    assert assert_media_clean(settings.MEDIA_ROOT) == 2
    for slice_ in Slice.objects.all():
        assert slice_.sha256 == hashlib.sha256(slice_.image.read()).hexdigest()
    summary = printed.getvalue().splitlines()[-1]
    assert summary.startswith("De-identification removed")
    for name in ("PatientName", "ProtocolName", "private attributes", "EXIF"):
        assert name in summary


def test_admin_bundle_import_stores_hostile_images_clean(client, staff, settings, tmp_path):
    data = _hostile_bundle()
    _empty_installation(settings, tmp_path)
    client.force_login(staff)
    upload = io.BytesIO(data)
    upload.name = "hostile.zip"
    response = client.post("/admin/cases/case/import-bundle/", {"bundle": upload}, follow=True)
    assert "De-identification removed" in response.content.decode()
    assert assert_media_clean(settings.MEDIA_ROOT) == 2


def test_bundle_entries_are_hashed_and_read_one_at_a_time(settings, tmp_path):
    manifest, _ = _valid_bundle()
    files = {}
    for seed in range(12):  # 12 stored entries of 4 MiB: none of them an image
        data = seed.to_bytes(1, "big") + os.urandom(4 * 1024 * 1024)
        files[f"files/{hashlib.sha256(data).hexdigest()}.png"] = data
    manifest["files"] = {name: name[6:70] for name in files}
    manifest["cases"][0]["figures"][0]["slices"][0]["file"] = next(iter(files))
    bundle = _zip(manifest, files, compression=zipfile.ZIP_STORED)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="not an allowed image format"):
            bundle_import(bundle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # the 48 MiB of entries were never all in memory
    assert not Case.objects.filter(slug="valid").exists()
