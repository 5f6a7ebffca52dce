"""Storing uploaded or imported images safely as ``Slice`` rows.

The format is decided by content, never by the file name: DICOM (the "DICM" magic at offset
128, or a dataset pydicom reads with ``force`` that has pixel data) or a raster image that
Pillow opens as PNG, JPEG or TIFF. Raster images are re-encoded as PNG with no metadata (EXIF,
text chunks and ICC profiles are dropped). DICOM files are de-identified (``deid.py``) and the
de-identified DICOM itself is stored, so the render keeps the full bit depth and rescale.

Multi-frame DICOM: one dataset holds several frames, but a ``Slice`` is one image. Each frame
becomes its own single-frame DICOM file and ``Slice`` (``slices_create_from_dicom``), with the
per-frame position and rescale of enhanced multi-frame objects copied to the top level.
``slice_create_from_bytes`` returns one ``Slice`` and so refuses multi-frame files.

Nothing is stored for a rejected image: every check runs before the file is written, and a
file written for a row that then fails to save is deleted.

Every door (the admin's upload, ``import_dicom``, ``import_medpix``, bundles, a restored
backup) goes through ``images_prepare`` / ``dicom_prepare`` here; nothing stores the bytes it
was given. Bomb limits: the decoded size of each file is checked from its header before any
pixel is decoded (``INGEST_MAX_FILE_BYTES``), a deflated DICOM is measured by inflating it in
small pieces before pydicom inflates it whole, and an ``IngestBudget`` caps the decoded bytes
of one upload or import (``INGEST_MAX_UPLOAD_BYTES``). Together they keep an import's memory
bounded whatever the input (bench/ingest_memory.py measures it).
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pydicom
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
)

from cases.models import Slice

from .deid import DEID_UID_ROOT, dicom_deidentify, replacement_remember, uid_new

if TYPE_CHECKING:
    from cases.models import Figure

RASTER_FORMATS = ("PNG", "JPEG", "TIFF")
NOT_ALLOWED = "not an allowed image format (PNG, JPEG, TIFF or DICOM)"
# A multi-frame file is expanded into this many slices at most.
DICOM_MAX_FRAMES = 2000
# Decoded pixel bytes: one file (a 4096x4096 16-bit radiograph is 32 MiB), and one upload or
# import (the admin holds an upload's encoded images until it saves them). Settings override.
INGEST_MAX_FILE_BYTES = 64 * 1024 * 1024
INGEST_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
# A file's own bytes: its decoded pixels at most, and room for a header.
INGEST_MAX_ENCODED_BYTES = INGEST_MAX_FILE_BYTES + 16 * 1024 * 1024
# Zip and folder sources are read into memory, never extracted: these caps bound the memory.
SOURCE_MAX_FILES = 10_000
SOURCE_MAX_FILE_BYTES = INGEST_MAX_ENCODED_BYTES
SOURCE_MAX_TOTAL_BYTES = INGEST_MAX_UPLOAD_BYTES

_GREY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")
_FRAME_ATTRIBUTES_DROPPED = (
    "NumberOfFrames",
    "FrameIncrementPointer",
    "GridFrameOffsetVector",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "PlanarConfiguration",
)
_PALETTE_ATTRIBUTES = (
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
)


class ImageRejected(ValueError):
    """An image that will not be stored; the message names the file and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class UploadTooLarge(ImageRejected):
    """The files of one upload or import decode to more than ``INGEST_MAX_UPLOAD_BYTES``."""


class DicomSourceError(ValueError):
    """A DICOM source (folder, zip or file) that cannot be read at all."""


@dataclass(frozen=True)
class ImageInfo:
    """What ``image_inspect`` found: the format by content, and the size."""

    format: str
    width: int
    height: int
    frames: int = 1


@dataclass(frozen=True)
class DicomGeometry:
    """What a DICOM header says about where its pixels are, in mm; None where it says nothing.

    ``pixel_spacing`` is (row, column) as DICOM writes it: the distance between the centres of
    adjacent rows, then of adjacent columns. ``spacing_source`` names the attribute it came
    from: "PixelSpacing", or "ImagerPixelSpacing" (at the detector, not the patient) when
    that is all a projection radiograph gives. ``frame_of_reference`` is the de-identified
    FrameOfReferenceUID: images that share it share one patient coordinate system.
    """

    pixel_spacing: tuple[float, float] | None = None
    spacing_source: str = ""
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    slice_thickness: float | None = None
    frame_of_reference: str = ""


