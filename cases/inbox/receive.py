"""One received DICOM instance into the inbox, and a received study into its draft case.

Every door that brings instances from a PACS (the DICOM receiver, the DICOMweb pull) calls
``instance_receive``: the instance goes through the one ingest (``cases/imaging/ingest.py``:
bomb limits, PS3.15 de-identification, re-encoding) before anything is written, with a
de-identification memory keyed by the installation's secret (``KeyedReplacements``), so the
same study, series, instance and patient get the same new UIDs and pseudonym on every send.
The original bytes are never stored. What the draft case needs from the header (age, sex,
month of the study, description, burned-in text flags) is read before de-identification and
kept only in the coarse form the case shows.

A study is assembled into its draft case (title, slices sorted, the authors told) when the
association that sent it ends, or after ``INBOX_IDLE_SECONDS`` without a new instance.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta

import pydicom
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from cases.imaging.deid import KeyedReplacements, replacement_remember
from cases.imaging.ingest import (
    ImageRejected,
    PreparedImage,
    dicom_prepare,
    dicom_read,
    file_size_check,
    slices_store,
    stored_files_delete,
)
from cases.importers.dicom import SeriesDescription, series_describe
from cases.models import Case, Figure, Slice

from .keyobjects import key_object_read, key_objects_apply
from .models import InboxInstance, InboxKeyObject, InboxSeries, InboxStudy

logger = logging.getLogger(__name__)

INBOX_IDLE_SECONDS = 120
INBOX_KEEP_DAYS = 2
# Secondary capture (single and multi-frame): screenshots, often with text burned in.
_SECONDARY_CAPTURE = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",
)
_ULTRASOUND = ("US",)
# A person of 90 or more is shown as 90 (HIPAA Safe Harbor: exact great ages identify).
AGE_CAP = 90
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def pseudonym_key() -> str:
    """The secret behind pseudonyms and UIDs: changing it unlinks every later study."""
    return getattr(settings, "DEID_PSEUDONYM_KEY", "") or settings.SECRET_KEY


def replacements_new() -> KeyedReplacements:
    return KeyedReplacements(pseudonym_key())


@dataclass(frozen=True)
class InstanceHeader:
    """What the inbox keeps of one instance's header: keys, pseudonym and coarse facts."""

    study_key: str
    series_key: str
    instance_key: str
    patient: str
    modality: str
    body_part: str
    description: str
    study_month: str
    age: int | None
    sex: str
    burned_in: str
    instance_number: int | None


class Outcome:
    STORED = "stored"
    DUPLICATE = "duplicate"
    KEY_OBJECT = "key object"


@dataclass(frozen=True)
class Received:
    outcome: str
    study_id: int | None  # None: a key object selection whose study has not come yet
    slices: int = 0


def header_read(ds: Dataset, memory: dict[str, str]) -> InstanceHeader:
    """Keys and coarse facts from the original header (call before de-identifying it)."""

    def uid(keyword: str) -> str:
        value = str(ds.get(keyword, "") or "")
        if not value:
            raise ImageRejected("instance", f"no {keyword}")
        return replacement_remember(memory, f"uid:{value}")

    patient_id = str(ds.get("PatientID", "") or "")
    issuer = str(ds.get("IssuerOfPatientID", "") or "")
    return InstanceHeader(
        study_key=uid("StudyInstanceUID"),
        series_key=uid("SeriesInstanceUID"),
        instance_key=uid("SOPInstanceUID"),
        # Without an id the patient cannot be linked: a pseudonym of the study alone.
        patient=replacement_remember(
            memory,
            f"patient:{issuer}|{patient_id}"
            if patient_id
            else f"patient:{ds.get('StudyInstanceUID')}",
        ),
        modality=_text(ds, "Modality", 16).upper(),
        body_part=_text(ds, "BodyPartExamined", 64),
        description=description_clean(ds),
        study_month=_month(str(ds.get("StudyDate", "") or "")),
        age=age_years(ds),
        sex=_sex(ds),
        burned_in=burned_in_reason(ds),
        instance_number=_int(ds.get("InstanceNumber")),
    )


