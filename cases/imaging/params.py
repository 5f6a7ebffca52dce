"""What one rendering of a slice is: ``RenderParams``, with its cache key and its image URL.

A rendering is named by the slice's token (a slice's file never changes; a replaced image is a
new slice with a new token) and what is done to it. The image URL's query string carries the
rest, so the URL names the rendering completely and can be cached forever:

    ww, wc      window width and centre (both, or neither: the image's default window)
    invert      1 shows the image inverted
    zoom        magnification, 1 to ``ZOOM_MAX``
    cx, cy      the centre of the magnified box, as fractions of the image's width and height
    ann         the digest of the annotations drawn (``render.annotations_digest``)
    size        the longest side of the output, one of ``RENDER_SIZES`` (smaller sources are
                upscaled to it, larger ones reduced); none is the stored size
    m           measurements drawn with their values (``cases.imaging.measure``), on this
                slice (no ``@slice`` tags)
    plane, i    a reformat (``cases.imaging.reformat``): ``coronal`` or ``sagittal``, and the
                0-based slice along that plane; the token is then any slice of the stack (the
                viewer names the first). None is the slice itself (axial).

The format (PNG or JPEG) is the URL's extension.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from .measure import MeasurementError, measurements_format, measurements_parse

# Bump when the rendering changes, so cached images (and browser ETags) are not reused.
RENDER_VERSION = 4
ZOOM_MAX = 8.0
# A few steps, so that the sizes pages ask for (their box in device pixels, rounded up to a
# step) keep hitting the render store.
RENDER_SIZES = (256, 512, 768, 1024, 1536, 2048)
WINDOW_LIMIT = 100_000.0
FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}
_URL_NAMES = {"png": "cases:slice_image", "jpeg": "cases:slice_image_jpeg"}
_DIGEST = re.compile(r"[0-9a-f]{10}")
# Left as they are in URLs, so that ``m`` reads as written: ``m=line:10,20,30,40;point:5,5``.
MEASUREMENT_SAFE = ",:;@"
PLANES = ("axial", "coronal", "sagittal")
PLANE_INDEX_MAX = 100_000


@dataclass(frozen=True)
class RenderParams:
    """A slice's rendering: window, inversion, zoom box, size, annotations and format.

    ``window_width``/``window_center`` None is the default window (the figure's, the DICOM
    header's, or the stored values as they are); ``annotations`` is the digest of the
    annotations to draw, "" for none. The zoom box is normalised on creation, so two values
    that ask for the same rendering compare equal.
    """

    token: str
    window_width: float | None = None
    window_center: float | None = None
    invert: bool = False
    size: int | None = None
    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5
    annotations: str = ""
    fmt: str = "png"
    measurements: str = ""  # canonical ``m`` (``measurements_format``), "" for none
    plane: str = "axial"  # or a reformat: "coronal", "sagittal"
    plane_index: int = 0  # the slice along a reformat's plane, 0-based

    def __post_init__(self) -> None:
        zoom, cx, cy = zoom_normalise(self.zoom, self.cx, self.cy)
        object.__setattr__(self, "zoom", zoom)
        object.__setattr__(self, "cx", cx)
        object.__setattr__(self, "cy", cy)
        if self.plane == "axial":
            object.__setattr__(self, "plane_index", 0)

    @classmethod
    def from_query(
        cls, token: str, query: Mapping[str, str], *, fmt: str = "png"
    ) -> RenderParams | None:
        """The rendering an image URL asks for, or None if its query string is unreadable.

        Out-of-range values are clamped; a value that is not a number, a size not offered or
        a malformed digest is unreadable, and so are measurements that do not parse, are too
        many, or name a slice (an image shows its own slice's measurements only).
        """
        for name in ("ww", "wc", "zoom", "cx", "cy", "size"):
            value = query.get(name)
            if value is not None and query_float(query, name) is None:
                return None
        size = int(float(query.get("size") or 0))
        if size and size not in RENDER_SIZES:
            return None
        digest = query.get("ann", "")
        if digest and not _DIGEST.fullmatch(digest):
            return None
        try:
            measurements = measurements_parse(query.get("m", ""))
        except MeasurementError:
            return None
        if any(m.slice is not None for m in measurements):
            return None
        plane = query.get("plane") or "axial"
        if plane not in PLANES:
            return None
        plane_index = query.get("i") or "0"
        if plane == "axial" and "i" in query or not plane_index.isdigit():
            return None
        width, center = window_param(query)
        return cls(
            token,
            window_width=width,
            window_center=center,
            invert=query.get("invert") == "1",
            size=size or None,
            zoom=float(query.get("zoom") or 1),
            cx=float(query.get("cx") or 0.5),
            cy=float(query.get("cy") or 0.5),
            annotations=digest,
            fmt=fmt,
            measurements=measurements_format(measurements),
            plane=plane,
            plane_index=min(int(plane_index), PLANE_INDEX_MAX) if plane != "axial" else 0,
        )

    def key(self) -> str:
        """The render store's key: it names exactly the bytes of this rendering."""
        box = f"{_number(self.zoom)}@{self.cx:.4f},{self.cy:.4f}" if self.zoom > 1 else "1"
        return (
            f"slice-render:v{RENDER_VERSION}:{self.token}:{_number(self.window_width)}:"
            f"{_number(self.window_center)}:{int(bool(self.invert))}:{self.size or 0}:{box}:"
            f"{self.annotations or '-'}:{self.fmt}{self._measurements_key()}{self._plane_key()}"
        )

    def _plane_key(self) -> str:
        # Only for reformats, so the keys of axial renderings stay what they were.
        return "" if self.plane == "axial" else f":{self.plane}{self.plane_index}"

    def _measurements_key(self) -> str:
        # Only when there are any, so the keys of plain renderings stay what they were.
        if not self.measurements:
            return ""
        return ":m" + hashlib.blake2b(self.measurements.encode(), digest_size=12).hexdigest()

    def url(self) -> str:
        """The image URL: it names the slice by its random token only (no case, no file)."""
        query: dict[str, str | int] = {}
        if self.window_width is not None and self.window_center is not None:
            query["ww"] = _number(self.window_width)
            query["wc"] = _number(self.window_center)
        if self.invert:
            query["invert"] = 1
        if self.zoom > 1:
            query |= {"zoom": _number(self.zoom), "cx": f"{self.cx:.4g}", "cy": f"{self.cy:.4g}"}
        if self.annotations:
            query["ann"] = self.annotations
        if self.size:
            query["size"] = self.size
        if self.measurements:
            query["m"] = self.measurements
        if self.plane != "axial":
            query |= {"plane": self.plane, "i": self.plane_index}
        base = reverse(_URL_NAMES[self.fmt], args=[self.token])
        return f"{base}?{urlencode(query, safe=MEASUREMENT_SAFE)}" if query else base


def zoom_normalise(zoom: float, cx: float, cy: float) -> tuple[float, float, float]:
    """Zoom within 1..ZOOM_MAX and a centre that keeps the magnified box inside the image."""
    if not (math.isfinite(zoom) and math.isfinite(cx) and math.isfinite(cy)):
        return 1.0, 0.5, 0.5
    zoom = round(min(max(zoom, 1.0), ZOOM_MAX), 2)
    if zoom <= 1:
        return 1.0, 0.5, 0.5
    half = 0.5 / zoom
    return zoom, round(min(max(cx, half), 1 - half), 4), round(min(max(cy, half), 1 - half), 4)


def query_float(query: Mapping[str, str], name: str) -> float | None:
    """A finite number from the query string, or None."""
    try:
        value = float(query.get(name, ""))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def window_param(query: Mapping[str, str]) -> tuple[float | None, float | None]:
    """(ww, wc) from a query string, clamped, or (None, None) if either is missing or unusable."""
    width, center = query_float(query, "ww"), query_float(query, "wc")
    if width is None or center is None:
        return None, None
    width = min(max(width, 1.0), 2 * WINDOW_LIMIT)
    center = min(max(center, -WINDOW_LIMIT), WINDOW_LIMIT)
    return width, center


def _number(value: float | None) -> str:
    return "d" if value is None else f"{value:g}"