@dataclass(frozen=True)
class PreparedImage:
    """One image encoded and ready to store as a ``Slice`` (nothing written yet)."""

    content: bytes
    suffix: str
    source_format: str
    kind: str
    width: int
    height: int
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    inverted: bool = False
    slice_location: float | None = None
    geometry: DicomGeometry = field(default_factory=DicomGeometry)
    # What de-identification or re-encoding removed ("PatientName", "EXIF", ...).
    removed: tuple[str, ...] = ()

    def slice_fields(self) -> dict[str, Any]:
        """The ``Slice`` fields this image decides (what its pixels and header say)."""
        geometry = self.geometry
        row, column = geometry.pixel_spacing or (None, None)
        return {
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "rescale_slope": self.rescale_slope,
            "rescale_intercept": self.rescale_intercept,
            "inverted": self.inverted,
            "slice_location": self.slice_location,
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "pixel_spacing_row": row,
            "pixel_spacing_column": column,
            "spacing_source": geometry.spacing_source,
            "image_position": list(geometry.image_position) if geometry.image_position else None,
            "image_orientation": (
                list(geometry.image_orientation) if geometry.image_orientation else None
            ),
            "slice_thickness": geometry.slice_thickness,
            "frame_of_reference": geometry.frame_of_reference,
        }


