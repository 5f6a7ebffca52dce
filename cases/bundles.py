"""Case bundles: cases (or a collection) as a zip another installation imports unchanged.

A bundle holds ``manifest.json`` and ``files/<sha256>.<ext>``, the stored originals of every
slice, named by their content. The manifest has a format name and a version; it lists each
case with everything an author wrote (authors, figures with annotations and slices, tables,
references, abbreviations, keywords, tags, difficulty), keyed by the case's public id, and
no database ids, times or generated file names. So exporting, importing into an empty
installation and exporting again gives the same manifest and the same files, byte for byte
(the zip itself too: fixed times, sorted entries).

Import checks the bundle before it writes anything (format, version, entry names, sizes and
compression ratios, duplicate ids, every file present and matching its hash: entries are
hashed as they stream, one at a time, never all held in memory), then writes in one
transaction. Every image goes through the one ingest (``images_prepare``: format by content,
limits, de-identification, re-encoding), like an upload: a bundle is never a way to store
bytes as they came. Since the ingest of a file it wrote changes nothing, a bundle exported
here still round-trips byte for byte. If anything fails, the rows roll back and the files
written so far are deleted. A case whose public id is already here is skipped, so importing a
bundle twice adds nothing the second time.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction

from .imaging.ingest import (
    INGEST_MAX_ENCODED_BYTES,
    ImageRejected,
    images_prepare,
    removed_summary,
    stored_files_delete,
)
from .library.models import CaseDifficulty, Collection, CollectionItem
from .models import (
    Abbreviation,
    Affiliation,
    Annotation,
    Author,
    Case,
    Figure,
    Keyword,
    Reference,
    Slice,
    Table,
    TableRow,
    Tag,
)

FORMAT = "caseviewer-bundle"
VERSION = 1
MANIFEST = "manifest.json"
MAX_BYTES = getattr(settings, "BUNDLE_MAX_BYTES", 2 * 1024**3)
MAX_RATIO = 200  # uncompressed / compressed: anything beyond is a zip bomb, not an image
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# A stored file is at most an ingested file: its decoded pixels and a header.
MAX_FILE_BYTES = INGEST_MAX_ENCODED_BYTES
_CHUNK = 1024 * 1024
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)
_FILE_NAME = re.compile(r"files/([0-9a-f]{64})\.([a-z0-9]{1,5})")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Fields never exported: database identity, times, generated names, links to accounts.
_SKIPPED = {"id", "created", "updated", "public_id", "token", "image", "sha256"}


class BundleError(ValueError):
    """A bundle that cannot be imported; the message says why, and nothing was changed."""


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    files: int = 0
    collection: str = ""
    removed: set[str] = field(default_factory=set)

    def removed_line(self) -> str:
        """What the ingest took out of the bundle's images, for the summary; or ""."""
        return removed_summary(self.removed)


# -- export ---------------------------------------------------------------------------------


