"""Rendering a stored slice: modality values, a VOI window, zoom, annotations, PNG or JPEG.

A rendering is named by its ``RenderParams`` (``cases.imaging.params``), whose ``key()`` is
the render store's key. Two caches keep scrolling through a stack fast:

* ``slice_decode`` (``functools.lru_cache``, per process) holds the decoded pixel array of the
  most recently used slices, so a new window on the same slice does not read and decode the
  file again;
* the render store holds the encoded bytes under the key, shared by every worker: files under
  ``RENDER_CACHE_DIR`` (default ``MEDIA_ROOT/render-cache``), or Django's cache when
  ``REDIS_URL`` is set. The view sends a hash of the key as the strong ETag.

A rendering goes into the file store the second time a process renders it, not the first:
most windows a learner passes through (typing a width, stepping a centre) are asked for once,
and creating a file can cost nearly as much CPU as the rendering. A view asked for again, by
another learner, a shared link or an audience, is stored then. Redis writes are cheap, so with
``REDIS_URL`` every rendering is stored at once.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom
from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont
from pydicom.pixels import apply_modality_lut

from cases.models import Annotation, Slice

from .ingest import dicom_number
from .measure import (
    measurement_clamp,
    measurements_compute,
    measurements_draw,
    measurements_format,
    measurements_parse,
)
from .params import RenderParams
from .reformat import figure_volume, plane_image, reformat_slice

if TYPE_CHECKING:
    from numpy.typing import NDArray

DECODED_CACHE_SIZE = 64
LUT_STEP = 1024
RENDER_CACHE_SECONDS = 7 * 24 * 60 * 60
RENDERED_ONCE_SIZE = 20_000  # keys this process rendered once and did not store
JPEG_QUALITY = 90
ANNOTATION_COLOUR = (255, 214, 10)


@dataclass(frozen=True)
class DecodedSlice:
    """A slice's pixels ready for windowing, and the window its DICOM header suggests.

    ``pixels`` is float32 modality values (HU for CT) for grey16, uint8 for grey8 (rows x
    columns) and colour (rows x columns x 3). ``integer`` says that grey16 values are whole
    numbers within ``offset``..``offset + 65535``, which allows a lookup-table window. The
    arrays are read-only: they are shared through the cache.
    """

    pixels: NDArray
    header_window: tuple[float, float] | None = None  # (width, center)
    lut_index: NDArray | None = None  # uint16 (value - offset) for integer grey16 data
    offset: int = 0
    lut_length: int = 0  # the table's length: above the highest index


def slice_render(
    slice: Slice, params: RenderParams, *, annotations: Sequence[Annotation] = ()
) -> bytes:
    """The slice rendered as ``params`` ask, from the render store when it is there.

    ``params.zoom`` magnifies around (``cx``, ``cy``); the crop is scaled to the size the
    whole image would have, so the picture keeps its size as it is magnified. Of
    ``annotations``, those that belong to this slice are drawn (``params.annotations`` is
    replaced by their digest, as in ``slice_render_params``).
    """
    drawn = annotations_for_slice(annotations, slice)
    params = slice_render_params(slice, params, annotations=drawn)
    key = params.key()
    data = render_cache_get(key)
    if data is None:
        data = _slice_render_uncached(slice, params, drawn)
        if _uses_shared_cache() or _rendered_before(key):
            render_cache_set(key, data)
    return data


def slice_render_params(
    slice: Slice, params: RenderParams, *, annotations: Sequence[Annotation] = ()
) -> RenderParams:
    """``params`` naming exactly what ``slice_render`` returns for them (its ``key()``).

    A 16-bit slice's missing window is completed from its figure's own; the annotation
    digest is that of ``annotations`` that belong to the slice; measurements are clamped to
    the slice's image.
    """
    width, center = _window_requested(slice, params.window_width, params.window_center)
    if params.plane != "axial":
        # A reformat draws no author's marks (placed on axial slices); its measurements are
        # clamped to the plane's picture when it is drawn.
        return replace(params, window_width=width, window_center=center, annotations="")
    digest = annotations_digest(annotations_for_slice(annotations, slice))
    measurements = params.measurements
    if measurements and slice.width and slice.height:
        clamped = [
            measurement_clamp(m, width=slice.width, height=slice.height)
            for m in measurements_parse(measurements)
        ]
        measurements = measurements_format(clamped)
    return replace(
        params,
        window_width=width,
        window_center=center,
        annotations=digest,
        measurements=measurements,
    )


_rendered_once: set[str] = set()


def _rendered_before(key: str) -> bool:
    """True the second time this process renders ``key`` (then it is worth storing)."""
    if key in _rendered_once:
        _rendered_once.discard(key)
        return True
    if len(_rendered_once) >= RENDERED_ONCE_SIZE:
        _rendered_once.clear()
    _rendered_once.add(key)
    return False


def render_etag(key: str) -> str:
    """A strong ETag for a render key: short, and naming nothing but a hash."""
    return '"' + hashlib.blake2b(key.encode(), digest_size=16).hexdigest() + '"'


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """The rendered image's size: the stored size, or scaled so its longest side is ``size``."""
    if not size or max(width, height) == size:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def annotations_for_slice(annotations: Iterable[Annotation], slice: Slice) -> list[Annotation]:
    """The annotations drawn on ``slice``: those for its stack position and those for all."""
    return [a for a in annotations if a.slice_index is None or a.slice_index == slice.position]