class IngestBudget:
    """The decoded bytes one upload or import may still use; one per import, like replacements."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = _setting("INGEST_MAX_UPLOAD_BYTES") if limit is None else limit
        self.used = 0

    def spend(self, name: str, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise UploadTooLarge(
                name,
                f"the upload decodes to more than {_mib(self.limit)} of pixels; import it in parts",
            )


def file_size_check(name: str, size: int) -> None:
    """Refuse a file too large to be one image, before it is read."""
    limit = _setting("INGEST_MAX_ENCODED_BYTES")
    if size > limit:
        raise ImageRejected(name, f"the file is larger than {_mib(limit)}")


def _setting(name: str) -> int:
    return int(getattr(settings, name, globals()[name]))


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"


def removed_summary(removed: Iterable[str]) -> str:
    """E.g. "removed 3 identifying attribute(s): EXIF, PatientName, ProtocolName"; or ""."""
    names = sorted(set(removed))
    if not names:
        return ""
    return f"removed {len(names)} identifying attribute(s): {', '.join(names)}"


@dataclass
class DicomSeries:
    """The readable images of a DICOM source, sorted, and the files skipped with a reason."""

    datasets: list[tuple[str, Dataset]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# --- public entry points ---------------------------------------------------------------------


def image_inspect(*, name: str, data: bytes, allow_multiframe: bool = False) -> ImageInfo:
    """Check that ``data`` would be stored, writing nothing; raise ImageRejected if not.

    It runs the same decoding as the create functions, so an image that passes here will not
    be rejected later. Multi-frame DICOM is refused unless ``allow_multiframe``, because
    ``slice_create_from_bytes`` stores one slice per file.
    """
    prepared = images_prepare(name=name, data=data)
    if len(prepared) > 1 and not allow_multiframe:
        raise ImageRejected(name, _multiframe_reason(len(prepared)))
    first = prepared[0]
    return ImageInfo(
        format=first.source_format, width=first.width, height=first.height, frames=len(prepared)
    )


def _multiframe_reason(frames: int) -> str:
    return f"multi-frame DICOM ({frames} frames); import it as a series (manage.py import_dicom)"


def slice_create_from_bytes(
    *,
    figure: Figure,
    name: str,
    data: bytes,
    position: int,
    replacements: dict[str, str] | None = None,
) -> Slice:
    """Store one image (raster or single-frame DICOM) as a new slice of ``figure``.

    ``replacements`` is the de-identification memory (see ``dicom_deidentify``): pass one dict
    for all files of an import so their new UIDs stay consistent.
    """
    prepared = images_prepare(name=name, data=data, replacements=replacements)
    if len(prepared) != 1:
        raise ImageRejected(name, _multiframe_reason(len(prepared)))
    return slices_store(figure=figure, images=prepared, start_position=position)[0]


def slices_create_from_bytes(
    *,
    figure: Figure,
    name: str,
    data: bytes,
    start_position: int,
    replacements: dict[str, str] | None = None,
) -> list[Slice]:
    """Like ``slice_create_from_bytes``, but a multi-frame DICOM gives one slice per frame."""
    prepared = images_prepare(name=name, data=data, replacements=replacements)
    return slices_store(figure=figure, images=prepared, start_position=start_position)


def slices_create_from_dicom(
    *,
    figure: Figure,
    ds: Dataset,
    name: str,
    start_position: int,
    replacements: dict[str, str] | None = None,
) -> list[Slice]:
    """Store a dataset already read (e.g. from ``dicom_series_read``): one slice per frame."""
    prepared = dicom_prepare(name=name, ds=ds, replacements=replacements)
    return slices_store(figure=figure, images=prepared, start_position=start_position)


def images_prepare(
    *,
    name: str,
    data: bytes,
    replacements: dict[str, str] | None = None,
    budget: IngestBudget | None = None,
) -> list[PreparedImage]:
    """The one ingest: format by content, limits, de-identification, re-encoding.

    One item per frame. ``replacements`` and ``budget`` are shared by every file of an import.
    """
    if _looks_like_dicom(data):
        ds = _dicom_read(name, data)
        return dicom_prepare(name=name, ds=ds, replacements=replacements, budget=budget)
    try:
        opened = _raster_open(name, data, budget)
    except _NotRaster:
        ds = _dicom_read(name, data, forced=True)
        return dicom_prepare(name=name, ds=ds, replacements=replacements, budget=budget)
    return [_raster_prepare(name, opened, data)]


def slices_store(
    *, figure: Figure, images: list[PreparedImage], start_position: int
) -> list[Slice]:
    """Write prepared images as slices; on any failure, files written here are deleted."""
    created: list[Slice] = []
    try:
        with transaction.atomic():
            for offset, image in enumerate(images):
                created.append(_slice_store(figure, image, start_position + offset))
    except BaseException:
        stored_files_delete([s.image.name for s in created])
        raise
    return created


def stored_files_delete(names: list[str]) -> None:
    """Delete stored slice files by name (missing files are fine)."""
    storage = Slice._meta.get_field("image").storage
    for name in names:
        if name:
            storage.delete(name)


# --- raster images ---------------------------------------------------------------------------


class _NotRaster(Exception):
    """Pillow does not recognise the data as PNG, JPEG or TIFF (it may still be DICOM)."""


@dataclass(frozen=True)
class _OpenedRaster:
    image: Image.Image
    format_name: str


def _raster_open(name: str, data: bytes, budget: IngestBudget | None = None) -> _OpenedRaster:
    """Open and fully decode a PNG/JPEG/TIFF, turning every failure into ImageRejected."""
    max_pixels = settings.IMAGE_MAX_PIXELS
    format_name = ""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: treat it as an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=RASTER_FORMATS)
            format_name = image.format or ""
            if image.width * image.height > max_pixels:
                raise ImageRejected(
                    name,
                    f"too many pixels ({image.width}x{image.height}; the limit is {max_pixels:,})",
                )
            # Checked from the header, before anything is decoded.
            _decoded_check(name, image.width * image.height * _mode_bytes(image.mode), budget)
            # Decode now: a truncated or damaged file must fail here, not when it is shown.
            image.load()
    except UnidentifiedImageError as exc:
        raise _NotRaster from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(name, f"too many pixels (decompression bomb?): {exc}") from exc
    except ImageRejected:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on damaged data
        raise ImageRejected(name, f"damaged or truncated {format_name} image ({exc})") from exc
    return _OpenedRaster(image=image, format_name=format_name)


def _mode_bytes(mode: str) -> int:
    """Bytes per pixel once decoded (Pillow's band count times the band's width)."""
    if mode.startswith("I;16"):
        return 2
    try:
        bands = Image.getmodebands(mode)
    except ValueError:
        return 4
    return bands * (4 if mode in ("I", "F") else 1)


def _decoded_check(name: str, size: int, budget: IngestBudget | None) -> None:
    limit = _setting("INGEST_MAX_FILE_BYTES")
    if size > limit:
        raise ImageRejected(
            name, f"decodes to {_mib(size)} of pixels; the limit is {_mib(limit)} per file"
        )
    if budget is not None:
        budget.spend(name, size)


# Metadata Pillow reads that the re-encoded PNG leaves behind, by the name the summary uses.
_RASTER_METADATA = {
    "exif": "EXIF",
    "icc_profile": "ICC profile",
    "xmp": "XMP",
    "XML:com.adobe.xmp": "XMP",
    "comment": "comment",
    "photoshop": "Photoshop data",
}


def _raster_removed(opened: _OpenedRaster, data: bytes) -> tuple[str, ...]:
    info = opened.image.info
    removed = {label for key, label in _RASTER_METADATA.items() if key in info}
    if getattr(opened.image, "text", None):
        removed.add("text chunks")
    if opened.format_name == "JPEG" and not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        removed.add("data after the image")
    return tuple(sorted(removed))


def _raster_prepare(name: str, opened: _OpenedRaster, data: bytes = b"") -> PreparedImage:
    try:
        # Respect the EXIF orientation before the EXIF block is dropped.
        image = ImageOps.exif_transpose(opened.image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(name, f"damaged image metadata ({exc})") from exc
    clean, kind = _raster_normalise(name, image)
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", optimize=False, compress_level=6)
    return PreparedImage(
        content=buffer.getvalue(),
        suffix="png",
        source_format=opened.format_name,
        kind=kind,
        width=clean.width,
        height=clean.height,
        removed=_raster_removed(opened, data),
    )


def _raster_normalise(name: str, image: Image.Image) -> tuple[Image.Image, str]:
    """A new image holding only the pixels (so no metadata survives), and its slice kind."""
    mode = image.mode
    if mode in _GREY16_MODES:
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageRejected(name, "grey values outside 0-65535 are not supported")
        return Image.fromarray(values.astype(np.uint16)), Slice.Kind.GREY16
    if mode == "F":
        raise ImageRejected(name, "floating-point images are not supported")
    if mode in ("1", "L", "LA", "La"):
        grey = image.convert("L")
        return Image.frombytes("L", grey.size, grey.tobytes()), Slice.Kind.GREY8
    rgb = np.asarray(image.convert("RGB"))
    if rgb.size and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        # A grey picture saved as colour: store one channel, a third of the size.
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0])), Slice.Kind.GREY8
    return Image.fromarray(np.ascontiguousarray(rgb)), Slice.Kind.COLOUR


# --- DICOM -----------------------------------------------------------------------------------


def dicom_read(name: str, data: bytes) -> Dataset:
    """Read a DICOM image's bytes (bomb checks first); ImageRejected if it is not one.

    For a door that knows it receives DICOM (the DICOM receiver, DICOMweb) and needs the
    header before ``dicom_prepare`` de-identifies it.
    """
    file_size_check(name, len(data))
    return _dicom_read(name, data, forced=not _looks_like_dicom(data))


def _looks_like_dicom(data: bytes) -> bool:
    return data[128:132] == b"DICM"


def _dicom_read(name: str, data: bytes, *, forced: bool = False) -> Dataset:
    _deflated_check(name, data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # pydicom raises many types on arbitrary bytes
        raise ImageRejected(name, NOT_ALLOWED if forced else f"unreadable DICOM ({exc})") from exc
    if "PixelData" not in ds or "Rows" not in ds or "Columns" not in ds:
        reason = NOT_ALLOWED if forced else "DICOM file without image pixel data"
        raise ImageRejected(name, reason)
    return ds


def _deflated_check(name: str, data: bytes) -> None:
    """Refuse a deflated dataset that inflates past the per-file limit, before pydicom does.

    pydicom inflates a Deflated Explicit VR Little Endian dataset whole while reading it; here
    it is inflated in small pieces that are counted and dropped, so a bomb costs no memory.
    """
    if _DEFLATED_UID not in data[:4096]:
        return
    stream = io.BytesIO(data)
    try:
        pydicom.filereader.read_preamble(stream, True)
        # pydicom's own meta reader; its public wrapper does not say where the dataset starts.
        file_meta = pydicom.filereader._read_file_meta_info(stream)
    except Exception:  # not a readable header: dcmread will say so
        return
    if file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return
    limit = _setting("INGEST_MAX_FILE_BYTES") + 16 * 1024 * 1024  # pixels plus a header
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    pending = data[stream.tell() :]
    try:
        while pending and size <= limit:
            size += len(inflater.decompress(pending, 1024 * 1024))
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise ImageRejected(name, f"damaged deflated DICOM ({exc})") from exc
    if size > limit:
        raise ImageRejected(
            name, f"the deflated dataset inflates to more than {_mib(limit)} (a bomb?)"
        )


_DEFLATED_UID = str(DeflatedExplicitVRLittleEndian).encode()


def _dicom_frame_count(name: str, ds: Dataset) -> int:
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (TypeError, ValueError) as exc:
        raise ImageRejected(name, f"invalid DICOM image size or frame count ({exc})") from exc
    max_pixels = settings.IMAGE_MAX_PIXELS
    if rows < 1 or columns < 1 or frames < 1:
        raise ImageRejected(name, "DICOM image with no pixels")
    if rows * columns > max_pixels:
        raise ImageRejected(
            name, f"too many pixels ({columns}x{rows}; the limit is {max_pixels:,})"
        )
    if frames > DICOM_MAX_FRAMES:
        raise ImageRejected(name, f"too many frames ({frames}; the limit is {DICOM_MAX_FRAMES})")
    return frames


def _dicom_pixels_decode(name: str, ds: Dataset) -> np.ndarray:
    try:
        # pydicom converts YBR to RGB here; compressed syntaxes need a decoder plugin.
        return ds.pixel_array
    except Exception as exc:  # decoders raise many types on bad data
        raise ImageRejected(name, f"cannot decode the DICOM pixel data ({exc})") from exc


def _dicom_decoded_size(name: str, ds: Dataset, frames: int) -> int:
    try:
        samples = int(ds.get("SamplesPerPixel") or 1)
        allocated = int(ds.get("BitsAllocated") or 16)
    except (TypeError, ValueError) as exc:
        raise ImageRejected(name, f"invalid DICOM sample layout ({exc})") from exc
    if not 1 <= samples <= 4 or not 1 <= allocated <= 64:
        raise ImageRejected(name, f"unsupported DICOM sample layout ({samples}x{allocated} bits)")
    # pydicom decodes into at least a byte per sample, and YBR/palette into RGB.
    per_sample = max(1, (allocated + 7) // 8)
    return (
        int(ds.Rows)
        * int(ds.Columns)
        * frames
        * max(samples, 3 if _is_palette(ds) else 1)
        * (per_sample)
    )


def _is_palette(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR"


def dicom_prepare(
    *,
    name: str,
    ds: Dataset,
    replacements: dict[str, str] | None = None,
    budget: IngestBudget | None = None,
) -> list[PreparedImage]:
    """De-identify ``ds`` (in place) and encode each frame as a single-frame DICOM file."""
    try:
        return _dicom_prepare(name=name, ds=ds, replacements=replacements, budget=budget)
    except ImageRejected:
        raise
    except Exception as exc:  # pydicom parses elements lazily: a damaged one fails on use
        raise ImageRejected(name, f"damaged DICOM ({type(exc).__name__}: {exc})") from exc


def _dicom_prepare(
    *,
    name: str,
    ds: Dataset,
    replacements: dict[str, str] | None,
    budget: IngestBudget | None,
) -> list[PreparedImage]:
    frames = _dicom_frame_count(name, ds)
    # Checked from the header, before anything is decoded.
    _decoded_check(name, _dicom_decoded_size(name, ds, frames), budget)
    pixels = _dicom_pixels_decode(name, ds)
    memory: dict[str, str] = {} if replacements is None else replacements
    removed = tuple(dicom_deidentify(ds, replacements=memory))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    colour = photometric in _COLOUR_PHOTOMETRICS or int(ds.get("SamplesPerPixel", 1) or 1) > 1
    if colour:
        pixels = _dicom_rgb8(ds, pixels, photometric)
    if frames == 1 and not colour and _dicom_is_plain(ds):
        # An ordinary single-frame file is stored as it is, only de-identified.
        return [_dicom_prepared(name, ds, kind=Slice.Kind.GREY16, removed=removed)]
    if frames == 1:
        pixels = pixels[np.newaxis, ...]
    base = ds
    # Take out what is per frame (and the pixel data) before copying the header per frame.
    del base.PixelData
    frame_groups = _frame_groups_take(base)
    prepared: list[PreparedImage] = []
    for index in range(frames):
        frame_ds = _dicom_frame_dataset(base, frame_groups, index, frames, memory)
        if colour:
            _pixel_data_set(frame_ds, pixels[index], "RGB", 8)
        else:
            bits = int(base.get("BitsStored") or pixels.dtype.itemsize * 8)
            _pixel_data_set(frame_ds, pixels[index], photometric, bits)
        kind = Slice.Kind.COLOUR if colour else Slice.Kind.GREY16
        prepared.append(_dicom_prepared(name, frame_ds, kind=kind, removed=removed))
    return prepared


def _dicom_is_plain(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    compressed = bool(syntax and syntax.is_compressed)
    return not compressed and int(ds.get("BitsAllocated", 16) or 16) in (8, 16, 32)


def _dicom_rgb8(ds: Dataset, pixels: np.ndarray, photometric: str) -> np.ndarray:
    """Colour frames as 8-bit RGB: palettes applied, deeper samples shifted down."""
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    else:
        bits = int(ds.get("BitsStored") or pixels.dtype.itemsize * 8)
    if bits > 8:
        pixels = np.right_shift(pixels.astype(np.uint32), bits - 8)
    return np.clip(pixels, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _FrameGroups:
    """The per-frame parts of a multi-frame header, taken out of it before copying."""

    shared: Dataset | None
    per_frame: list[Dataset]
    offsets: list[float]


def _frame_groups_take(base: Dataset) -> _FrameGroups:
    shared = base.get("SharedFunctionalGroupsSequence") or []
    groups = _FrameGroups(
        shared=shared[0] if len(shared) else None,
        per_frame=list(base.get("PerFrameFunctionalGroupsSequence") or []),
        offsets=[float(v) for v in (base.get("GridFrameOffsetVector") or [])],
    )
    for keyword in _FRAME_ATTRIBUTES_DROPPED:
        if keyword in base:
            delattr(base, keyword)
    return groups


def _dicom_frame_dataset(
    base: Dataset, groups: _FrameGroups, index: int, frames: int, memory: dict[str, str]
) -> Dataset:
    frame_ds = copy.deepcopy(base)
    if frames > 1:
        _frame_attributes_apply(frame_ds, groups, index)
        # Each frame is now its own instance; the same frame of the same file maps the same way.
        key = f"frame:{base.get('SOPInstanceUID', '')}:{index}"
        frame_ds.SOPInstanceUID = replacement_remember(memory, key)
    return frame_ds


_FUNCTIONAL_GROUP_ATTRIBUTES = (
    ("PlanePositionSequence", ("ImagePositionPatient",)),
    ("PlaneOrientationSequence", ("ImageOrientationPatient",)),
    ("PixelMeasuresSequence", ("PixelSpacing", "SliceThickness")),
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth")),
)


def _frame_attributes_apply(frame_ds: Dataset, groups: _FrameGroups, index: int) -> None:
    """Copy a frame's own position, orientation, rescale and window to the top level."""
    chosen = [groups.shared]
    if index < len(groups.per_frame):
        chosen.append(groups.per_frame[index])  # per-frame values come last and win
    for group in chosen:
        if group is None:
            continue
        for sequence_keyword, attributes in _FUNCTIONAL_GROUP_ATTRIBUTES:
            items = group.get(sequence_keyword)
            if not items:
                continue
            for attribute in attributes:
                if attribute in items[0]:
                    setattr(frame_ds, attribute, items[0][attribute].value)
    position = _floats(frame_ds.get("ImagePositionPatient"), 3)
    orientation = _floats(frame_ds.get("ImageOrientationPatient"), 6)
    if position and orientation and index < len(groups.offsets):
        # RT dose and similar: frames are offset along the normal from the first position.
        shifted = np.asarray(position) + groups.offsets[index] * _normal(orientation)
        frame_ds.ImagePositionPatient = [f"{value:.6f}" for value in shifted]