def burned_in_reason(ds: Dataset) -> str:
    """Why an image may carry burned-in text (names, dates), or "" when nothing says so."""
    reasons = []
    if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        reasons.append("BurnedInAnnotation YES")
    if str(ds.get("Modality", "") or "").strip().upper() in _ULTRASOUND:
        reasons.append("ultrasound")
    if str(ds.get("SOPClassUID", "") or "") in _SECONDARY_CAPTURE:
        reasons.append("secondary capture")
    return ", ".join(reasons)


def description_clean(ds: Dataset) -> str:
    """The study description without the patient's name parts or id, should it hold them."""
    return free_text_clean(ds, str(ds.get("StudyDescription", "") or ""), limit=200)


# Identifiers a sender may type into free text besides the names (every PN of the header).
_IDENTIFIERS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName")


def free_text_clean(ds: Dataset, text: str, *, limit: int, mark: str = "") -> str:
    """``text`` without the name parts and identifiers ``ds`` holds, nor any full date.

    For free text from a header (a study description, a key object's comment): a name in it
    that the header does not hold cannot be found here, which is why no other free text of a
    header is kept. What is taken out is replaced by ``mark``, so a sentence still reads.
    """
    text = " ".join(text.split())
    parts: set[str] = set()
    for element in ds.iterall():
        if element.VR == "PN" and element.value:
            names = element.value if isinstance(element.value, MultiValue) else [element.value]
            for name in names:
                parts.update(p for p in re.split(r"[\^ ,=]+", str(name)) if len(p) > 1)
    for keyword in _IDENTIFIERS:
        value = ds.get(keyword) or []
        parts.update(str(v) for v in (value if isinstance(value, list | MultiValue) else [value]))
    # Whole words, longest first, so "MARY" does not leave the tail of "MARYANNE" and "LI" is
    # not taken out of "clinical"; in one pass, so no part matches inside a mark.
    found = sorted(filter(None, parts), key=len, reverse=True)
    if found:
        pattern = "|".join(re.escape(part) for part in found)
        text = re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", mark, text, flags=re.IGNORECASE)
    # Dates (19610203, 2024-03-15, 03/02/1961) are dropped too: only the month is kept.
    text = re.sub(r"\b\d{4}-?\d{2}-?\d{2}\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b", mark, text)
    return " ".join(text.split()).strip(" ,;:-")[:limit]


def age_years(ds: Dataset) -> int | None:
    """Whole years, from PatientAge or the birth and study dates; 90 and over as 90."""
    age = str(ds.get("PatientAge", "") or "").strip().upper()
    years: int | None = None
    if re.fullmatch(r"\d{3}[DWMY]", age):
        number, unit = int(age[:3]), age[3]
        years = {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]
    else:
        born = _date(str(ds.get("PatientBirthDate", "") or ""))
        studied = _date(str(ds.get("StudyDate", "") or ""))
        if born and studied and studied >= born:
            years = (
                studied.year - born.year - ((studied.month, studied.day) < (born.month, born.day))
            )
    return None if years is None else min(years, AGE_CAP)


def _sex(ds: Dataset) -> str:
    sex = str(ds.get("PatientSex", "") or "").strip().upper()
    return sex if sex in ("M", "F", "O") else ""


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    return " ".join(str(ds.get(keyword, "") or "").split())[:limit]


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _month(text: str) -> str:
    found = _date(text)
    return f"{found.year:04d}-{found.month:02d}" if found else ""


# --- receiving --------------------------------------------------------------------------------


def instance_receive(
    *,
    data: bytes,
    calling_ae: str = "",
    source: str = InboxStudy.Source.DICOM,
    name: str = "instance",
) -> Received:
    """Ingest one instance into its study's draft case; ImageRejected if it is not storable.

    A second send of an instance already stored is recognised by its new SOP Instance UID and
    stores nothing. Database and disk errors propagate (the caller answers a failure).
    """
    ds = dicom_read(name, data)
    memory = replacements_new()
    header = header_read(ds, memory)
    existing = InboxInstance.objects.filter(key=header.instance_key).values("series__study_id")
    if found := existing.first():
        return Received(Outcome.DUPLICATE, found["series__study_id"])
    description = series_describe(ds)
    # The one ingest: per-file bomb limits, de-identification (with the same keyed memory,
    # so the stored UIDs are the keys above), re-encoding. Nothing was written before this.
    prepared = dicom_prepare(name=name, ds=ds, replacements=memory)
    return _instance_store(header, description, prepared, calling_ae, source)