def annotations_digest(annotations: Sequence[Annotation]) -> str:
    """A short hash of what would be drawn; it changes when an author edits an annotation."""
    if not annotations:
        return ""

    def drawn(a: Annotation) -> str:
        # Unlabelled arrows and stars hash as they always have, so their cached images stay.
        text = f"{a.kind},{a.x:.4f},{a.y:.4f},{a.angle:.1f}"
        if a.kind == Annotation.Kind.ELLIPSE:
            text += f",{a.radius_x:.4f},{a.radius_y:.4f}"
        return text + (f",{a.label}" if a.label else "")

    text = ";".join(sorted(drawn(a) for a in annotations))
    return hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def slice_pixels(slice: Slice) -> DecodedSlice:
    """The decoded pixels of a slice, from the in-process cache when possible."""
    return slice_decode(slice.token, slice.image.name, slice.kind)


@lru_cache(maxsize=DECODED_CACHE_SIZE)
def slice_decode(token: str, name: str, kind: str) -> DecodedSlice:
    """Read and decode a stored file; cached per token (``token`` is the cache's real key)."""
    storage = Slice._meta.get_field("image").storage
    with storage.open(name, "rb") as handle:
        data = handle.read()
    if name.lower().endswith(".dcm"):
        decoded = _dicom_decode(data, kind)
    else:
        pixels = _raster_decode(data, kind)
        decoded = (
            _with_lut_index(pixels, None) if kind == Slice.Kind.GREY16 else DecodedSlice(pixels)
        )
    decoded.pixels.setflags(write=False)
    if decoded.lut_index is not None:
        decoded.lut_index.setflags(write=False)
    return decoded


def window_apply(values: NDArray, *, width: float, center: float) -> NDArray:
    """DICOM LINEAR VOI function (PS3.3 C.11.2.1.2.1) to 0-255, as uint8.

    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, 0 at or below c - 0.5 - (w - 1) / 2 and 255
    above c - 0.5 + (w - 1) / 2; the clip gives exactly those two limbs. Values are rounded
    half up. A width of 1 or less is a threshold at c - 0.5.
    """
    values = np.asarray(values, dtype=np.float32)
    if width <= 1:
        return np.where(values <= center - 0.5, 0, 255).astype(np.uint8)
    scaled = values - np.float32(center - 0.5)
    scaled /= np.float32(width - 1)
    scaled += np.float32(0.5)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= np.float32(255.0)
    scaled += np.float32(0.5)
    return scaled.astype(np.uint8)


def window_lut(*, offset: int, length: int, width: float, center: float) -> NDArray:
    """``window_apply`` for every whole value offset..offset+length-1, as a lookup table."""
    return window_apply(np.arange(offset, offset + length, dtype=np.float32), width=width,
                        center=center)  # fmt: skip