def _pixel_data_set(ds: Dataset, pixels: np.ndarray, photometric: str, bits_stored: int) -> None:
    """Uncompressed little-endian pixel data for one frame (pydicom's helper stops at 16 bits)."""
    if pixels.dtype.kind not in "ui" or pixels.dtype.itemsize not in (1, 2, 4):
        pixels = pixels.astype(np.int32 if pixels.dtype.kind == "i" else np.uint32)
    little = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)
    allocated = pixels.dtype.itemsize * 8
    samples = 3 if pixels.ndim == 3 else 1
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = allocated
    ds.BitsStored = max(1, min(bits_stored, allocated))
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if samples == 3:
        ds.PlanarConfiguration = 0
        for keyword in _PALETTE_ATTRIBUTES:
            if keyword in ds:
                delattr(ds, keyword)
    ds.PixelData = little.tobytes()
    ds["PixelData"].VR = "OB" if allocated == 8 else "OW"
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _dicom_prepared(
    name: str, ds: Dataset, *, kind: str, removed: tuple[str, ...] = ()
) -> PreparedImage:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    return PreparedImage(
        content=_dicom_bytes(name, ds),
        suffix="dcm",
        source_format="DICOM",
        kind=kind,
        width=int(ds.Columns),
        height=int(ds.Rows),
        rescale_slope=_float_or(ds.get("RescaleSlope"), 1.0),
        rescale_intercept=_float_or(ds.get("RescaleIntercept"), 0.0),
        inverted=photometric == "MONOCHROME1",
        slice_location=dicom_slice_location(ds),
        geometry=dicom_geometry(ds),
        removed=removed,
    )