def key_object_receive(*, data: bytes, calling_ae: str = "", name: str = "instance") -> Received:
    """Keep a Key Object Selection for its study's draft case; ImageRejected if unreadable.

    Only what the selection says is kept (the de-identified keys of the instances it selects,
    its title, its comment cleaned of the names and identifiers its header holds); it is
    applied when its study is assembled. A second send of one selection changes nothing.
    """
    file_size_check(name, len(data))
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        selection = key_object_read(ds, replacements_new())
        comment = free_text_clean(ds, "\n".join(selection.texts), limit=4000, mark="[removed]")
        title = free_text_clean(ds, selection.title, limit=200)
    except Exception as exc:  # pydicom raises many types on a damaged dataset
        raise ImageRejected(name, f"unreadable key object selection ({exc})") from exc
    with transaction.atomic():
        _, created = InboxKeyObject.objects.get_or_create(
            key=selection.key,
            defaults={
                "study_key": selection.study_key,
                "title": title,
                "comment": comment,
                "pending": selection.references,
                "selected": len(selection.references),
                "calling_ae": calling_ae[:64],
            },
        )
        study = InboxStudy.objects.filter(key=selection.study_key).first()
        if study is not None and created:
            # The idle sweep applies it too, should the association that brought it not end.
            InboxStudy.objects.filter(pk=study.pk).update(last_received=timezone.now())
    outcome = Outcome.KEY_OBJECT if created else Outcome.DUPLICATE
    return Received(outcome, study.pk if study else None)


def _instance_store(
    header: InstanceHeader,
    description: SeriesDescription,
    prepared: list[PreparedImage],
    calling_ae: str,
    source: str,
) -> Received:
    written: list[str] = []
    try:
        with transaction.atomic():
            study = _study_get_or_create(header, calling_ae, source)
            series = _series_get_or_create(study, header, description)
            highest = series.figure.slices.aggregate(highest=Max("position"))["highest"]
            start = 0 if highest is None else highest + 1
            slices = slices_store(figure=series.figure, images=prepared, start_position=start)
            written = [s.image.name for s in slices]
            InboxInstance.objects.create(
                series=series,
                key=header.instance_key,
                instance_number=header.instance_number,
                slice_ids=[s.pk for s in slices],
            )
            InboxStudy.objects.filter(pk=study.pk).update(last_received=timezone.now())
    except IntegrityError:
        stored_files_delete(written)
        # Another association stored the same instance a moment ago.
        existing = InboxInstance.objects.filter(key=header.instance_key)
        if found := existing.values("series__study_id").first():
            return Received(Outcome.DUPLICATE, found["series__study_id"])
        raise
    except BaseException:
        stored_files_delete(written)
        raise
    return Received(Outcome.STORED, study.pk, len(slices))


def _study_get_or_create(header: InstanceHeader, calling_ae: str, source: str) -> InboxStudy:
    study = InboxStudy.objects.filter(key=header.study_key).first()
    if study is not None:
        return study
    with transaction.atomic():  # a savepoint: a concurrent create leaves ours to retry
        try:
            case = Case.objects.create(
                slug=f"inbox-{header.study_key.rsplit('.', 1)[-1][:16]}",
                title=f"{header.modality or 'DICOM'} study (receiving)",
                status=Case.Status.DRAFT,
                age=header.age,
                sex=header.sex,
                source=f"Received from {calling_ae or 'a PACS'}; de-identified on arrival.",
            )
            return InboxStudy.objects.create(
                key=header.study_key,
                case=case,
                patient=header.patient,
                source=source,
                calling_ae=calling_ae[:64],
                modality=header.modality,
                body_part=header.body_part,
                description=header.description,
                study_month=header.study_month,
            )
        except IntegrityError:
            pass
    return InboxStudy.objects.get(key=header.study_key)


