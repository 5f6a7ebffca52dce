"""Importing MedPix teaching cases from the MedPix 2.0 data set layout.

Input: ``Case_topic.json`` (a list of cases with their CT and MR image ids, the case text and
the topic), ``Descriptions.json`` (one entry per image: caption, modality, plane, age, sex,
location) and an ``images/`` folder of ``<image id>.png`` files.

Every text the case and its topic hold is kept, as MedPix shows it: the case's discussion
then the topic's (one of them when they say the same), "Diagnosis By", treatment and
follow-up, the topic's references and external links (Reference rows, with PMIDs). Topic
"Keywords" is left out: MedPix runs the words together ("CystArachnoidchildren").

A case is cited as a web page: its contributor when the JSON names one, else the institution,
as author; MedPix's page for it as URL; the import date as access date. The data set dates
neither case nor topic, so the case's year stays empty (it would sort old cases as new) and
the citation gives the year of access, as for an undated web page.

Re-running updates in place, filling in what an earlier import left out: a case is found by
``external_id`` "medpix:<U_id>", its figures are updated by number (keeping their ids and
annotations), and a figure's slice is replaced only when the re-encoded image differs. The
whole import is one transaction; if it fails the files it wrote are deleted, and replaced
files are deleted only after the commit.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from cases.imaging.ingest import (
    ImageRejected,
    PreparedImage,
    file_size_check,
    images_prepare,
    slices_store,
    stored_files_delete,
)
from cases.importers.common import case_slug_free, slug_shorten, tag_get_or_create
from cases.models import Author, Case, Figure, Reference, Tag

INSTITUTION = "U.S. National Library of Medicine"
SOURCE_TEMPLATE = (
    "MedPix case {u_id}, " + INSTITUTION + " (MedPix 2.0 data set, Siragusa et al. 2025)"
)
# MedPix's own pages are addressed by ids the data set does not carry; its search finds a
# case by the MPX id.
URL_TEMPLATE = "https://medpix.nlm.nih.gov/search?allen=true&allt=true&alli=true&query={u_id}"
SITE = "MedPix"
LICENCE = "MedPix (NLM), for education"
# Keys a contributor could be named under, in the case first, then in the topic.
_CONTRIBUTOR_KEYS = ("Author", "Authors", "Contributor", "Contributors")
TITLE_MAX = 120
SLUG_MAX = 120
# Image ids name files inside images_dir: nothing that could climb out of it.
_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TYPE_MODALITY = {"CT": Figure.Modality.CT, "MR": Figure.Modality.MR}
_LIST_MODALITY = {"TAC": Figure.Modality.CT, "MRI": Figure.Modality.MR}
_BULLET = re.compile(r"^\s*(?:[-•*·–]+|\d{1,2}[.)])\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_PMID = re.compile(r"\bPMID:?\s*(\d{1,9})\b", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_NOT_PROVIDED = {"n/a", "na", "none", "not provided", "not available"}
# A case discussion that only sends the reader to the topic's ("Please see factoid.").
_POINTER = re.compile(
    r"^(?:please\s+)?(?:see|refer\s+to)\s+(?:the\s+)?(?:factoid|topic)s?(?:\s+\w+)?[.!]?$",
    re.IGNORECASE,
)
# Texts this alike are one text copied with a few corrections: shown once.
_SAME_TEXT_RATIO = 0.95


class MedpixImportError(Exception):
    """The input files are not in the MedPix 2.0 layout; nothing was written."""


@dataclass
class MedpixResult:
    created: int = 0
    updated: int = 0
    images: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    # What the ingest took out of the images, and its memory for the whole import.
    removed: set[str] = field(default_factory=set)
    replacements: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line, e.g. "Imported 7 cases (7 new, 0 updated) with 30 images; skipped 0."."""
        total = self.created + self.updated
        return (
            f"Imported {total} cases ({self.created} new, {self.updated} updated) with "
            f"{self.images} images; skipped {len(self.skipped)}{':' if self.skipped else '.'}"
        )

    def skipped_lines(self) -> list[str]:
        return [f"{name}: {reason}" for name, reason in self.skipped]