def _dicom_bytes(name: str, ds: Dataset) -> bytes:
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    meta = ds.file_meta
    if "TransferSyntaxUID" not in meta:
        # Files without meta information (read with force) are implicit VR little endian.
        meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    if "SOPClassUID" not in ds:
        ds.SOPClassUID = SecondaryCaptureImageStorage
    if "SOPInstanceUID" not in ds:
        ds.SOPInstanceUID = uid_new()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.preamble = b"\0" * 128
    buffer = io.BytesIO()
    try:
        # dcmwrite, unlike save_as, also re-encodes a big-endian original as little endian.
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    except Exception as exc:  # the writer raises many types on odd datasets
        raise ImageRejected(name, f"cannot write the de-identified DICOM ({exc})") from exc
    return buffer.getvalue()


def dicom_geometry(ds: Dataset) -> DicomGeometry:
    """PixelSpacing (else ImagerPixelSpacing), position, orientation, thickness and frame.

    A value that is missing, malformed, not finite or (for spacings and thickness) not
    positive is None: a measurement then says "pixels" rather than trust it.
    """
    spacing, source = None, ""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = _floats(ds.get(keyword), 2)
        if values and min(values) > 0:
            spacing, source = (values[0], values[1]), keyword
            break
    position = _floats(ds.get("ImagePositionPatient"), 3)
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    thickness = _float_or(ds.get("SliceThickness"), None)
    return DicomGeometry(
        pixel_spacing=spacing,
        spacing_source=source,
        image_position=tuple(position) if position else None,
        image_orientation=tuple(orientation) if orientation else None,
        slice_thickness=thickness if thickness is not None and thickness > 0 else None,
        frame_of_reference=dicom_frame_of_reference(ds),
    )