def _series_get_or_create(
    study: InboxStudy, header: InstanceHeader, description: SeriesDescription
) -> InboxSeries:
    series = InboxSeries.objects.select_related("figure").filter(key=header.series_key).first()
    if series is not None:
        if header.burned_in and not series.burned_in:
            series.burned_in = header.burned_in
            series.save(update_fields=["burned_in"])
        return series
    with transaction.atomic():
        try:
            highest = study.case.figures.aggregate(highest=Max("number"))["highest"] or 0
            figure = Figure.objects.create(
                case=study.case,
                number=highest + 1,
                modality=description.modality,
                plane=description.plane,
                technique=description.technique,
                window_width=description.window_width,
                window_center=description.window_center,
                alt_text=", ".join(
                    p
                    for p in (
                        Figure.Modality(description.modality).label if description.modality else "",
                        description.plane,
                    )
                    if p
                ),
            )
            return InboxSeries.objects.create(
                study=study,
                key=header.series_key,
                figure=figure,
                modality=header.modality,
                burned_in=header.burned_in,
            )
        except IntegrityError:
            pass
    return InboxSeries.objects.select_related("figure").get(key=header.series_key)


# --- assembling -------------------------------------------------------------------------------


def study_assemble(*, study_id: int) -> InboxStudy | None:
    """Sort each series' slices, title the draft case; tell the authors the first time."""
    with transaction.atomic():
        study = (
            InboxStudy.objects.select_for_update()
            .select_related("case")
            .filter(pk=study_id)
            .first()
        )
        if study is None:
            return None
        first_time = study.assembled is None
        for series in study.series.select_related("figure"):
            _series_sort(series)
        key_objects_apply(study=study)
        case = study.case
        if case.title.endswith("(receiving)") or first_time:
            case.title = study_title(study)
        case.save()
        study.assembled = timezone.now()
        study.save(update_fields=["assembled"])
        if first_time:
            from .notify import study_notify_later

            study_notify_later(study=study)
    return study


def _series_sort(series: InboxSeries) -> None:
    """Positions along the stack, by location, then instance number and frame."""
    order: dict[int, tuple[int, int]] = {}
    for number, slice_ids in series.instances.values_list("instance_number", "slice_ids"):
        for frame, slice_id in enumerate(slice_ids):
            order[slice_id] = (number if number is not None else 0, frame)
    slices = list(
        Slice.objects.filter(figure=series.figure).only("id", "position", "slice_location")
    )
    located = all(s.slice_location is not None for s in slices)

    def key(s: Slice) -> tuple:
        number, frame = order.get(s.pk, (0, 0))
        return ((s.slice_location if located else 0.0), number, frame, s.pk)

    changed = []
    for position, slice_ in enumerate(sorted(slices, key=key)):
        if slice_.position != position:
            slice_.position = position
            changed.append(slice_)
    Slice.objects.bulk_update(changed, ["position"], batch_size=500)


def study_title(study: InboxStudy) -> str:
    """E.g. "CT head: CT HEAD W/O CONTRAST, March 2024"."""
    subject = " ".join(p for p in (study.modality, study.body_part.lower()) if p) or "DICOM study"
    title = f"{subject}: {study.description}" if study.description else subject
    if study.study_month:
        year, month = study.study_month.split("-")
        title += f", {_MONTHS[int(month) - 1]} {year}"
    return title[:300]


def studies_assemble_idle(*, idle_seconds: int | None = None) -> int:
    """Assemble the studies that received nothing for a while and are not assembled since."""
    idle = INBOX_IDLE_SECONDS if idle_seconds is None else idle_seconds
    idle = int(getattr(settings, "INBOX_IDLE_SECONDS", idle) if idle_seconds is None else idle)
    cutoff = timezone.now() - timedelta(seconds=idle)
    count = 0
    for study in InboxStudy.objects.filter(last_received__lte=cutoff).only(
        "pk", "assembled", "last_received"
    ):
        if study.needs_assembly:
            study_assemble(study_id=study.pk)
            count += 1
    return count


def inbox_clean(*, days: int | None = None) -> int:
    """Delete the draft cases of studies nobody claimed within ``days``; return how many."""
    keep = int(getattr(settings, "INBOX_KEEP_DAYS", INBOX_KEEP_DAYS) if days is None else days)
    cutoff = timezone.now() - timedelta(days=keep)
    # A published case was taken up even if nobody pressed "claim".
    stale = InboxStudy.objects.filter(claimed_at=None, last_received__lt=cutoff).exclude(
        case__status=Case.Status.PUBLISHED
    )
    count = 0
    for study in stale.select_related("case"):
        files = list(Slice.objects.filter(figure__case=study.case).values_list("image", flat=True))
        with transaction.atomic():
            study.case.delete()  # the study, its series and instances go with it
        transaction.on_commit(lambda files=files: stored_files_delete(files))
        count += 1
    return count
