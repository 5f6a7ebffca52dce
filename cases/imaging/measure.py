"""Measurements on a slice: parsed from the view's ``m``, computed from the stored pixels.

``m`` holds up to ``MEASUREMENTS_MAX`` measurements separated by ``;``, each a kind and its
coordinates in the source image's pixels ((0, 0) is the top-left corner of the top-left
pixel, so pixel (i, j) has its centre at (i + 0.5, j + 0.5))::

    point:x,y                   the value (HU, or grey level) of the pixel under (x, y)
    line:x1,y1,x2,y2            length in mm
    angle:x1,y1,x2,y2,x3,y3     degrees at (x2, y2) between the arms to the other two points
    ellipse:cx,cy,rx,ry         area in mm², mean, SD, min and max of the pixels inside

A measurement belongs to the slice it was drawn on: ``line@14:...`` is on slice 14 of a
stack, a bare ``line:...`` on the slice displayed. A PACS keeps a measurement on its image
while the reader scrolls away and back, so the viewer keeps every measurement in its links
and writes the slice of those not on the displayed slice.

Lengths and areas use the slice's pixel spacing (``Slice.spacing``), x and y apart, so an
anisotropic spacing gives true lengths and angles; without spacing they are in pixels and
say so. Values are the modality values the renderer windows (HU for CT through the rescale),
grey levels for 8-bit pictures, and luma (ITU-R BT.601) for colour ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from django.core.exceptions import BadRequest
from PIL import Image, ImageDraw, ImageFont

from cases.models import Figure, Slice

if TYPE_CHECKING:
    from numpy.typing import NDArray


class DecodedPixels(Protocol):
    """What is read of ``render.DecodedSlice`` (named here: render imports this module)."""

    pixels: NDArray


MEASUREMENTS_MAX = 20
MEASUREMENT_TEXT_MAX = 2000  # characters of ``m``: 20 of the longest kind, with room
COORDINATE_LIMIT = 1_000_000.0
KINDS: dict[str, int] = {"point": 2, "line": 4, "angle": 6, "ellipse": 4}
MEASURE_COLOUR = (64, 255, 160)
_ITEM = re.compile(r"(?P<kind>[a-z]+)(?:@(?P<slice>\d{1,6}))?:(?P<coords>[^;]*)")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class MeasurementError(BadRequest, ValueError):
    """An ``m`` that cannot be read: every view answers it with 400 (Django's BadRequest)."""


@dataclass(frozen=True)
class Measurement:
    """One measurement: its kind, coordinates in source pixels, and its slice (1-based).

    ``slice`` None is the slice displayed; ``ViewState`` fills it in.
    """

    kind: str
    coords: tuple[float, ...]
    slice: int | None = None

    def text(self, *, tagged: bool = True) -> str:
        """The canonical ``m`` item; ``tagged`` False leaves out the slice number."""
        tag = f"@{self.slice}" if tagged and self.slice is not None else ""
        return f"{self.kind}{tag}:{','.join(_coordinate(c) for c in self.coords)}"


@dataclass(frozen=True)
class MeasurementValue:
    """One figure of a result, as listed: its name, the number, the unit and the text."""

    name: str
    value: float
    unit: str
    text: str


@dataclass(frozen=True)
class MeasurementResult:
    """A measurement computed on its slice: what the list shows and the image's label."""

    number: int  # 1-based, in the order of the slice's measurements
    measurement: Measurement
    values: tuple[MeasurementValue, ...]
    label: str  # short, drawn on the image
    note: str = ""  # e.g. "pixels: no pixel spacing in the header"

    @property
    def kind(self) -> str:
        return self.measurement.kind

    @property
    def summary(self) -> str:
        return ", ".join(v.text for v in self.values)


def measurements_parse(text: str) -> list[Measurement]:
    """The measurements of an ``m`` value; raise MeasurementError if it cannot be read.

    Unknown kinds, a wrong number of coordinates, a non-number, a non-finite number, or more
    than ``MEASUREMENTS_MAX`` are errors; out-of-image coordinates are not (they are clamped
    by ``measurements_clamp`` once the slice is known). Empty items are skipped.
    """
    if len(text) > MEASUREMENT_TEXT_MAX:
        raise MeasurementError("The measurements are too long.")
    items = [item.strip() for item in text.split(";") if item.strip()]
    if len(items) > MEASUREMENTS_MAX:
        raise MeasurementError(f"At most {MEASUREMENTS_MAX} measurements.")
    measurements = []
    for item in items:
        match = _ITEM.fullmatch(item)
        if match is None or match["kind"] not in KINDS:
            raise MeasurementError(f"Unreadable measurement {item[:40]!r}.")
        parts = match["coords"].split(",")
        if len(parts) != KINDS[match["kind"]]:
            raise MeasurementError(f"{match['kind']} takes {KINDS[match['kind']]} coordinates.")
        try:
            coords = tuple(float(part) for part in parts)
        except ValueError:
            raise MeasurementError(f"Unreadable measurement {item[:40]!r}.") from None
        if not all(math.isfinite(c) and abs(c) <= COORDINATE_LIMIT for c in coords):
            raise MeasurementError(f"Unreadable measurement {item[:40]!r}.")
        number = int(match["slice"]) if match["slice"] else None
        if number == 0:
            raise MeasurementError("Slices are numbered from 1.")
        measurements.append(Measurement(match["kind"], coords, number))
    return measurements


def measurements_format(measurements: Sequence[Measurement], *, tagged: bool = True) -> str:
    """The canonical ``m`` value (the inverse of ``measurements_parse``)."""
    return ";".join(m.text(tagged=tagged) for m in measurements)


def measurement_clamp(measurement: Measurement, *, width: int, height: int) -> Measurement:
    """Points kept inside the image (0..width, 0..height); radii within the image's size."""
    c = list(measurement.coords)
    if measurement.kind == "ellipse":
        c[0], c[1] = _clamp(c[0], width), _clamp(c[1], height)
        c[2], c[3] = _clamp(abs(c[2]), width), _clamp(abs(c[3]), height)
    else:
        for i in range(0, len(c), 2):
            c[i], c[i + 1] = _clamp(c[i], width), _clamp(c[i + 1], height)
    return replace(measurement, coords=tuple(round(v, 1) for v in c))


def measurements_compute(
    slice: Slice, measurements: Sequence[Measurement], *, decoded: DecodedPixels
) -> list[MeasurementResult]:
    """Each measurement's values on ``slice`` (clamped to it first), numbered from 1.

    ``decoded`` is the slice's pixels (``render.slice_pixels``), passed in because the
    renderer, which draws measurements, is the module that decodes.
    """
    values = _values(decoded.pixels)
    height, width = values.shape[:2]
    unit = value_unit(slice)
    results = []
    for number, measurement in enumerate(measurements, start=1):
        measurement = measurement_clamp(measurement, width=width, height=height)
        compute = _COMPUTE[measurement.kind]
        results.append(compute(number, measurement, slice, decoded.pixels, values, unit))
    return results


def value_unit(slice: Slice) -> str:
    """ "HU" for a 16-bit slice (modality values; not for a figure of another modality)."""
    if slice.kind != Slice.Kind.GREY16:
        return ""
    return "HU" if slice.figure.modality in ("", Figure.Modality.CT) else ""


@dataclass(frozen=True)
class PixelValue:
    """The value of one pixel (the HU readout): where it is, the number, its unit and text."""

    column: int
    row: int
    value: float
    unit: str
    text: str


def value_at(slice: Slice, decoded: DecodedPixels, x: float, y: float) -> PixelValue:
    """The value of the pixel under (x, y), clamped into the image (the HU readout's answer)."""
    values = _values(decoded.pixels)
    height, width = values.shape[:2]
    column, row = _pixel(x, width), _pixel(y, height)
    result = _point(1, Measurement("point", (x, y)), slice, decoded.pixels, values,
                    value_unit(slice))  # fmt: skip
    item = result.values[0]
    return PixelValue(column, row, item.value, item.unit, item.text)


def measurements_draw(
    image: Image.Image,
    results: Sequence[MeasurementResult],
    *,
    box: tuple[float, float, float, float],
) -> Image.Image:
    """Draw each result and its label on the output ``image`` showing ``box`` of the source.

    Lines and labels are sized to the output (not to the magnification), with a dark edge so
    they read on bone and on air; a label never leaves the image.
    """
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    sx, sy = image.width / (right - left), image.height / (bottom - top)
    unit = max(image.width, image.height) / 512

    def out(x: float, y: float) -> tuple[float, float]:
        return (x - left) * sx, (y - top) * sy

    line = max(1, round(1.5 * unit))
    font = _font(max(14, round(15 * unit)))
    for result in results:
        c = result.measurement.coords
        if result.kind == "point":
            x, y = out(c[0], c[1])
            r = 5 * unit
            for width, colour in ((line + 2, (0, 0, 0)), (line, MEASURE_COLOUR)):
                draw.line([(x - r, y), (x + r, y)], fill=colour, width=width)
                draw.line([(x, y - r), (x, y + r)], fill=colour, width=width)
            anchor = (x + r + 3 * unit, y - r)
        elif result.kind == "line":
            ends = [out(c[0], c[1]), out(c[2], c[3])]
            _polyline(draw, ends, line)
            for x, y in ends:
                _tick(draw, x, y, 3 * unit, line)
            anchor = max(ends, key=lambda p: p[0])
            anchor = (anchor[0] + 4 * unit, anchor[1] - 6 * unit)
        elif result.kind == "angle":
            points = [out(c[0], c[1]), out(c[2], c[3]), out(c[4], c[5])]
            _polyline(draw, points, line)
            anchor = (points[1][0] + 6 * unit, points[1][1] + 4 * unit)
        else:
            cx, cy = out(c[0], c[1])
            rx, ry = max(c[2] * sx, 1), max(c[3] * sy, 1)
            shape = [cx - rx, cy - ry, cx + rx, cy + ry]
            draw.ellipse(shape, outline=(0, 0, 0), width=line + 2)
            draw.ellipse(shape, outline=MEASURE_COLOUR, width=line)
            anchor = (cx + rx * 0.72 + 3 * unit, cy - ry * 0.72 - 14 * unit)
        _label(draw, image.size, anchor, f"{result.number}: {result.label}", font, unit)
    return image


# --- computing -------------------------------------------------------------------------------


def _values(pixels: NDArray) -> NDArray:
    """One number per pixel: the modality value, grey level, or a colour pixel's luma."""
    if pixels.ndim == 3:
        return pixels.astype(np.float32) @ _LUMA
    return pixels


def _spacing(slice: Slice) -> tuple[float, float, str, str]:
    """(mm per pixel across, down, the length unit, a note on where the spacing came from)."""
    spacing = slice.spacing
    if spacing is None:
        return 1.0, 1.0, "px", "in pixels: the image has no pixel spacing"
    note = ""
    if slice.spacing_source == Slice.SpacingSource.IMAGER:
        note = "from ImagerPixelSpacing (at the detector, not corrected for magnification)"
    return spacing[0], spacing[1], "mm", note


def _number(value: float, places: int = 1) -> str:
    text = f"{value:.{places}f}"
    return "0" if text in ("-0", "-0.0") else text


def _value_text(value: float, unit: str) -> str:
    places = 0 if float(value).is_integer() else 1
    return f"{_number(value, places)}{' ' + unit if unit else ''}"


def _point(number, measurement, slice, pixels, values, unit) -> MeasurementResult:
    height, width = values.shape[:2]
    x, y = measurement.coords
    column, row = _pixel(x, width), _pixel(y, height)
    value = float(values[row, column])
    name = unit or "grey value"
    if pixels.ndim == 3:
        red, green, blue = (int(v) for v in pixels[row, column])
        text = f"RGB {red}, {green}, {blue}"
        item = MeasurementValue("luma", round(value, 3), "", text)
        return MeasurementResult(number, measurement, (item,), text)
    text = _value_text(value, unit) if unit else f"grey {_value_text(value, '')}"
    item = MeasurementValue(name, round(value, 3), unit, text)
    return MeasurementResult(number, measurement, (item,), text)


def _line(number, measurement, slice, pixels, values, unit) -> MeasurementResult:
    sx, sy, length_unit, note = _spacing(slice)
    x1, y1, x2, y2 = measurement.coords
    length = math.hypot((x2 - x1) * sx, (y2 - y1) * sy)
    text = f"{_number(length)} {length_unit}"
    item = MeasurementValue("length", round(length, 3), length_unit, text)
    return MeasurementResult(number, measurement, (item,), text, note)


def _angle(number, measurement, slice, pixels, values, unit) -> MeasurementResult:
    sx, sy, _, note = _spacing(slice)
    x1, y1, x2, y2, x3, y3 = measurement.coords
    # In mm, so that a non-square pixel does not bend the angle.
    a = ((x1 - x2) * sx, (y1 - y2) * sy)
    b = ((x3 - x2) * sx, (y3 - y2) * sy)
    degrees = 0.0
    if math.hypot(*a) > 0 and math.hypot(*b) > 0:
        degrees = abs(
            math.degrees(math.atan2(a[0] * b[1] - a[1] * b[0], a[0] * b[0] + a[1] * b[1]))
        )
    text = f"{_number(degrees)}°"
    note = "" if note.startswith("in pixels") else note
    item = MeasurementValue("angle", round(degrees, 3), "°", text)
    return MeasurementResult(number, measurement, (item,), text, note)


def _ellipse(number, measurement, slice, pixels, values, unit) -> MeasurementResult:
    sx, sy, length_unit, note = _spacing(slice)
    height, width = values.shape[:2]
    cx, cy, rx, ry = measurement.coords
    inside = ellipse_values(values, cx=cx, cy=cy, rx=rx, ry=ry)
    area = math.pi * rx * ry * sx * sy
    area_unit = f"{length_unit}²"
    stats = {
        "mean": float(inside.mean(dtype=np.float64)),
        "sd": float(inside.std(dtype=np.float64)),
        "min": float(inside.min()),
        "max": float(inside.max()),
    }
    value_name = unit or "grey"
    items = [
        MeasurementValue("area", round(area, 3), area_unit, f"area {_number(area)} {area_unit}")
    ]
    for name, value in stats.items():
        shown = _number(value) if name in ("mean", "sd") else _value_text(value, "")
        label = "SD" if name == "sd" else name
        items.append(
            MeasurementValue(
                name, round(value, 3), unit, f"{label} {shown}{' ' + unit if unit else ''}"
            )
        )
    spread = f"{_number(stats['mean'])} ± {_number(stats['sd'])} {value_name}"
    label = f"{spread}, {_number(area)} {area_unit}"
    return MeasurementResult(number, measurement, tuple(items), label, note)


def ellipse_values(values: NDArray, *, cx: float, cy: float, rx: float, ry: float) -> NDArray:
    """The values of the pixels whose centres lie in the ellipse; the centre's pixel if none."""
    height, width = values.shape[:2]
    x0, x1 = max(int(math.floor(cx - rx)), 0), min(int(math.ceil(cx + rx)) + 1, width)
    y0, y1 = max(int(math.floor(cy - ry)), 0), min(int(math.ceil(cy + ry)) + 1, height)
    if rx > 0 and ry > 0 and x1 > x0 and y1 > y0:
        xs = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx) / rx
        ys = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy) / ry
        mask = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
        inside = values[y0:y1, x0:x1][mask]
        if inside.size:
            return inside
    column, row = _pixel(cx, width), _pixel(cy, height)
    return values[row : row + 1, column : column + 1].ravel()