def dicom_frame_of_reference(ds: Dataset) -> str:
    """The FrameOfReferenceUID of a de-identified header, or "" if it has none of ours.

    Only a UID under CaseViewer's root is taken: one that de-identification made, so an
    original UID is never stored.
    """
    uid = str(ds.get("FrameOfReferenceUID") or "").strip()
    return uid if uid.startswith(DEID_UID_ROOT) and len(uid) <= 64 else ""


def dicom_slice_location(ds: Dataset) -> float | None:
    """Where the slice lies along the stack axis.

    The position projected on the slice normal when the orientation is known (for an ordinary
    axial series that is ImagePositionPatient[2]; unlike z it still changes along sagittal or
    coronal stacks), else ImagePositionPatient[2], else SliceLocation.
    """
    position = _floats(ds.get("ImagePositionPatient"), 3)
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    if position and orientation:
        return round(float(np.dot(position, _normal(orientation))), 4)
    if position:
        return position[2]
    location = _float_or(ds.get("SliceLocation"), None)
    return location


def dicom_plane(ds: Dataset) -> str:
    """ "Axial", "Coronal" or "Sagittal" from the slice normal; "" when not known."""
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    if not orientation:
        return ""
    normal = np.abs(_normal(orientation))
    return ("Sagittal", "Coronal", "Axial")[int(np.argmax(normal))]


