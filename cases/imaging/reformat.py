"""Coronal and sagittal reformats of a stack: its volume, built once per worker, cut in a plane.

The volume is built in the stack's own frame: ``r`` and ``c`` (ImageOrientationPatient's row
and column cosines) and their normal ``n = r x c``. Each slice lies at a distance
``d = ImagePositionPatient . n`` along the normal; the spacing between slices may vary, and a
gantry tilt shows as slices whose first pixel moves along ``c`` from one slice to the next
(positions stepping along z while the planes are tilted). Building the volume shifts every
slice by its in-plane offset from the first slice (bilinear, so a tilt is undone, not
staircased); a plane's image then interpolates linearly along the normal between the two
slices that bracket each row, onto rows one pixel spacing apart, so the picture has square
pixels in mm whatever the slice spacing.

``coronal`` is the plane through ``r`` and ``n`` (one per row of the axial image), shown with
the head up and the patient's right on the viewer's left; ``sagittal`` the plane through ``c``
and ``n`` (one per column), anterior on the left. With a gantry tilt they are perpendicular to
the acquired slices, as the scanner's own reformats are.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cases.models import Slice

from .params import PLANES  # noqa: F401  (the planes a reformat offers, re-exported)

# Reads a stored slice: (token, file name, kind) -> an object with ``pixels``.
Decode = Callable[[str, str, str], Any]

if TYPE_CHECKING:
    from numpy.typing import NDArray

REFORMAT_MIN_SLICES = 8
PLANE_SLICES_MAX = 128
# Volumes kept per worker: a head CT is about 30 MB of float32, so a few stacks of a study.
VOLUME_CACHE_SIZE = 3
_ORIENTATION_TOLERANCE = 1e-3
_GEOMETRY_FIELDS = (
    "id", "token", "image", "kind", "position", "width", "height", "image_position",
    "image_orientation", "pixel_spacing_row", "pixel_spacing_column",
)  # fmt: skip


class ReformatError(ValueError):
    """Why a stack cannot be reformatted, in words for the viewer."""


@dataclass(frozen=True)
class Volume:
    """A stack's slices shifted into one frame: ``values[k]`` lies at ``distances[k]`` mm."""

    values: NDArray  # float32 (slices, rows, columns), sorted by distance
    distances: NDArray  # float64, increasing, mm along the normal
    row_spacing: float  # mm between rows (along c)
    column_spacing: float  # mm between columns (along r)
    fill: float  # the value shifted in from outside the field of view
    low: float  # the lowest and highest values, for the window's lookup table
    high: float

    def count(self, plane: str) -> int:
        """How many slices the plane has: rows for coronal, columns for sagittal."""
        return self.values.shape[1] if plane == "coronal" else self.values.shape[2]


def stack_geometry_problem(slices: list[Slice]) -> str | None:
    """Why these slices (of one figure) cannot be reformatted, or None if they can."""
    if len(slices) < REFORMAT_MIN_SLICES:
        return f"Reformats need a stack of at least {REFORMAT_MIN_SLICES} slices."
    if any(s.kind != Slice.Kind.GREY16 for s in slices):
        return "Reformats need the stack's original DICOM values."
    if any(
        not s.image_position or not s.image_orientation or not s.spacing or not s.width
        for s in slices
    ):
        return "The stack has no slice geometry (position, orientation, spacing)."
    first = slices[0]
    orientation = np.asarray(first.image_orientation, dtype=float)
    for s in slices:
        same = np.allclose(s.image_orientation, orientation, atol=_ORIENTATION_TOLERANCE)
        if (
            not same
            or (s.width, s.height) != (first.width, first.height)
            or s.spacing != first.spacing
        ):
            return "The stack's slices do not share one orientation and size."
    normal = np.cross(orientation[:3], orientation[3:])
    distances = sorted(float(np.dot(s.image_position, normal)) for s in slices)
    if min(b - a for a, b in zip(distances, distances[1:], strict=False)) < 1e-3:
        return "Two slices of the stack lie at the same position."
    return None


def figure_slices(figure_id: int) -> list[Slice]:
    """The figure's slices with the fields a reformat reads, in stack order."""
    return list(Slice.objects.filter(figure_id=figure_id).only(*_GEOMETRY_FIELDS))


def figure_volume(figure_id: int, *, decode: Decode) -> Volume:
    """The figure's volume, from this worker's cache while its slices are the same files.

    One narrow query (the slices' tokens) names the version: a replaced, added or removed
    slice has another token, so the cached volume is not used for it. Raises
    ``ReformatError`` saying why when the stack cannot be reformatted. ``decode`` reads a
    stored slice (``render.slice_decode``, passed in so that the renderer, which draws
    reformats, is not imported back from here).
    """
    files = tuple(Slice.objects.filter(figure_id=figure_id).values_list("token", "image"))
    return _volume_cached(figure_id, files, decode)


def plane_image(volume: Volume, plane: str, index: int) -> NDArray:
    """The plane's ``index``-th slice as float32 values with square pixels, head up."""
    index = min(max(index, 0), volume.count(plane) - 1)
    if plane == "coronal":
        section, spacing = volume.values[:, index, :], volume.column_spacing
    elif plane == "sagittal":
        section, spacing = volume.values[:, :, index], volume.row_spacing
    else:
        raise ValueError(f"not a reformat plane: {plane}")
    distances = volume.distances
    # Rows one pixel spacing apart along the normal, from the top (the furthest slice) down.
    targets = distances[-1] - np.arange(int((distances[-1] - distances[0]) / spacing) + 1) * spacing
    upper = np.clip(np.searchsorted(distances, targets, side="left"), 1, len(distances) - 1)
    lower = upper - 1
    weight = (targets - distances[lower]) / (distances[upper] - distances[lower])
    weight = np.clip(weight, 0.0, 1.0).astype(np.float32)[:, None]
    # The section is a few dozen rows: made contiguous, its rows gather fast.
    section = np.ascontiguousarray(section)
    out = section[upper] - section[lower]
    out *= weight
    out += section[lower]
    return out


