"""Rendering a stored slice as PNG: modality values, a VOI window, inversion and size.

Two caches keep scrolling through a stack fast:

* ``slice_decode`` (``functools.lru_cache``, per process) holds the decoded pixel array of the
  most recently used slices, so a new window on the same slice does not read and decode the
  file again;
* Django's cache holds the rendered PNG bytes under ``slice_render_key(...)``, which the view
  also sends as the ETag.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pydicom
from django.core.cache import cache
from PIL import Image
from pydicom.pixels import apply_modality_lut

from cases.models import Slice

from .ingest import dicom_number

if TYPE_CHECKING:
    from numpy.typing import NDArray

# Bump when the rendering changes, so cached PNGs (and browser ETags) are not reused.
RENDER_VERSION = 1
DECODED_CACHE_SIZE = 64
RENDER_CACHE_SECONDS = 7 * 24 * 60 * 60


@dataclass(frozen=True)
class DecodedSlice:
    """A slice's pixels ready for windowing, and the window its DICOM header suggests.

    ``pixels`` is float32 modality values (HU for CT) for grey16, uint8 for grey8 (rows x
    columns) and colour (rows x columns x 3). The arrays are read-only: they are shared
    through the cache.
    """

    pixels: NDArray
    header_window: tuple[float, float] | None = None  # (width, center)


def slice_render(
    slice: Slice,
    *,
    window_width: float | None = None,
    window_center: float | None = None,
    invert: bool = False,
    max_size: int | None = None,
) -> bytes:
    """The slice as PNG bytes, windowed, inverted and downsized as asked (cached)."""
    key = slice_render_key(
        slice,
        window_width=window_width,
        window_center=window_center,
        invert=invert,
        max_size=max_size,
    )
    png = cache.get(key)
    if png is None:
        png = _slice_render_uncached(
            slice,
            window_width=window_width,
            window_center=window_center,
            invert=invert,
            max_size=max_size,
        )
        cache.set(key, png, RENDER_CACHE_SECONDS)
    return png


def slice_render_key(
    slice: Slice,
    *,
    window_width: float | None = None,
    window_center: float | None = None,
    invert: bool = False,
    max_size: int | None = None,
) -> str:
    """A cache key (and ETag) naming exactly what ``slice_render`` would return."""
    width, center = _window_requested(slice, window_width, window_center)
    digest = (slice.sha256 or "")[:12]
    return (
        f"slice-render:v{RENDER_VERSION}:{slice.token}:{digest}:"
        f"{_number_key(width)}:{_number_key(center)}:{int(bool(invert))}:{max_size or 0}"
    )


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
        decoded = DecodedSlice(pixels=_raster_decode(data, kind))
    decoded.pixels.setflags(write=False)
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


# --- internals -------------------------------------------------------------------------------


def _slice_render_uncached(
    slice: Slice,
    *,
    window_width: float | None,
    window_center: float | None,
    invert: bool,
    max_size: int | None,
) -> bytes:
    decoded = slice_pixels(slice)
    width, center = _window_requested(slice, window_width, window_center)
    if slice.kind == Slice.Kind.GREY16:
        width, center = _window_default(decoded, width, center)
        out = window_apply(decoded.pixels, width=width, center=center)
    elif width is not None and center is not None:
        # 8-bit grey (or each colour channel): the same formula on the stored 0-255 values.
        out = window_apply(decoded.pixels, width=width, center=center)
    else:
        out = decoded.pixels
    # MONOCHROME1 shows low values bright; the viewer's invert flips whatever is shown.
    if bool(slice.inverted) != bool(invert):
        out = 255 - out
    image = Image.fromarray(np.ascontiguousarray(out))
    if max_size and max(image.size) > max_size:
        image.thumbnail((max_size, max_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


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
    return DecodedSlice(pixels=values, header_window=_header_window(ds))


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


def _number_key(value: float | None) -> str:
    return "d" if value is None else f"{value:g}"
