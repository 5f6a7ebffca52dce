"""Linked viewports: which slice of one matches a slice of another, and where one cuts another.

Two stacks of the same geometry (one orientation, as two series of one examination, or a
prior and a current study in the same frame) link by position in mm along their normal, as
a PACS does: the other viewport shows the slice nearest the same plane. Any other pair links
by relative place in the stack (the middle shows the middle).

A viewport's ``Geometry`` places each of its slices (acquired or reformatted) in the
patient's frame: the top-left corner of its top-left pixel and the step in mm of one pixel
across and down. From it come the linked slice and the reference line: where the plane of
one viewport's slice cuts the picture of another in the same frame. Series that share a
DICOM frame of reference (an axial T2 and a sagittal T1 of one MR, a CT's axial series and
its coronal sent apart) share one patient coordinate system, so lines join them; a stack
without one is a frame of its own. The study page's script computes both the same way from
the geometry the page carries (``Geometry.data``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cases.models import Slice

_ORIENTATION_TOLERANCE = 1e-3
Vector = tuple[float, float, float]


@dataclass(frozen=True)
class Geometry:
    """Where a viewport's slices lie: ``origins[i]`` is slice i's pixel corner (0, 0) in mm.

    ``across`` and ``down`` are one pixel's step along a row and down a column; ``normal``
    is their unit normal; ``frame`` names the patient coordinate system (``geometry_frame``),
    for reference lines, which are drawn only within one frame.
    """

    frame: int | str
    origins: tuple[Vector, ...]
    across: Vector
    down: Vector

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.across, self.down)
        return n / np.linalg.norm(n)

    def position(self, index: int) -> float:
        """Slice ``index``'s distance along the normal, in mm."""
        return float(np.dot(self.origins[index], self.normal))

    @property
    def data(self) -> dict:
        """The geometry as the page's script reads it (JSON)."""
        return {
            "frame": self.frame,
            "origins": [list(o) for o in self.origins],
            "across": list(self.across),
            "down": list(self.down),
        }


def geometry_frame(figure_id: int, slices: list[Slice]) -> int | str:
    """The frame of reference every slice shares (a de-identified UID), else the figure's id.

    A figure id (a number) never equals a UID (a string), here or in the page's script.
    """
    frames = {s.frame_of_reference for s in slices}
    if len(frames) == 1 and "" not in frames:
        return frames.pop()
    return figure_id


def stack_geometry(frame: int | str, slices: list[Slice]) -> Geometry | None:
    """The geometry of acquired slices, or None if any lacks position, orientation or spacing."""
    if not slices or any(
        not s.image_position or not s.image_orientation or not s.spacing for s in slices
    ):
        return None
    orientation = np.asarray(slices[0].image_orientation, dtype=float)
    if any(not np.allclose(s.image_orientation, orientation, atol=_ORIENTATION_TOLERANCE)
           for s in slices):  # fmt: skip
        return None
    sx, sy = slices[0].spacing
    across, down = orientation[:3] * sx, orientation[3:] * sy
    # ImagePositionPatient is the centre of the first pixel; the corner is half a pixel off.
    origins = tuple(
        _vector(np.asarray(s.image_position, dtype=float) - across / 2 - down / 2) for s in slices
    )
    return Geometry(frame, origins, _vector(across, 6), _vector(down, 6))


def reformat_geometry(frame: int | str, slices: list[Slice], plane: str, step: int, count: int
                      ) -> Geometry:  # fmt: skip
    """The geometry of a reformat's slices, as ``reformat.plane_image`` draws them.

    The volume lies on the first slice's grid, each slice at its distance along the normal;
    a plane's picture starts at the furthest slice (the top) and goes down one pixel
    spacing per row.
    """
    orientation = np.asarray(slices[0].image_orientation, dtype=float)
    r, c = orientation[:3], orientation[3:]
    n = np.cross(r, c)
    column_spacing, row_spacing = slices[0].spacing
    first = np.asarray(slices[0].image_position, dtype=float)
    top = max(float(np.dot(s.image_position, n)) for s in slices)
    start = first + (top - float(np.dot(first, n))) * n  # pixel centre (0, 0, top)
    if plane == "coronal":
        across, down, moves = r * column_spacing, -n * column_spacing, c * row_spacing
    else:
        across, down, moves = c * row_spacing, -n * row_spacing, r * column_spacing
    origins = tuple(_vector(start + i * step * moves - across / 2 - down / 2) for i in range(count))
    return Geometry(frame, origins, _vector(across, 6), _vector(down, 6))


def linked_number(source: Geometry | None, index: int, total: int, target: Geometry | None,
                  count: int) -> int | None:  # fmt: skip
    """The 0-based slice of a target of ``count`` slices that goes with slice ``index`` of a
    source of ``total`` (each with its geometry, or None).

    None for two planes of one frame that cross (an axial and its coronal, or an axial
    series and a sagittal one of the same frame of reference): scrolling one does not move
    the other, the reference line shows where they meet. Parallel stacks link by position
    whatever their frames (a prior and a current study).
    """
    if count < 1:
        return 0
    if source is not None and target is not None and index < len(source.origins):
        parallel = abs(float(np.dot(source.normal, target.normal))) > 1 - _ORIENTATION_TOLERANCE
        if not parallel and source.frame == target.frame:
            return None
        if parallel:
            normal = source.normal
            here = float(np.dot(source.origins[index], normal))
            distances = [abs(float(np.dot(o, normal)) - here) for o in target.origins]
            return int(np.argmin(distances))
    return _relative(index, total, count)


Line = tuple[float, float, float, float]


def reference_line(source: Geometry, index: int, target: Geometry, target_index: int,
                   width: int, height: int) -> Line | None:  # fmt: skip
    """Where ``source``'s slice ``index`` cuts ``target``'s slice: (x1, y1, x2, y2) in its pixels.

    None for two views of other frames, parallel planes, or a plane that misses the picture.
    """
    if source.frame != target.frame:
        return None
    n = source.normal
    a = float(np.dot(n, target.across))
    b = float(np.dot(n, target.down))
    if math.hypot(a / np.linalg.norm(target.across), b / np.linalg.norm(target.down)) < 1e-3:
        return None  # parallel
    c = source.position(index) - float(np.dot(n, target.origins[target_index]))
    points: list[tuple[float, float]] = []
    if abs(b) > 1e-9:
        for x in (0.0, float(width)):
            y = (c - a * x) / b
            if -1e-6 <= y <= height + 1e-6:
                points.append((x, y))
    if abs(a) > 1e-9:
        for y in (0.0, float(height)):
            x = (c - b * y) / a
            if -1e-6 <= x <= width + 1e-6:
                points.append((x, y))
    unique: list[tuple[float, float]] = []
    for p in points:
        if all(math.dist(p, q) > 1e-6 for q in unique):
            unique.append(p)
    if len(unique) < 2:
        return None
    (x1, y1), (x2, y2) = unique[0], unique[1]
    return (round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2))


def _relative(index: int, total: int, count: int) -> int:
    if total <= 1:
        return count // 2
    return min(max(round(index / (total - 1) * (count - 1)), 0), count - 1)


def _vector(values, digits: int = 3) -> Vector:
    # Rounded (to a micrometre for positions) as the page's script gets them, so that both
    # pick the same slice when two lie almost equally near.
    return (round(float(values[0]), digits), round(float(values[1]), digits),
            round(float(values[2]), digits))  # fmt: skip