def _normal(orientation: list[float]) -> np.ndarray:
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    length = float(np.linalg.norm(normal))
    return normal / length if length else np.array([0.0, 0.0, 1.0])


def _floats(value: Any, count: int) -> list[float] | None:
    try:
        numbers = [float(item) for item in value]
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def dicom_number(value: Any) -> float | None:
    """A float from a DICOM number, the first of several (WindowCenter can hold many)."""
    return _float_or(value, None)


def _float_or(value: Any, default: float | None) -> float | None:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


# --- storing ---------------------------------------------------------------------------------


def _slice_store(figure: Figure, image: PreparedImage, position: int) -> Slice:
    slice_ = Slice(figure=figure, position=position, **image.slice_fields())
    # upload_to names the file from the slice's random token; only the suffix is used here.
    slice_.image.save(f"image.{image.suffix}", ContentFile(image.content), save=False)
    try:
        slice_.save()
    except BaseException:
        stored_files_delete([slice_.image.name])
        raise
    return slice_


# --- reading a series ------------------------------------------------------------------------


def dicom_series_read(source: Path) -> list[tuple[str, Dataset]]:
    """The DICOM images in a folder, zip or file, sorted along the stack (see ``..._collect``)."""
    return dicom_series_collect(source).datasets


def dicom_series_collect(source: Path) -> DicomSeries:
    """Read every DICOM image under ``source``; sort them; keep the skipped files' reasons.

    Order: ImagePositionPatient projected on the normal of ImageOrientationPatient when every
    image has both, else InstanceNumber, else the file name.
    """
    series = DicomSeries()
    for name, data in _source_files(Path(source), series.skipped):
        ds = _series_member_read(name, data, series.skipped)
        if ds is not None:
            series.datasets.append((name, ds))
    series.datasets = _series_sort(series.datasets)
    return series


def _series_member_read(name: str, data: bytes, skipped: list[tuple[str, str]]) -> Dataset | None:
    try:
        ds = _dicom_read(name, data, forced=not _looks_like_dicom(data))
    except ImageRejected as exc:
        reason = "not a DICOM image" if exc.reason == NOT_ALLOWED else exc.reason
        skipped.append((name, reason))
        return None
    return ds


def _source_files(source: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, bytes]]:
    if not source.exists():
        raise DicomSourceError(f"{source}: no such file or folder")
    if source.is_dir():
        yield from _folder_files(source, skipped)
    elif _file_is_zip(source):
        yield from _zip_files(source, skipped)
    else:
        data = _file_read_capped(source)
        if data is None:
            skipped.append((source.name, _too_large()))
        else:
            yield source.name, data


def _file_is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(132)
    return not _looks_like_dicom(head) and zipfile.is_zipfile(path)


def _too_large() -> str:
    return f"larger than {SOURCE_MAX_FILE_BYTES:,} bytes"


