"""Linked scrolling between two stacks: which slice of one matches a slice of the other.

Two stacks of the same geometry (one orientation, as two series of one examination, or a
prior and a current study in the same frame) link by position in mm along their normal, as
a PACS does: the other viewport shows the slice nearest the same plane. Any other pair links
by relative place in the stack (the middle shows the middle).
"""

from __future__ import annotations

import numpy as np

from cases.models import Slice

_ORIENTATION_TOLERANCE = 1e-3


def stacks_share_geometry(first: list[Slice], second: list[Slice]) -> bool:
    """Whether every slice of both stacks has a position and one common orientation."""
    slices = [*first, *second]
    if not slices or any(not s.image_position or not s.image_orientation for s in slices):
        return False
    orientation = slices[0].image_orientation
    return all(
        np.allclose(s.image_orientation, orientation, atol=_ORIENTATION_TOLERANCE) for s in slices
    )


def linked_index(*, source: list[Slice], index: int, target: list[Slice]) -> int:
    """The slice of ``target`` that goes with ``source[index]`` (0-based, both in stack order)."""
    if not source or not target:
        return 0
    index = min(max(index, 0), len(source) - 1)
    if stacks_share_geometry(source, target):
        orientation = np.asarray(source[0].image_orientation, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        here = float(np.dot(source[index].image_position, normal))
        distances = [abs(float(np.dot(s.image_position, normal)) - here) for s in target]
        return int(np.argmin(distances))
    if len(source) == 1:
        return len(target) // 2
    return round(index / (len(source) - 1) * (len(target) - 1))
