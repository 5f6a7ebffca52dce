"""Importing a DICOM series (folder, zip or file) into a case as one stacked figure.

Used by ``manage.py import_dicom``, the admin and the demo loader. The whole import is one
transaction: if it fails, no row changes and the files it wrote are deleted; when it replaces
a figure's slices, the old files are deleted only once the new rows are committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from pydicom.dataset import Dataset

from cases.imaging.ingest import (
    DicomSourceError,
    ImageRejected,
    IngestBudget,
    UploadTooLarge,
    dicom_number,
    dicom_plane,
    dicom_prepare,
    dicom_series_collect,
    slices_store,
    stored_files_delete,
)
from cases.models import Case, Figure

# DICOM Modality (0008,0060) -> Figure.Modality.
MODALITY_MAP: dict[str, str] = {
    "CT": Figure.Modality.CT,
    "MR": Figure.Modality.MR,
    "CR": Figure.Modality.XR,
    "DX": Figure.Modality.XR,
    "DR": Figure.Modality.XR,
    "RG": Figure.Modality.XR,
    "PX": Figure.Modality.XR,
    "IO": Figure.Modality.XR,
    "US": Figure.Modality.US,
    "NM": Figure.Modality.NM,
    "PT": Figure.Modality.NM,
    "MG": Figure.Modality.MG,
    "RF": Figure.Modality.FL,
    "XA": Figure.Modality.ANGIO,
    "SM": Figure.Modality.HISTOLOGY,
    "XC": Figure.Modality.PHOTO,
    "OT": Figure.Modality.OTHER,
}
# Company-name filler dropped from Manufacturer: "GE MEDICAL SYSTEMS" -> "GE".
_MAKER_FILLER = re.compile(
    r"\b(medical systems?|healthcare|healthineers|medical|systems?|corporation|corp|inc|"
    r"ltd|limited|co|gmbh|ag|nv|b\.v|bv|mec)\b\.?",
    re.IGNORECASE,
)


class DicomImportError(Exception):
    """The import cannot run or stored nothing; the message says why."""


@dataclass
class ImportResult:
    figure: Figure
    slices: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)  # what de-identification took out


@dataclass(frozen=True)
class SeriesDescription:
    """Figure fields read from the first image of a series (before it is de-identified)."""

    modality: str
    plane: str
    technique: str
    window_width: float | None
    window_center: float | None


def dicom_import(
    *,
    case: Case,
    source: Path,
    figure_number: int | None = None,
    caption: str = "",
    unknown_caption: str = "",
    progress: Callable[[int, int, str], None] | None = None,
    replacements: dict[str, str] | None = None,
) -> ImportResult:
    """Add the series at ``source`` to ``case`` as a new figure, or replace figure N's slices.

    ``progress(done, total, name)`` is called after each file, for a command's progress line.
    ``replacements`` is the de-identification memory: pass one dict for several series of one
    examination so they keep one Study and Frame of Reference UID (and their reference lines).

    Files that are not DICOM images are skipped and listed in the result; an import that
    stores no slice at all raises ``DicomImportError`` and changes nothing.
    """
    try:
        series = dicom_series_collect(Path(source))
    except DicomSourceError as exc:
        raise DicomImportError(str(exc)) from exc
    if not series.datasets:
        raise DicomImportError(
            f"{source}: no DICOM images with pixel data found{_skipped_note(series.skipped)}"
        )
    description = series_describe(series.datasets[0][1])
    skipped = list(series.skipped)
    removed: set[str] = set()
    written: list[str] = []
    try:
        with transaction.atomic():
            figure, old_files = _figure_prepare(
                case=case,
                figure_number=figure_number,
                caption=caption,
                unknown_caption=unknown_caption,
                description=description,
            )
            count = _slices_create(
                figure, series.datasets, skipped, written, removed, progress, replacements
            )
            if count == 0:
                raise DicomImportError(
                    f"{source}: no slice could be stored{_skipped_note(skipped)}"
                )
            # Old files go only once the new rows are safely committed.
            transaction.on_commit(lambda: stored_files_delete(old_files))
    except BaseException:
        stored_files_delete(written)
        raise
    return ImportResult(figure=figure, slices=count, skipped=skipped, removed=removed)


def series_describe(ds: Dataset) -> SeriesDescription:
    """Modality, plane, technique and window for the figure, from one image of the series."""
    modality_code = str(ds.get("Modality", "") or "").strip().upper()
    return SeriesDescription(
        modality=MODALITY_MAP.get(modality_code, Figure.Modality.OTHER if modality_code else ""),
        plane=dicom_plane(ds),
        technique=technique_describe(ds),
        window_width=dicom_number(ds.get("WindowWidth")),
        window_center=dicom_number(ds.get("WindowCenter")),
    )


def technique_describe(ds: Dataset) -> str:
    """E.g. "GE HiSpeed Dual, 120 kV, 360 mAs, 4 mm" (equipment and settings, never the
    patient or the place); MR adds the field strength and the sequence name, and any
    series its contrast agent."""
    parts: list[str] = []
    scanner = _scanner_name(ds)
    if scanner:
        parts.append(scanner)
    kvp = dicom_number(ds.get("KVP"))
    if kvp:
        parts.append(f"{kvp:g} kV")
    mas = _exposure_mas(ds)
    if mas:
        parts.append(f"{mas:g} mAs")
    field_strength = dicom_number(ds.get("MagneticFieldStrength"))
    if field_strength:
        parts.append(f"{field_strength:g} T")
    sequence = _descriptor(ds.get("SequenceName"))
    if sequence:
        parts.append(f"sequence {sequence}")
    thickness = dicom_number(ds.get("SliceThickness"))
    if thickness:
        parts.append(f"{thickness:g} mm")
    agent = _descriptor(ds.get("ContrastBolusAgent"))
    if agent:
        parts.append(f"contrast {agent}")
    return ", ".join(parts)[:300]


# A drug or sequence name: a few words of letters, digits and the punctuation such names use.
_DESCRIPTOR = re.compile(r"[\w*+%/.()\- ]{1,40}")


def _descriptor(value) -> str:
    """A short free-text header value (sequence name, contrast agent), or "".

    These are free text, which de-identification empties: only a short name-like value is
    kept (a sentence, a date or anything with a person's name in it is not).
    """
    text = " ".join(str(value or "").split())
    if not text or not _DESCRIPTOR.fullmatch(text) or len(text.split()) > 3:
        return ""
    if re.search(r"\d{6,}", text) or "^" in text:
        return ""  # dates, identifiers and DICOM person names
    return text


def _exposure_mas(ds: Dataset) -> float | None:
    """The exposure in mAs: Exposure, else ExposureInuAs, else tube current × time."""
    mas = dicom_number(ds.get("Exposure"))
    if mas:
        return round(mas, 1)
    micro = dicom_number(ds.get("ExposureInuAs"))
    if micro:
        return round(micro / 1000, 1)
    current = dicom_number(ds.get("XRayTubeCurrent"))
    time_ms = dicom_number(ds.get("ExposureTime"))
    if current and time_ms:
        return round(current * time_ms / 1000, 1)
    return None


def _scanner_name(ds: Dataset) -> str:
    maker = _maker_short(str(ds.get("Manufacturer", "") or ""))
    model = " ".join(str(ds.get("ManufacturerModelName", "") or "").split())
    if maker and model.lower().startswith(maker.lower()):
        return model
    return " ".join(part for part in (maker, model) if part)


def _maker_short(manufacturer: str) -> str:
    spaced = manufacturer.replace("_", " ")  # "TOSHIBA_MEC"
    short = " ".join(_MAKER_FILLER.sub(" ", spaced).split()).strip(" ,.-")
    if not short:
        short = " ".join(manufacturer.split())
    # SIEMENS -> Siemens, but GE stays GE.
    return short.title() if short.isupper() and len(short) > 3 else short


def _figure_prepare(
    *,
    case: Case,
    figure_number: int | None,
    caption: str,
    unknown_caption: str,
    description: SeriesDescription,
) -> tuple[Figure, list[str]]:
    """The figure to fill (new, or figure N emptied) and the old slice files to delete later."""
    technical = {
        "modality": description.modality,
        "plane": description.plane,
        "technique": description.technique,
        "window_width": description.window_width,
        "window_center": description.window_center,
    }
    if figure_number is None:
        highest = case.figures.aggregate(highest=Max("number"))["highest"] or 0
        figure = Figure.objects.create(
            case=case,
            number=highest + 1,
            caption=caption,
            unknown_caption=unknown_caption,
            alt_text=_alt_text(description),
            **technical,
        )
        return figure, []
    figure = case.figures.select_for_update().filter(number=figure_number).first()
    if figure is None:
        raise DicomImportError(f"case {case.slug!r} has no figure {figure_number}")
    if figure.has_window:
        # The window on a figure is an author's choice for teaching: a new series keeps it.
        del technical["window_width"], technical["window_center"]
    for name, value in technical.items():
        setattr(figure, name, value)
    if caption:
        figure.caption = caption
    if unknown_caption:
        figure.unknown_caption = unknown_caption
    figure.save()
    old_files = [name for name in figure.slices.values_list("image", flat=True) if name]
    figure.slices.all().delete()
    return figure, old_files


def _alt_text(description: SeriesDescription) -> str:
    modality = Figure.Modality(description.modality).label if description.modality else ""
    return ", ".join(part for part in (modality, description.plane) if part)


def _slices_create(
    figure: Figure,
    datasets: list[tuple[str, Dataset]],
    skipped: list[tuple[str, str]],
    written: list[str],
    removed: set[str],
    progress: Callable[[int, int, str], None] | None = None,
    replacements: dict[str, str] | None = None,
) -> int:
    # One de-identification memory for the series at least: consistent UIDs.
    replacements = {} if replacements is None else replacements
    budget = IngestBudget()  # one limit on the decoded size of the whole series
    position = 0
    for done, (name, ds) in enumerate(datasets, start=1):
        if progress:
            progress(done, len(datasets), name)
        try:
            prepared = dicom_prepare(name=name, ds=ds, replacements=replacements, budget=budget)
        except UploadTooLarge as exc:
            raise DicomImportError(str(exc)) from exc
        except ImageRejected as exc:
            skipped.append((name, exc.reason))
            continue
        slices = slices_store(figure=figure, images=prepared, start_position=position)
        written.extend(s.image.name for s in slices)
        removed.update(name for image in prepared for name in image.removed)
        position += len(slices)
    return position


def _skipped_note(skipped: list[tuple[str, str]], limit: int = 5) -> str:
    if not skipped:
        return ""
    shown = "; ".join(f"{name}: {reason}" for name, reason in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f" ({len(skipped)} skipped: {shown}{more})"