@dataclass(frozen=True)
class _ImageEntry:
    image_id: str
    listed_modality: str
    description: dict[str, Any]


def medpix_import(
    *,
    topics_path: Path,
    descriptions_path: Path,
    images_dir: Path,
    draft: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> MedpixResult:
    """Create or update one case per entry of ``topics_path``; see the module docstring.

    ``progress(done, total, title)`` is called after each case, for a command's progress line.
    """
    topics = _topics_load(Path(topics_path))
    descriptions = _descriptions_load(Path(descriptions_path))
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise MedpixImportError(f"{images_dir}: not a folder of images")
    result = MedpixResult()
    written: list[str] = []
    accessed = timezone.localdate()
    try:
        with transaction.atomic():
            for done, topic in enumerate(topics, start=1):
                _case_import(topic, descriptions, images_dir, draft, accessed, result, written)
                if progress:
                    progress(done, len(topics), str(topic.get("U_id", "")).strip())
    except BaseException:
        stored_files_delete(written)
        raise
    return result


# --- loading and checking the JSON -----------------------------------------------------------


def _json_load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MedpixImportError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MedpixImportError(f"{path}: cannot read ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MedpixImportError(
            f"{path.name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def _topics_load(path: Path) -> list[dict[str, Any]]:
    data = _json_load(path)
    if not isinstance(data, list):
        raise MedpixImportError(
            f"{path.name}: expected a list of cases, found {type(data).__name__}"
        )
    seen: set[str] = set()
    for index, item in enumerate(data, start=1):
        where = f"{path.name}: case {index}"
        u_id = _u_id(item, where)
        if u_id in seen:
            raise MedpixImportError(f"{where}: U_id {u_id!r} appears more than once")
        seen.add(u_id)
        for key in ("Case", "Topic"):
            if not isinstance(item.get(key) or {}, dict):
                raise MedpixImportError(f"{where} ({u_id}): {key!r} must be an object")
        for key in ("TAC", "MRI"):
            ids = item.get(key) or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise MedpixImportError(f"{where} ({u_id}): {key!r} must be a list of image ids")
    return data


def _descriptions_load(path: Path) -> dict[str, dict[str, Any]]:
    """Descriptions by image id."""
    data = _json_load(path)
    if not isinstance(data, list):
        raise MedpixImportError(
            f"{path.name}: expected a list of image descriptions, found {type(data).__name__}"
        )
    by_image: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(data, start=1):
        where = f"{path.name}: description {index}"
        _u_id(item, where)
        image = item.get("image")
        if not isinstance(image, str) or not image.strip():
            raise MedpixImportError(f"{where}: missing 'image'")
        if not isinstance(item.get("Description") or {}, dict):
            raise MedpixImportError(f"{where}: 'Description' must be an object")
        by_image[image.strip()] = item
    return by_image


def _u_id(item: Any, where: str) -> str:
    if not isinstance(item, dict):
        raise MedpixImportError(f"{where}: expected an object, found {type(item).__name__}")
    u_id = item.get("U_id")
    if not isinstance(u_id, str) or not u_id.strip():
        raise MedpixImportError(f"{where}: missing 'U_id'")
    return u_id.strip()


# --- one case --------------------------------------------------------------------------------


def _case_import(
    topic: dict[str, Any],
    descriptions: dict[str, dict[str, Any]],
    images_dir: Path,
    draft: bool,
    accessed: datetime.date,
    result: MedpixResult,
    written: list[str],
) -> None:
    u_id = topic["U_id"].strip()
    entries = _image_entries(topic, descriptions)
    case_text = topic.get("Case") or {}
    topic_text = topic.get("Topic") or {}
    fields = case_fields(
        u_id, case_text, topic_text, [e.description for e in entries], accessed=accessed
    )
    fields["status"] = Case.Status.DRAFT if draft else Case.Status.PUBLISHED
    case = Case.objects.filter(external_id=f"medpix:{u_id}").first()
    if case is None:
        # The slug is set once: a re-import with a corrected title keeps the case's URL.
        case = Case(external_id=f"medpix:{u_id}", slug=_slug_unique(u_id, fields["title"]))
        result.created += 1
    else:
        result.updated += 1
    for name, value in fields.items():
        setattr(case, name, value)
    case.save()
    spoilers = [fields["diagnosis"], fields["title"]]
    modalities = _figures_import(case, entries, images_dir, spoilers, result, written)
    case.unknown_title = unknown_title_build(case.age, case.sex, modalities)
    case.save(update_fields=["unknown_title"])
    _references_replace(case, references_from_topic(topic_text))
    _authors_set(case, case_text, topic_text)
    _tags_set(case, modalities, [e.description for e in entries])
    result.cases.append(case)


def _image_entries(
    topic: dict[str, Any], descriptions: dict[str, dict[str, Any]]
) -> list[_ImageEntry]:
    """The case's images in figure order: TAC (CT) first, then MRI, each as listed."""
    entries: list[_ImageEntry] = []
    for key in ("TAC", "MRI"):
        for image_id in topic.get(key) or []:
            image_id = image_id.strip()
            entries.append(
                _ImageEntry(
                    image_id=image_id,
                    listed_modality=_LIST_MODALITY[key],
                    description=descriptions.get(image_id, {}),
                )
            )
    return entries


def case_fields(
    u_id: str,
    case_text: dict[str, Any],
    topic_text: dict[str, Any],
    descriptions: list[dict[str, Any]],
    *,
    accessed: datetime.date,
) -> dict[str, Any]:
    """The Case field values for one MedPix case (all but figures, tags, authors, references)."""
    discussion = discussion_join(
        text_clean(case_text.get("Discussion")), text_clean(topic_text.get("Disease Discussion"))
    )
    details = [d.get("Description") or {} for d in descriptions]
    return {
        "title": title_clean(
            text_clean(case_text.get("Title")) or text_clean(topic_text.get("Title")) or u_id
        ),
        "history": text_clean(case_text.get("History")),
        "exam": text_clean(case_text.get("Exam")),
        "findings": text_clean(case_text.get("Findings")),
        "differential": differential_clean(text_clean(case_text.get("Differential Diagnosis"))),
        "diagnosis": text_clean(case_text.get("Case Diagnosis")),
        "diagnosis_by": text_clean(case_text.get("Diagnosis By")),
        "treatment": text_clean(case_text.get("Treatment & Follow Up")),
        "discussion": discussion,
        "acr_code": text_clean(topic_text.get("ACR Code"))[:20],
        "category": text_clean(topic_text.get("Category"))[:120],
        "age": _age(details),
        "sex": _sex(details),
        "source": SOURCE_TEMPLATE.format(u_id=u_id),
        "licence": LICENCE,
        "journal": SITE,
        "article_url": URL_TEMPLATE.format(u_id=quote(u_id)),
        "accessed": accessed,
    }


def discussion_join(case_discussion: str, topic_discussion: str) -> str:
    """The case's discussion, then the topic's, as Markdown sections; one when alike.

    A case discussion that only points to the topic's ("Please see factoid.") is left out.
    When one text holds the other, or both are one text with a few corrections, the longer
    is kept alone.
    """
    if _POINTER.match(" ".join(case_discussion.split())):
        case_discussion = ""
    if not case_discussion or not topic_discussion:
        return case_discussion or topic_discussion
    if _alike(case_discussion, topic_discussion):
        return max(case_discussion, topic_discussion, key=len)
    return f"### Case discussion\n\n{case_discussion}\n\n### Topic discussion\n\n{topic_discussion}"


def _alike(first: str, second: str) -> bool:
    a, b = (" ".join(text.split()).lower() for text in (first, second))
    if a in b or b in a:
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # quick_ratio bounds ratio from above: the full comparison only for likely copies.
    return matcher.quick_ratio() >= _SAME_TEXT_RATIO and matcher.ratio() >= _SAME_TEXT_RATIO


def _slug_unique(u_id: str, title: str) -> str:
    base = slug_shorten(slugify(f"medpix-{u_id.lower()}-{title}"), limit=SLUG_MAX)
    return case_slug_free(base, limit=SLUG_MAX)


# --- text ------------------------------------------------------------------------------------


def text_clean(value: Any) -> str:
    """Trimmed text with plain newlines; MedPix's "N/A" (any case, any spacing) is empty."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if " ".join(text.split()).lower() in {"n/a", "n / a"}:
        return ""
    return text


def title_clean(text: str, limit: int = TITLE_MAX) -> str:
    """A readable title: whitespace collapsed; if long, the first line, then first sentence."""
    whole = " ".join(text.split())
    if len(whole) > limit:
        first_line = next((line for line in text.split("\n") if line.strip()), "")
        whole = " ".join(first_line.split())
    if len(whole) > limit:
        whole = _SENTENCE_END.split(whole, maxsplit=1)[0]
    if len(whole) > limit:
        whole = whole[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-") + "…"
    if whole.endswith(".") and not whole.endswith(".."):
        whole = whole[:-1]
    return whole


def differential_clean(text: str) -> str:
    """One diagnosis per line, bullets and numbers stripped; a one-line comma list is split."""
    lines = [_BULLET.sub("", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) == 1 and _is_comma_list(lines[0]):
        lines = [part.strip().rstrip(".") for part in lines[0].split(",") if part.strip()]
    return "\n".join(lines)


def _is_comma_list(line: str) -> bool:
    parts = line.rstrip(".").split(",")
    return len(parts) >= 3 and ". " not in line and all(len(p.strip()) <= 60 for p in parts)


def _age(details: list[dict[str, Any]]) -> int | None:
    for detail in details:
        try:
            age = int(str(detail.get("Age") or "").strip())
        except ValueError:
            continue
        # MedPix stores 0 when the age was not recorded (adults in the data have Age 0).
        if 0 < age < 130:
            return age
    return None


def _sex(details: list[dict[str, Any]]) -> str:
    for detail in details:
        sex = str(detail.get("Sex") or "").strip().lower()
        if sex in ("male", "m"):
            return Case.Sex.MALE
        if sex in ("female", "f"):
            return Case.Sex.FEMALE
    return ""


def unknown_title_build(age: int | None, sex: str, modalities: Iterable[str]) -> str:
    """E.g. "27-year-old man, MRI": age, sex and modalities only, never the diagnosis."""
    child = age is not None and age < 18
    noun = {
        Case.Sex.MALE: "boy" if child else "man",
        Case.Sex.FEMALE: "girl" if child else "woman",
    }.get(sex, "child" if child else "patient")
    person = f"{age}-year-old {noun}" if age is not None else noun.capitalize()
    names = _unique(Figure.Modality(m).label for m in modalities if m)
    if not names:
        return person
    return f"{person}, {' and '.join(names)}"


def _spoiler_words(texts: Iterable[str]) -> tuple[list[str], set[str]]:
    phrases = [" ".join(t.split()).lower() for t in texts if t and t.strip()]
    words = {w.lower() for t in phrases for w in re.findall(r"[A-Za-z]+", t) if len(w) > 5}
    return phrases, words


def unknown_caption_for(caption: str, spoilers: Iterable[str]) -> str:
    """The caption, or "" when it gives the diagnosis away (the phrase or a word of 6+ letters)."""
    phrases, words = _spoiler_words(spoilers)
    lowered = " ".join(caption.split()).lower()
    if any(phrase in lowered for phrase in phrases):
        return ""
    caption_words = {w.lower() for w in re.findall(r"[A-Za-z]+", caption)}
    return "" if caption_words & words else caption


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


# --- figures and images ----------------------------------------------------------------------


def _figures_import(
    case: Case,
    entries: list[_ImageEntry],
    images_dir: Path,
    spoilers: list[str],
    result: MedpixResult,
    written: list[str],
) -> list[str]:
    """Figures 1..n for the images that can be stored; returns their modalities in order."""
    old_files: list[str] = []
    modalities: list[str] = []
    number = 0
    for entry in entries:
        prepared = _image_prepare(entry, images_dir, result)
        if prepared is None:
            continue
        number += 1
        figure = _figure_upsert(case, number, entry, spoilers)
        current = list(figure.slices.all())
        # Unchanged image (same PNG bytes): keep the slice and its file.
        if [s.sha256 for s in current] != _shas(prepared):
            old_files.extend(s.image.name for s in current if s.image.name)
            figure.slices.all().delete()
            stored = slices_store(figure=figure, images=prepared, start_position=0)
            written.extend(s.image.name for s in stored)
        modalities.append(figure.modality)
        result.images += 1
    for figure in case.figures.filter(number__gt=number):
        old_files.extend(s.image.name for s in figure.slices.all() if s.image.name)
        figure.delete()
    # Replaced files go only once the new rows are committed.
    transaction.on_commit(lambda: stored_files_delete(old_files))
    return modalities


def _shas(prepared: list[PreparedImage]) -> list[str]:
    return [hashlib.sha256(p.content).hexdigest() for p in prepared]


def _image_prepare(
    entry: _ImageEntry, images_dir: Path, result: MedpixResult
) -> list[PreparedImage] | None:
    name = f"{entry.image_id}.png"
    if not _IMAGE_ID.match(entry.image_id):
        result.skipped.append((entry.image_id, "invalid image id"))
        return None
    path = images_dir / name
    if not path.is_file():
        result.skipped.append((entry.image_id, f"image file not found ({name})"))
        return None
    try:
        file_size_check(name, path.stat().st_size)
        prepared = images_prepare(
            name=name,
            data=path.read_bytes(),
            replacements=result.replacements,
        )
    except ImageRejected as exc:
        result.skipped.append((entry.image_id, exc.reason))
        return None
    except OSError as exc:
        result.skipped.append((entry.image_id, f"cannot read the image ({exc})"))
        return None
    result.removed.update(name for image in prepared for name in image.removed)
    return prepared


def _figure_upsert(case: Case, number: int, entry: _ImageEntry, spoilers: list[str]) -> Figure:
    detail = entry.description.get("Description") or {}
    modality = _TYPE_MODALITY.get(
        str(entry.description.get("Type") or "").strip().upper(), entry.listed_modality
    )
    plane = text_clean(detail.get("Plane"))[:40]
    caption = text_clean(detail.get("Caption"))
    label = Figure.Modality(modality).label
    values = {
        "label": f"Figure {number}",
        "caption": caption,
        "unknown_caption": unknown_caption_for(caption, spoilers),
        "alt_text": ", ".join(part for part in (label, plane) if part)[:300],
        "modality": modality,
        "plane": plane,
        "technique": " ".join(text_clean(detail.get("Modality")).split())[:300],
    }
    figure, _ = Figure.objects.update_or_create(case=case, number=number, defaults=values)
    return figure


# --- references and tags ---------------------------------------------------------------------


def _references_replace(case: Case, rows: list[dict[str, str]]) -> None:
    case.references.all().delete()
    Reference.objects.bulk_create(
        Reference(case=case, order=order, **parts) for order, parts in enumerate(rows, start=1)
    )


def references_from_topic(topic_text: dict[str, Any]) -> list[dict[str, str]]:
    """The topic's references, then PMIDs its discussion cites unlisted, then its links."""
    rows = references_parse(str(topic_text.get("Reference") or ""))
    listed = {row["pmid"] for row in rows if row["pmid"]}
    for pmid in _unique(_PMID.findall(text_clean(topic_text.get("Disease Discussion")))):
        if pmid not in listed:
            rows.append(_reference_parts(f"Cited in the topic discussion: PMID {pmid}"))
    rows.extend(external_links_parse(str(topic_text.get("External Links") or "")))
    return rows


def external_links_parse(text: str) -> list[dict[str, str]]:
    """Reference rows for MedPix's "External Links": one per address, a scheme added."""
    rows = []
    for link in text_clean(text).split():
        link = link.rstrip(".,;")
        if link.lower() in _NOT_PROVIDED or "." not in link:
            continue
        url = link if re.match(r"https?://", link, re.IGNORECASE) else f"http://{link}"
        rows.append(
            {
                "text": f"External link: {link}",
                "pmid": "",
                "doi": "",
                "url": url if len(url) <= 500 else "",
            }
        )
    return rows


def references_parse(text: str) -> list[dict[str, str]]:
    """Reference rows from MedPix's free text: text, and PMID, DOI and URL when present.

    Items start at lines beginning with "-", a bullet or a number; other lines continue the
    item before. Without such markers, blank lines separate items, or else each line is one.
    """
    cleaned = text_clean(text)
    if not cleaned or cleaned.lower() in _NOT_PROVIDED:
        return []
    lines = cleaned.split("\n")
    if any(_BULLET.match(line) for line in lines if line.strip()):
        items = _items_by_marker(lines)
    elif any(not line.strip() for line in lines):
        items = [" ".join(block.split()) for block in re.split(r"\n\s*\n", cleaned)]
    else:
        items = [" ".join(line.split()) for line in lines]
    rows: list[dict[str, str]] = []
    for item in items:
        item = item.strip()
        if not item or item.rstrip(":").lower() in ("references", "reference"):
            continue
        rows.append(_reference_parts(item))
    return rows


def _items_by_marker(lines: list[str]) -> list[str]:
    items: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if _BULLET.match(line) or not items:
            items.append(_BULLET.sub("", line).strip())
        else:
            items[-1] = f"{items[-1]} {line.strip()}"
    return [" ".join(item.split()) for item in items]


def _reference_parts(item: str) -> dict[str, str]:
    parts = {"text": item, "pmid": "", "doi": "", "url": ""}
    if match := _PMID.search(item):
        parts["pmid"] = match.group(1)
    if match := _DOI.search(item):
        parts["doi"] = match.group(1).rstrip(".,;)")[:200]
    if match := _URL.search(item):
        url = match.group(0).rstrip(".,;)")
        if len(url) <= 500:
            parts["url"] = url
    return parts


def contributors(case_text: dict[str, Any], topic_text: dict[str, Any]) -> list[str]:
    """The people the JSON names as the case's (else the topic's) contributors, if any."""
    for text in (case_text, topic_text):
        for key in _CONTRIBUTOR_KEYS:
            names = re.split(r"\s*(?:;|\n|\band\b)\s*", text_clean(text.get(key)))
            names = [name.strip(" ,.") for name in names if name.strip(" ,.")]
            if names:
                return names
    return []


def _authors_set(case: Case, case_text: dict[str, Any], topic_text: dict[str, Any]) -> None:
    """The contributors as authors, or the institution; rows already right are kept."""
    wanted = [(name[:200], False) for name in contributors(case_text, topic_text)]
    wanted = wanted or [(INSTITUTION, True)]
    current = list(case.authors.all())
    if [(a.name, a.is_organisation) for a in current] == wanted:
        return  # keeps any account linked to an author in the admin
    case.authors.all().delete()
    Author.objects.bulk_create(
        Author(case=case, order=order, name=name, is_organisation=organisation)
        for order, (name, organisation) in enumerate(wanted, start=1)
    )


def _tags_set(case: Case, modalities: list[str], descriptions: list[dict[str, Any]]) -> None:
    tags = [
        tag_get_or_create(kind=Tag.Kind.MODALITY, name=Figure.Modality(m).label)
        for m in _unique(modalities)
    ]
    systems = _unique(
        text_clean(d.get(key)) for d in descriptions for key in ("Location Category", "Location")
    )
    tags.extend(tag_get_or_create(kind=Tag.Kind.SYSTEM, name=name) for name in systems)
    case.tags.set(tags)