# --- the render store ------------------------------------------------------------------------


def render_cache_dir() -> Path:
    return Path(_render_folder())


def _uses_shared_cache() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def _render_path(key: str) -> Path:
    return Path(_render_file(key))


def _render_file(key: str) -> str:
    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return os.path.join(_render_folder(), digest[:2], digest)


def _render_folder() -> str:
    # Strings, not Paths: every uncached render first looks for its file, and building the
    # name through pathlib was most of that look's cost.
    return _folder(str(settings.MEDIA_ROOT), getattr(settings, "RENDER_CACHE_DIR", None))


@lru_cache(maxsize=8)
def _folder(media_root: str, configured: str | None) -> str:
    return str(configured) if configured else os.path.join(media_root, "render-cache")


def render_cache_get(key: str) -> bytes | None:
    """Stored render bytes for ``key``, or None."""
    if _uses_shared_cache():
        return cache.get(key)
    try:
        with open(_render_file(key), "rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None


def render_cache_set(key: str, data: bytes) -> None:
    """Store render bytes; a file appears whole or not at all (written aside, then renamed)."""
    if _uses_shared_cache():
        cache.set(key, data, RENDER_CACHE_SECONDS)
        return
    path = _render_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- internals -------------------------------------------------------------------------------


def _slice_render_uncached(
    slice: Slice, params: RenderParams, annotations: Sequence[Annotation]
) -> bytes:
    """Render ``params`` as completed by ``slice_render_params``, drawing ``annotations``."""
    if params.plane != "axial":
        slice, decoded = reformat_measured(slice, params.plane, params.plane_index)
        annotations = ()
    else:
        decoded = slice_pixels(slice)
    height, width = decoded.pixels.shape[:2]
    out_size = output_size(width, height, params.size)
    zoom, cx, cy = params.zoom, params.cx, params.cy
    left, top = (cx - 0.5 / zoom) * width, (cy - 0.5 / zoom) * height
    right, bottom = left + width / zoom, top + height / zoom
    # Window only the pixels the box needs (plus a margin for the resampling filter).
    x0, y0 = max(math.floor(left) - 2, 0), max(math.floor(top) - 2, 0)
    x1, y1 = min(math.ceil(right) + 2, width), min(math.ceil(bottom) + 2, height)
    region = np.s_[y0:y1, x0:x1]
    out = _windowed(slice, decoded, region, params.window_width, params.window_center)
    # MONOCHROME1 shows low values bright; the viewer's invert flips whatever is shown.
    if bool(slice.inverted) != bool(params.invert):
        out = 255 - out
    image = Image.fromarray(np.ascontiguousarray(out))
    box = (left - x0, top - y0, right - x0, bottom - y0)
    if image.size != out_size or box != (0, 0, *image.size):
        upscaling = (right - left) < out_size[0]
        # Lanczos keeps edges sharp when a 512-pixel CT fills a large screen.
        resample = Image.Resampling.LANCZOS if upscaling else Image.Resampling.BILINEAR
        image = image.resize(out_size, resample, box=box, reducing_gap=2.0)
    if annotations:
        image = _annotations_draw(image, annotations, box=(left, top, right, bottom),
                                  source=(width, height))  # fmt: skip
    if params.measurements:
        results = measurements_compute(
            slice, measurements_parse(params.measurements), decoded=decoded
        )
        image = measurements_draw(image, results, box=(left, top, right, bottom))
    buffer = io.BytesIO()
    if params.fmt == "jpeg":
        # No chroma subsampling: the author's yellow arrows keep sharp edges.
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def reformat_measured(slice: Slice, plane: str, plane_index: int) -> tuple[Slice, DecodedSlice]:
    """A reformat's plane as a slice to measure on and its decoded values.

    The slice is ``slice`` (any of the stack) with the plane's size and square pixel
    spacing, the values those of the resampled volume. Raises ``ReformatError`` when the
    stack cannot be reformatted.
    """
    volume = figure_volume(slice.figure_id, decode=slice_decode)
    values = plane_image(volume, plane, plane_index)
    return reformat_slice(slice, volume, plane, values.shape), _reformat_decoded(
        slice, volume, values
    )


def _reformat_decoded(slice: Slice, volume, values: NDArray) -> DecodedSlice:
    """The reformatted plane as a decoded slice."""
    header_window = slice_pixels(slice).header_window
    offset, length = math.floor(volume.low), math.floor(volume.high) - math.floor(volume.low) + 1
    if length > 65536:
        return DecodedSlice(values, header_window)
    # Interpolated values rounded half up to whole units keep the lookup-table window.
    index = values - np.float32(offset - 0.5)
    return DecodedSlice(values, header_window, lut_index=index.astype(np.uint16), offset=offset,
                        lut_length=length)  # fmt: skip


def _windowed(
    slice: Slice,
    decoded: DecodedSlice,
    region: tuple,
    width: float | None,
    center: float | None,
) -> NDArray:
    if slice.kind == Slice.Kind.GREY16:
        width, center = _window_default(decoded, width, center)
        if decoded.lut_index is not None:
            # Whole-number data: one table lookup per pixel instead of six float passes.
            index = decoded.lut_index[region]
            lut = _lut_cached(decoded.offset, decoded.lut_length, width, center)
            # Every index is below lut_length, so "wrap" never wraps; it skips the bounds
            # check of the default "raise".
            return lut.take(index, mode="wrap")
        return window_apply(decoded.pixels[region], width=width, center=center)
    pixels = decoded.pixels[region]
    if width is not None and center is not None:
        # 8-bit grey (or each colour channel): the same formula on the stored 0-255 values.
        return _lut_cached(0, 256, width, center).take(pixels, mode="wrap")
    return pixels


@lru_cache(maxsize=256)
def _lut_cached(offset: int, length: int, width: float, center: float) -> NDArray:
    lut = window_lut(offset=offset, length=length, width=width, center=center)
    lut.setflags(write=False)
    return lut


def _annotations_draw(
    image: Image.Image,
    annotations: Sequence[Annotation],
    *,
    box: tuple[float, float, float, float],
    source: tuple[int, int],
) -> Image.Image:
    """Draw the marks and their labels, sized to the output (not to the magnification).

    The geometry is in units of 1/512 of the output's longest side, as the admin's editor
    draws it (``static/js/annotation_editor.js``), so what an author places is what is shown.
    Labels are outlined, and never smaller than ``LABEL_MIN_PX``, so they read on any image
    at any size.
    """
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    scale_x = image.width / (right - left)
    scale_y = image.height / (bottom - top)
    unit = max(image.width, image.height) / 512  # 1 at a 512-pixel image
    outline = max(1, round(unit))
    font_px = max(LABEL_MIN_PX, round(LABEL_PX * unit))
    font = _label_font(font_px)
    for annotation in annotations:
        x = (annotation.x * source[0] - left) * scale_x
        y = (annotation.y * source[1] - top) * scale_y
        rx = annotation.radius_x * source[0] * scale_x
        ry = annotation.radius_y * source[1] * scale_y
        reach = 20 * unit + (max(rx, ry) if annotation.kind == Annotation.Kind.ELLIPSE else 0)
        if not (-reach <= x <= image.width + reach and -reach <= y <= image.height + reach):
            continue
        if annotation.kind == Annotation.Kind.ELLIPSE:
            ring = _ellipse_points(x, y, rx, ry, annotation.angle)
            draw.line([*ring, ring[0]], fill=(0, 0, 0), width=round(3 * unit) + 2 * outline)
            draw.line([*ring, ring[0]], fill=ANNOTATION_COLOUR, width=max(1, round(3 * unit)))
        for shape, width in _annotation_shapes(annotation, x, y, unit):
            draw.polygon(shape, fill=ANNOTATION_COLOUR, outline=(0, 0, 0), width=width)
        if annotation.label:
            (lx, ly), anchor = _label_place(annotation, x, y, rx, ry, unit)
            lx, ly = _label_inside(draw, (lx, ly), anchor, annotation.label, font, image.size)
            draw.text((lx, ly), annotation.label, fill=ANNOTATION_COLOUR, font=font,
                      anchor=anchor, stroke_width=max(1, round(font_px / 8)),
                      stroke_fill=(0, 0, 0))  # fmt: skip
    return image


LABEL_PX = 16  # at a 512-pixel image
LABEL_MIN_PX = 12
ARROW_LENGTH = 60  # units
HEAD_LENGTH = 20


@lru_cache(maxsize=16)
def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's own scalable font: no system font to install, the same glyphs everywhere.
    return ImageFont.load_default(size=size)


def _ellipse_points(
    x: float, y: float, rx: float, ry: float, angle: float
) -> list[tuple[float, float]]:
    a = math.radians(angle)
    cos_a, sin_a = math.cos(a), -math.sin(a)  # counter-clockwise, with y growing downwards
    points = []
    for i in range(72):
        t = math.radians(5 * i)
        ex, ey = rx * math.cos(t), ry * math.sin(t)
        points.append((x + ex * cos_a - ey * sin_a, y + ex * sin_a + ey * cos_a))
    return points


def _label_place(
    annotation: Annotation, x: float, y: float, rx: float, ry: float, unit: float
) -> tuple[tuple[float, float], str]:
    """Where a label goes, and its Pillow anchor: beyond an arrow's tail, beside a mark."""
    kind = annotation.kind
    if kind == Annotation.Kind.TEXT:
        return (x, y), "mm"
    if kind == Annotation.Kind.STAR:
        return (x + 17 * unit, y), "lm"
    if kind == Annotation.Kind.ELLIPSE:
        a = math.radians(annotation.angle)
        half_height = math.hypot(rx * math.sin(a), ry * math.cos(a))
        return (x, y - half_height - 4 * unit), "md"
    a = math.radians(annotation.angle)
    dx, dy = math.cos(a), -math.sin(a)
    length = (HEAD_LENGTH if kind == Annotation.Kind.ARROWHEAD else ARROW_LENGTH) + 4
    tail = (x - dx * length * unit, y - dy * length * unit)
    horizontal = "r" if dx > 0.38 else "l" if dx < -0.38 else "m"
    vertical = "d" if dy > 0.38 else "a" if dy < -0.38 else "m"
    return tail, horizontal + vertical


def _label_inside(
    draw: ImageDraw.ImageDraw,
    at: tuple[float, float],
    anchor: str,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    size: tuple[int, int],
) -> tuple[float, float]:
    """``at`` moved so that the whole label lies within the image, where it fits."""
    x, y = at
    x0, y0, x1, y1 = draw.textbbox(at, text, font=font, anchor=anchor)
    margin = 2
    x += max(margin - x0, 0) - max(x1 - (size[0] - margin), 0) if x1 - x0 < size[0] else 0
    y += max(margin - y0, 0) - max(y1 - (size[1] - margin), 0) if y1 - y0 < size[1] else 0
    return x, y


def _annotation_shapes(
    annotation: Annotation, x: float, y: float, unit: float
) -> list[tuple[list[tuple[float, float]], int]]:
    if annotation.kind in (Annotation.Kind.ELLIPSE, Annotation.Kind.TEXT):
        return []
    if annotation.kind == Annotation.Kind.STAR:
        radius = 14 * unit
        points = []
        for i in range(10):
            r = radius if i % 2 == 0 else radius * 0.45
            a = math.radians(-90 + 36 * i)
            points.append((x + r * math.cos(a), y + r * math.sin(a)))
        return [(points, max(1, round(unit)))]
    # The angle is where the arrow points, counter-clockwise from east (y grows downwards).
    a = math.radians(annotation.angle)
    dx, dy = math.cos(a), -math.sin(a)  # pointing direction
    px, py = -dy, dx  # perpendicular
    head_length, head_half = HEAD_LENGTH * unit, 10 * unit
    base = (x - dx * head_length, y - dy * head_length)
    head = [
        (x, y),
        (base[0] + px * head_half, base[1] + py * head_half),
        (base[0] - px * head_half, base[1] - py * head_half),
    ]
    shapes = []
    if annotation.kind != Annotation.Kind.ARROWHEAD:
        half = (1.5 if annotation.kind == Annotation.Kind.THIN_ARROW else 3) * unit
        length = ARROW_LENGTH * unit
        start = (x - dx * length, y - dy * length)
        shaft = [
            (start[0] + px * half, start[1] + py * half),
            (base[0] + px * half, base[1] + py * half),
            (base[0] - px * half, base[1] - py * half),
            (start[0] - px * half, start[1] - py * half),
        ]
        shapes.append((shaft, max(1, round(unit))))
    shapes.append((head, max(1, round(unit))))
    return shapes


def _window_requested(
    slice: Slice,
    width: float | None,
    center: float | None,
) -> tuple[float | None, float | None]:
    """The window asked for, completed from the figure's own window for 16-bit slices."""
    if slice.kind == Slice.Kind.GREY16 and (width is None or center is None):
        figure = slice.figure
        if figure.window_width is not None and figure.window_center is not None:
            width = figure.window_width if width is None else width
            center = figure.window_center if center is None else center
    return width, center


def _window_default(
    decoded: DecodedSlice, width: float | None, center: float | None
) -> tuple[float, float]:
    """Fill in a missing window: the DICOM header's, else the image's whole range."""
    if width is not None and center is not None:
        return width, center
    if decoded.header_window is not None:
        header_width, header_center = decoded.header_window
    else:
        low = float(decoded.pixels.min()) if decoded.pixels.size else 0.0
        high = float(decoded.pixels.max()) if decoded.pixels.size else 0.0
        # Maps low to 0 and high to 255 exactly under the LINEAR function.
        header_width = high - low + 1
        header_center = (low + high) / 2 + 0.5
    return (
        header_width if width is None else width,
        header_center if center is None else center,
    )


def _dicom_decode(data: bytes, kind: str) -> DecodedSlice:
    ds = pydicom.dcmread(io.BytesIO(data))
    pixels = ds.pixel_array
    if kind == Slice.Kind.COLOUR:
        return DecodedSlice(pixels=np.ascontiguousarray(pixels, dtype=np.uint8))
    if pixels.ndim == 3:  # a multi-frame file stored before frames were split: first frame
        pixels = pixels[0]
    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
    return _with_lut_index(values, _header_window(ds))


def _with_lut_index(values: NDArray, header_window: tuple[float, float] | None) -> DecodedSlice:
    values = np.asarray(values, dtype=np.float32)
    if values.size:
        low, high = float(values.min()), float(values.max())
        if high - low < 65536 and np.array_equal(values, np.round(values)):
            # The table spans whole steps of LUT_STEP, so the slices of a stack share the
            # tables of a window (a scroll computes one or two, not one a slice).
            offset = math.floor(low / LUT_STEP) * LUT_STEP
            length = (math.floor(high / LUT_STEP) + 1) * LUT_STEP - offset
            if length > 65536:
                offset, length = int(low), int(high) - int(low) + 1
            index = (values - np.float32(offset)).astype(np.uint16)
            return DecodedSlice(
                values, header_window, lut_index=index, offset=offset, lut_length=length
            )
    return DecodedSlice(values, header_window)


def _header_window(ds: pydicom.Dataset) -> tuple[float, float] | None:
    width = dicom_number(ds.get("WindowWidth"))
    center = dicom_number(ds.get("WindowCenter"))
    if width is None or center is None or width <= 0:
        return None
    return width, center


def _raster_decode(data: bytes, kind: str) -> NDArray:
    with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
        if kind == Slice.Kind.GREY16:
            # 16-bit PNGs are stored with slope 1 and intercept 0: the values are the data.
            return np.asarray(image, dtype=np.float32)
        mode = "RGB" if kind == Slice.Kind.COLOUR else "L"
        return np.asarray(image.convert(mode), dtype=np.uint8)