def _fields(obj: models.Model, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The plain fields of ``obj`` (no relations, ids or times), by name; dates in ISO form."""
    skipped = _SKIPPED | set(skip)
    values = {
        f.name: f.value_from_object(obj)
        for f in obj._meta.concrete_fields
        if not f.is_relation and f.name not in skipped
    }
    # JSON has no dates; the import's field cleaning reads the ISO form back.
    return {
        name: value.isoformat() if isinstance(value, datetime.date) else value
        for name, value in values.items()
    }


def _slice_file(slice_: Slice) -> tuple[str, bytes]:
    with slice_.image.open("rb") as handle:
        data = handle.read()
    suffix = PurePosixPath(slice_.image.name).suffix.lstrip(".").lower() or "bin"
    return f"files/{hashlib.sha256(data).hexdigest()}.{suffix}", data


def _case_entry(case: Case, files: dict[str, bytes]) -> dict[str, Any]:
    entry = _fields(case, skip={"slug"})
    entry["uid"] = case.public_id
    entry["slug"] = case.slug
    difficulty = CaseDifficulty.objects.filter(case=case).first()
    entry["difficulty"] = difficulty.level if difficulty else None
    entry["tags"] = sorted(
        ({"kind": t.kind, "name": t.name, "slug": t.slug} for t in case.tags.all()),
        key=lambda t: (t["kind"], t["slug"]),
    )
    entry["keywords"] = sorted(k.name for k in case.keywords.all())
    entry["affiliations"] = [_fields(a) for a in case.affiliations.order_by("number")]
    entry["authors"] = [_fields(a) for a in case.authors.order_by("order", "id")]
    entry["references"] = [_fields(r) for r in case.references.order_by("order", "id")]
    entry["abbreviations"] = [
        _fields(a) for a in case.abbreviations.order_by("abbreviation", "expansion")
    ]
    entry["tables"] = [
        {**_fields(t), "rows": [row.cells for row in t.rows.order_by("order", "id")]}
        for t in case.tables.order_by("number")
    ]
    figures = []
    for figure in case.figures.order_by("number"):
        slices = []
        for slice_ in figure.slices.order_by("position", "id"):
            name, data = _slice_file(slice_)
            files[name] = data
            slices.append({**_fields(slice_), "file": name})
        annotations = [_fields(a) for a in figure.annotations.order_by("id")]
        figures.append({**_fields(figure), "annotations": annotations, "slices": slices})
    entry["figures"] = figures
    return entry


def bundle_export(
    *,
    cases: Iterable[Case],
    collection: Collection | None = None,
    progress: Callable[[int, int, Case], None] | None = None,
) -> bytes:
    """The bundle of ``cases`` (in the given order), and of ``collection`` if given, as bytes.

    ``progress(n, total, case)`` is called before each case is read.
    """
    files: dict[str, bytes] = {}
    cases = list(cases)
    entries = []
    for number, case in enumerate(cases, start=1):
        if progress:
            progress(number, len(cases), case)
        entries.append(_case_entry(case, files))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "cases": entries,
        "files": {name: name[6:70] for name in sorted(files)},
    }
    if collection is not None:
        manifest["collection"] = {
            "title": collection.title,
            "description": collection.description,
            "cases": [entry["uid"] for entry in entries],
        }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _zip_write(archive, MANIFEST, manifest_dump(manifest), zipfile.ZIP_DEFLATED)
        for name in sorted(files):
            _zip_write(archive, name, files[name], zipfile.ZIP_STORED)
    return buffer.getvalue()


def bundle_export_collection(
    collection: Collection, *, progress: Callable[[int, int, Case], None] | None = None
) -> bytes:
    cases = [item.case for item in collection.items.select_related("case").order_by("position")]
    return bundle_export(cases=cases, collection=collection, progress=progress)


def manifest_dump(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _zip_write(archive: zipfile.ZipFile, name: str, data: bytes, compression: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# -- reading and checking ---------------------------------------------------------------------


def _entry_name_check(name: str) -> None:
    path = PurePosixPath(name)
    if (
        "\\" in name
        or name.startswith("/")
        or ".." in path.parts
        or re.match(r"^[A-Za-z]:", name)
        or "\x00" in name
    ):
        raise BundleError(f"unsafe file name in the bundle: {name!r}")
    if name != MANIFEST and not _FILE_NAME.fullmatch(name):
        raise BundleError(f"unexpected file in the bundle: {name!r}")


class Bundle:
    """An open, checked bundle: its manifest, and its files read one at a time."""

    def __init__(self, archive: zipfile.ZipFile, manifest: dict[str, Any], names: set[str]):
        self.archive = archive
        self.manifest = manifest
        self.names = names

    def read(self, name: str) -> bytes:
        """One file, its size capped again (the listing's sizes can lie, the stream cannot)."""
        try:
            with self.archive.open(name) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except _ZIP_ERRORS as exc:
            raise BundleError(f"the bundle is damaged: {exc}") from exc
        if len(data) > MAX_FILE_BYTES:
            raise BundleError(f"{name} is larger than {MAX_FILE_BYTES} bytes")
        return data

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def bundle_open(source: bytes | IO[bytes]) -> Bundle:
    """Open and check a bundle (bytes or a file); raise BundleError with the reason.

    The names, sizes and compression ratios are checked from the listing before anything is
    decompressed; then every file is hashed as it streams, a chunk at a time.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except _ZIP_ERRORS as exc:
        raise BundleError("not a zip file") from exc
    try:
        manifest, names = _archive_check(archive)
    except BaseException:
        archive.close()
        raise
    return Bundle(archive, manifest, names)


def bundle_read(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every file of a small bundle, in memory (for tools and tests)."""
    with bundle_open(data) as bundle:
        return bundle.manifest, {name: bundle.read(name) for name in sorted(bundle.names)}


def _archive_check(archive: zipfile.ZipFile) -> tuple[dict[str, Any], set[str]]:
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(names) != len(set(names)):
        raise BundleError("the bundle holds the same file name twice")
    total = 0
    for info in infos:
        _entry_name_check(info.filename)
        total += info.file_size
        if total > MAX_BYTES:
            raise BundleError(f"the bundle unpacks to more than {MAX_BYTES} bytes")
        limit = MAX_MANIFEST_BYTES if info.filename == MANIFEST else MAX_FILE_BYTES
        if info.file_size > limit:
            raise BundleError(f"{info.filename} is larger than {limit} bytes")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise BundleError(f"{info.filename} is compressed suspiciously well")
    if MANIFEST not in names:
        raise BundleError("the bundle has no manifest.json")
    try:
        with archive.open(MANIFEST) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except _ZIP_ERRORS as exc:
        # A damaged entry (CRC, header, stream), an unsupported method or encryption.
        raise BundleError(f"the bundle is damaged: {exc}") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"manifest.json is not valid JSON: {exc}") from exc
    files = {name for name in names if name != MANIFEST}
    try:
        _manifest_check(manifest, files)
    except (AttributeError, TypeError, KeyError) as exc:
        # A list where an object belongs, or the like, deeper in the manifest.
        raise BundleError(f"the manifest has an unexpected shape: {exc}") from exc
    for info in infos:
        if info.filename != MANIFEST:
            _entry_hash_check(archive, info, manifest["files"])
    return manifest, files


def _entry_hash_check(archive: zipfile.ZipFile, info: zipfile.ZipInfo, listed: dict) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise BundleError(f"{info.filename} is larger than {MAX_FILE_BYTES} bytes")
                digest.update(chunk)
    except _ZIP_ERRORS as exc:
        raise BundleError(f"the bundle is damaged: {exc}") from exc
    name = info.filename
    if name[6:70] != digest.hexdigest() or listed.get(name) != digest.hexdigest():
        raise BundleError(f"{name} does not match its hash: the bundle is damaged")


def _manifest_check(manifest: Any, files: set[str]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"not a CaseViewer bundle (format is not {FORMAT!r})")
    version = manifest.get("version")
    if version != VERSION:
        raise BundleError(
            f"unsupported bundle version {version!r}: this installation reads version {VERSION}"
        )
    cases = manifest.get("cases")
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise BundleError("the manifest's cases must be a list of objects")
    for key in ("uid", "slug"):
        values = [case.get(key) for case in cases]
        if any(not isinstance(v, str) or not v for v in values):
            raise BundleError(f"every case needs a {key}")
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise BundleError(f"duplicate case {key} in the bundle: {', '.join(duplicates)}")
    listed = manifest.get("files", {})
    if not isinstance(listed, dict):
        raise BundleError("the manifest's files must be an object")
    for name in files:
        if name not in listed:
            raise BundleError(f"{name} does not match its hash: the bundle is damaged")
    for case in cases:
        for figure in case.get("figures", []):
            for slice_ in figure.get("slices", []):
                name = slice_.get("file", "")
                if name not in files:
                    raise BundleError(f"case {case['slug']}: file {name!r} is missing")
    collection = manifest.get("collection")
    if collection is not None:
        uids = {case["uid"] for case in cases}
        if not isinstance(collection, dict) or not set(collection.get("cases", [])) <= uids:
            raise BundleError("the collection lists cases the bundle does not hold")


# -- import ---------------------------------------------------------------------------------


def _build(model: type[models.Model], values: dict[str, Any], **relations) -> models.Model:
    """An unsaved instance from manifest values: unknown keys refused, fields validated."""
    names = {
        f.name for f in model._meta.concrete_fields if not f.is_relation and f.name not in _SKIPPED
    }
    unknown = set(values) - names
    if unknown:
        raise BundleError(f"{model.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    obj = model(**values, **relations)
    try:
        obj.clean_fields(exclude=[*relations, "image", "token", "public_id"])
    except ValidationError as exc:
        raise BundleError(f"{model.__name__}: {exc.message_dict}") from exc
    return obj


def _case_conflicts(entry: dict[str, Any]) -> None:
    if Case.objects.filter(slug=entry["slug"]).exists():
        raise BundleError(f"case {entry['slug']}: the slug is taken by another case here")
    external = entry.get("external_id", "")
    if external and Case.objects.filter(external_id=external).exists():
        raise BundleError(f"case {entry['slug']}: external id {external} exists here already")


@dataclass
class _Intake:
    """What the slices of one bundle import share: the bundle and the ingest's memory."""

    bundle: Bundle
    written: list[str]
    report: ImportReport
    replacements: dict[str, str] = field(default_factory=dict)


def _slice_import(intake: _Intake, figure: Figure, values: dict[str, Any]) -> None:
    values = dict(values)
    name = values.pop("file")
    try:
        prepared = images_prepare(
            name=name,
            data=intake.bundle.read(name),
            replacements=intake.replacements,
        )
    except ImageRejected as exc:
        raise BundleError(f"{name}: {exc.reason}") from exc
    if len(prepared) != 1:
        raise BundleError(f"{name}: a multi-frame file where one slice was expected")
    image = prepared[0]
    intake.report.removed.update(image.removed)
    slice_ = _build(Slice, values, figure=figure)
    # What the pixels say wins over what the manifest says.
    for name, value in image.slice_fields().items():
        setattr(slice_, name, value)
    slice_.image.save(f"x.{image.suffix}", ContentFile(image.content), save=False)
    intake.written.append(slice_.image.name)
    slice_.save()


def _case_import(entry: dict[str, Any], intake: _Intake) -> Case:
    values = {
        k: v
        for k, v in entry.items()
        if k
        not in {
            "uid",
            "difficulty",
            "tags",
            "keywords",
            "affiliations",
            "authors",
            "references",
            "abbreviations",
            "tables",
            "figures",
        }
    }
    case = _build(Case, values)
    case.public_id = entry["uid"]
    case.save()
    if entry.get("difficulty") is not None:
        level = _build(CaseDifficulty, {"level": entry["difficulty"]}, case=case)
        level.save()
    tags = []
    for tag in entry.get("tags", []):
        found = Tag.objects.filter(kind=tag["kind"], slug=tag["slug"]).first()
        tags.append(
            found or Tag.objects.create(kind=tag["kind"], name=tag["name"], slug=tag["slug"])
        )
    case.tags.set(tags)
    keywords = []
    for name in entry.get("keywords", []):
        found = Keyword.objects.filter(name__iexact=name).first()
        keywords.append(found or Keyword.objects.create(name=name))
    case.keywords.set(keywords)
    for model, key in (
        (Affiliation, "affiliations"),
        (Author, "authors"),
        (Reference, "references"),
        (Abbreviation, "abbreviations"),
    ):
        model.objects.bulk_create(_build(model, values, case=case) for values in entry.get(key, []))
    for values in entry.get("tables", []):
        rows = values.pop("rows", []) if isinstance(values, dict) else []
        table = _build(Table, values, case=case)
        table.save()
        TableRow.objects.bulk_create(
            TableRow(table=table, order=order, cells=cells) for order, cells in enumerate(rows)
        )
    for values in entry.get("figures", []):
        values = dict(values)
        annotations = values.pop("annotations", [])
        slices = values.pop("slices", [])
        figure = _build(Figure, values, case=case)
        figure.save()
        Annotation.objects.bulk_create(_build(Annotation, a, figure=figure) for a in annotations)
        for slice_values in slices:
            _slice_import(intake, figure, slice_values)
    return case


def bundle_import(source: bytes | IO[bytes], *, owner=None) -> ImportReport:
    """Import a bundle (bytes or a file): all of it or, on any error, nothing.

    BundleError says why. Cases already here (same public id) are skipped. With ``owner``,
    the bundle's collection (if any) is created for that user, unless they have one of that
    title.
    """
    with bundle_open(source) as bundle:
        return _bundle_import(bundle, owner=owner)


def _bundle_import(bundle: Bundle, *, owner) -> ImportReport:
    manifest = bundle.manifest
    report = ImportReport()
    new_entries = []
    for entry in manifest["cases"]:
        if Case.objects.filter(public_id=entry["uid"]).exists():
            report.skipped.append(entry["slug"])
        else:
            _case_conflicts(entry)
            new_entries.append(entry)
    written: list[str] = []
    intake = _Intake(bundle=bundle, written=written, report=report)
    try:
        with transaction.atomic():
            for entry in new_entries:
                _case_import(json.loads(json.dumps(entry)), intake)
                report.imported.append(entry["slug"])
            report.files = len(written)
            collection = manifest.get("collection")
            if collection and owner is not None:
                report.collection = _collection_import(collection, owner=owner)
    except BundleError:
        stored_files_delete(written)
        raise
    except Exception as exc:
        stored_files_delete(written)
        raise BundleError(f"import failed, nothing was changed: {exc}") from exc
    return report


def _collection_import(values: dict[str, Any], *, owner) -> str:
    title = str(values.get("title") or "Imported collection")[:200]
    if Collection.objects.filter(owner=owner, title=title).exists():
        return ""
    collection = Collection.objects.create(
        owner=owner, title=title, description=str(values.get("description", ""))
    )
    by_uid = {c.public_id: c for c in Case.objects.filter(public_id__in=values.get("cases", []))}
    CollectionItem.objects.bulk_create(
        CollectionItem(collection=collection, case=by_uid[uid], position=position)
        for position, uid in enumerate(values.get("cases", []), start=1)
        if uid in by_uid
    )
    return title