# --- internals -------------------------------------------------------------------------------


@lru_cache(maxsize=VOLUME_CACHE_SIZE)
def _volume_cached(figure_id: int, files: tuple[tuple[str, str], ...], decode: Decode) -> Volume:
    # ``files`` is the key's version; the geometry is read with it, on a miss only.
    slices = figure_slices(figure_id)
    problem = stack_geometry_problem(slices)
    if problem:
        raise ReformatError(problem)
    orientation = np.asarray(slices[0].image_orientation, dtype=float)
    r, c = orientation[:3], orientation[3:]
    normal = np.cross(r, c)
    row_spacing, column_spacing = slices[0].pixel_spacing_row, slices[0].pixel_spacing_column
    origin = np.asarray(slices[0].image_position, dtype=float)
    placed = []
    for s in slices:
        token, name, position = s.token, s.image.name, s.image_position
        offset = np.asarray(position, dtype=float) - origin
        placed.append(
            (
                float(np.dot(position, normal)),
                float(np.dot(offset, r)) / column_spacing,
                float(np.dot(offset, c)) / row_spacing,
                token,
                name,
            )
        )
    placed.sort()
    first = decode(placed[0][3], placed[0][4], Slice.Kind.GREY16).pixels
    fill = float(first.min())
    values = np.empty((len(placed), *first.shape), dtype=np.float32)
    for k, (_distance, dx, dy, token, name) in enumerate(placed):
        pixels = decode(token, name, Slice.Kind.GREY16).pixels
        values[k] = _shifted(pixels, dx, dy, fill)
    values.setflags(write=False)
    distances = np.asarray([p[0] for p in placed])
    low, high = float(values.min()), float(values.max())
    return Volume(values, distances, row_spacing, column_spacing, fill, low, high)


def _shifted(pixels: NDArray, dx: float, dy: float, fill: float) -> NDArray:
    """``pixels`` as seen from the first slice's grid: out[y, x] = pixels[y - dy, x - dx].

    A slice whose first pixel lies ``dx`` columns and ``dy`` rows from the first slice's
    holds at its (x, y) the point at (x + dx, y + dy) of the common grid. Bilinear between
    the four whole-pixel shifts around the fractional one.
    """
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = np.float32(dx - ix), np.float32(dy - iy)
    if ix == dx and iy == dy:
        return _shift_whole(pixels, ix, iy, fill)
    a = _shift_whole(pixels, ix, iy, fill)
    b = _shift_whole(pixels, ix + 1, iy, fill)
    top = a * (1 - fx) + b * fx
    a = _shift_whole(pixels, ix, iy + 1, fill)
    b = _shift_whole(pixels, ix + 1, iy + 1, fill)
    bottom = a * (1 - fx) + b * fx
    return top * (1 - fy) + bottom * fy


def _shift_whole(pixels: NDArray, dx: int, dy: int, fill: float) -> NDArray:
    out = np.full(pixels.shape, fill, dtype=np.float32)
    rows, columns = pixels.shape
    if abs(dx) >= columns or abs(dy) >= rows:
        return out
    src_y = slice(max(-dy, 0), rows - max(dy, 0))
    src_x = slice(max(-dx, 0), columns - max(dx, 0))
    dst_y = slice(max(dy, 0), rows - max(-dy, 0))
    dst_x = slice(max(dx, 0), columns - max(-dx, 0))
    out[dst_y, dst_x] = pixels[src_y, src_x]
    return out


def reformat_slice(slice: Slice, volume: Volume, plane: str, shape: tuple[int, ...]) -> Slice:
    """``slice`` as the plane's picture: its size and square pixels of the plane's spacing.

    A copy, never saved: measurements read the spacing and the kind from it.
    """
    spacing = volume.column_spacing if plane == "coronal" else volume.row_spacing
    plane_slice = copy.copy(slice)
    plane_slice.height, plane_slice.width = shape[0], shape[1]
    plane_slice.pixel_spacing_row = plane_slice.pixel_spacing_column = spacing
    plane_slice.spacing_source = Slice.SpacingSource.PIXEL
    return plane_slice


def plane_step(slices: list[Slice], plane: str) -> int:
    """Pixels between the viewer's slices along a plane: at most ``PLANE_SLICES_MAX`` of them.

    One pixel apart, a 512-pixel CT would give 512 coronal slices of half a millimetre, more
    than a reader scrolls through or a browser should preload; a few pixels apart they are
    still thinner than the acquired slices.
    """
    across = slices[0].height if plane == "coronal" else slices[0].width
    return max(1, -(-across // PLANE_SLICES_MAX))


def plane_count(slices: list[Slice], plane: str) -> int:
    """How many slices the viewer offers along the plane."""
    across = slices[0].height if plane == "coronal" else slices[0].width
    return -(-across // plane_step(slices, plane))


def plane_size(slices: list[Slice], plane: str) -> tuple[int, int]:
    """(width, height) of the plane's image, as ``plane_image`` draws it (no volume needed)."""
    first = slices[0]
    orientation = np.asarray(first.image_orientation, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    distances = [float(np.dot(s.image_position, normal)) for s in slices]
    if plane == "coronal":
        width, spacing = first.width, first.pixel_spacing_column
    else:
        width, spacing = first.height, first.pixel_spacing_row
    return width, int((max(distances) - min(distances)) / spacing) + 1