_COMPUTE = {"point": _point, "line": _line, "angle": _angle, "ellipse": _ellipse}


# --- drawing ---------------------------------------------------------------------------------


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int) -> None:
    draw.line(points, fill=(0, 0, 0), width=width + 2, joint="curve")
    draw.line(points, fill=MEASURE_COLOUR, width=width, joint="curve")


def _tick(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, width: int) -> None:
    draw.ellipse([x - r, y - r, x + r, y + r], fill=MEASURE_COLOUR, outline=(0, 0, 0), width=1)


def _label(draw, size, anchor, text, font, unit) -> None:
    # Pillow's own font (the same on every server, so a cached image is the same anywhere)
    # has no superscript two.
    text = text.replace("²", "2")
    stroke = max(2, round(2 * unit))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    x = min(max(anchor[0], 2), size[0] - (right - left) - 2)
    y = min(max(anchor[1], 2), size[1] - (bottom - top) - 2)
    draw.text((x - left, y - top), text, font=font, fill=MEASURE_COLOUR, stroke_width=stroke,
              stroke_fill=(0, 0, 0))  # fmt: skip


_fonts: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _fonts:
        _fonts[size] = ImageFont.load_default(size=size)
    return _fonts[size]


def _clamp(value: float, high: float) -> float:
    return min(max(value, 0.0), float(high))


def _coordinate(value: float) -> str:
    text = f"{round(value, 1):g}"
    return "0" if text == "-0" else text


def _pixel(coordinate: float, size: int) -> int:
    """The index of the pixel under a coordinate, clamped into 0..size-1."""
    return min(max(math.floor(coordinate), 0), size - 1)