def _file_read_capped(path: Path) -> bytes | None:
    # The size first: read(cap + 1) would allocate the whole cap for even a small file.
    if path.stat().st_size > SOURCE_MAX_FILE_BYTES:
        return None
    data = path.read_bytes()
    return None if len(data) > SOURCE_MAX_FILE_BYTES else data


def _folder_files(folder: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, bytes]]:
    total = 0
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    for count, path in enumerate(paths):
        name = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # hidden files and folders (.DS_Store, .git)
        if count >= SOURCE_MAX_FILES:
            raise DicomSourceError(f"{folder}: more than {SOURCE_MAX_FILES} files")
        data = _file_read_capped(path)
        if data is None:
            skipped.append((name, _too_large()))
            continue
        total += len(data)
        if total > SOURCE_MAX_TOTAL_BYTES:
            raise DicomSourceError(
                f"{folder}: more than {SOURCE_MAX_TOTAL_BYTES // (1024 * 1024)} MB of files"
            )
        yield name, data


def _zip_files(path: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, bytes]]:
    yield from zip_members_read(path, label=path.name, skipped=skipped)


def zip_members_read(
    source: Path | BinaryIO, *, label: str, skipped: list[tuple[str, str]]
) -> Iterator[tuple[str, bytes]]:
    """A zip's files as (name, bytes), with the bomb limits; nothing is extracted to disk.

    Members are read into memory with a size cap (one file, and all of them together) and
    at most ``SOURCE_MAX_FILES`` of them; oversized or unreadable members are listed in
    ``skipped``, hidden files and macOS resource forks left out. ``label`` names the zip in
    messages. Raises ``DicomSourceError`` for an unreadable zip or one over the limits.
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DicomSourceError(f"{label}: not a readable zip file ({exc})") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > SOURCE_MAX_FILES:
            raise DicomSourceError(f"{label}: more than {SOURCE_MAX_FILES} files")
        total = 0
        for member in members:
            name = member.filename
            base = name.rsplit("/", 1)[-1]
            if name.startswith("__MACOSX/") or base.startswith("."):
                continue  # macOS resource forks and hidden files
            data = _zip_member_read(archive, member, skipped)
            if data is None:
                continue
            total += len(data)
            if total > SOURCE_MAX_TOTAL_BYTES:
                raise DicomSourceError(
                    f"{label}: more than {SOURCE_MAX_TOTAL_BYTES // (1024 * 1024)} MB uncompressed"
                )
            yield name, data


def is_zip(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first 132 bytes) is a zip archive.

    By the first local header, not by ``zipfile.is_zipfile`` (which finds a zip appended to
    a JPEG, a polyglot that must be read as the JPEG it starts as); a DICOM whose preamble
    starts like a zip is a DICOM.
    """
    return head[:4] == b"PK\x03\x04" and not _looks_like_dicom(head)


def dicom_header_read(name: str, data: bytes) -> Dataset:
    """The header of a DICOM file as it is (not de-identified), without the pixel data.

    For describing a series (its technique line), never for storing: what is stored goes
    through ``images_prepare``.
    """
    _deflated_check(name, data)
    try:
        return pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types on arbitrary bytes
        raise ImageRejected(name, f"unreadable DICOM ({exc})") from exc


def _zip_member_read(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, skipped: list[tuple[str, str]]
) -> bytes | None:
    try:
        with archive.open(member) as handle:
            # Read one byte past the cap: the header's sizes can lie, the stream cannot.
            data = handle.read(SOURCE_MAX_FILE_BYTES + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
        skipped.append((member.filename, f"unreadable zip member ({exc})"))
        return None
    if len(data) > SOURCE_MAX_FILE_BYTES:
        skipped.append((member.filename, _too_large()))
        return None
    return data


def _series_sort(items: list[tuple[str, Dataset]]) -> list[tuple[str, Dataset]]:
    if not items:
        return items
    first_orientation = _floats(items[0][1].get("ImageOrientationPatient"), 6)
    positions = [_floats(ds.get("ImagePositionPatient"), 3) for _, ds in items]
    if first_orientation and all(positions):
        normal = _normal(first_orientation)
        keyed = [
            (float(np.dot(position, normal)), _instance_number(ds), name, ds)
            for (name, ds), position in zip(items, positions, strict=True)
        ]
    elif all(_instance_number(ds) is not None for _, ds in items):
        keyed = [(float(_instance_number(ds) or 0), 0, name, ds) for name, ds in items]
    else:
        keyed = [(0.0, 0, name, ds) for name, ds in items]
    keyed.sort(key=lambda row: (row[0], row[1] or 0, row[2]))
    return [(name, ds) for _, _, name, ds in keyed]


def _instance_number(ds: Dataset) -> int | None:
    try:
        return int(ds.InstanceNumber)
    except (AttributeError, TypeError, ValueError):
        return None
