"""Click targets: the regions of an image that count as the right answer to a click question.

A region is a dict ``{"shape": "ellipse" | "rect", "x", "y", "w", "h"}``: its bounding box in
fractions of the image (0-1, from the top left), independent of the size it is shown at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

SHAPES = ("ellipse", "rect")
MIN_SIZE = 0.005  # of the image: anything smaller is a mis-click, not a target


class BadRegion(ValueError):
    pass


def region_clean(data: dict) -> dict:
    """A region from untrusted input (a form, JSON): clipped to the image, or BadRegion."""
    shape = data.get("shape", "ellipse")
    if shape not in SHAPES:
        raise BadRegion("Choose an ellipse or a rectangle.")
    try:
        x, y, w, h = (float(data.get(k, "")) for k in ("x", "y", "w", "h"))
    except (TypeError, ValueError):
        raise BadRegion("Give the region's left, top, width and height as numbers.") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise BadRegion("Give the region's left, top, width and height as numbers.")
    left, top = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    right, bottom = min(max(x + w, 0.0), 1.0), min(max(y + h, 0.0), 1.0)
    if right - left < MIN_SIZE or bottom - top < MIN_SIZE:
        raise BadRegion("The region is empty: drag across the finding, or give a width and height.")
    return {
        "shape": shape,
        "x": round(left, 4),
        "y": round(top, 4),
        "w": round(right - left, 4),
        "h": round(bottom - top, 4),
    }


def region_contains(region: dict, fx: float, fy: float) -> bool:
    """Whether the point (fractions of the image) lies inside the region (edges included)."""
    x, y, w, h = region["x"], region["y"], region["w"], region["h"]
    if region.get("shape") == "rect":
        return x <= fx <= x + w and y <= fy <= y + h
    rx, ry = w / 2, h / 2
    if rx <= 0 or ry <= 0:
        return False
    return ((fx - (x + rx)) / rx) ** 2 + ((fy - (y + ry)) / ry) ** 2 <= 1


def point_in_targets(regions: Iterable[dict], fx: float, fy: float) -> bool:
    return any(region_contains(r, fx, fy) for r in regions)
