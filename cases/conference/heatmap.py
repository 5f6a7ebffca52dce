"""Click answers drawn as a heat map over the image the room clicked on (Pillow, numpy).

Drawn on the server as one PNG, so the page needs no script or inline style to show it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from cases.imaging.params import RenderParams, window_param
from cases.imaging.render import slice_render
from cases.models import Slice

# The target's outline: magenta is in neither the grey image nor the density ramp, and a dark
# edge keeps it legible on white.
TARGET_COLOUR = (255, 0, 255)
TARGET_EDGE = (0, 0, 0)
GRID = 96  # density bins along the longer side
# Colour ramp of the density: blue, cyan, green, yellow, red.
_RAMP = np.array(
    [[0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]], dtype=np.float32
)


def _blur(grid: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    grid = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, grid)
    return np.apply_along_axis(lambda col: np.convolve(col, kernel, mode="same"), 0, grid)


def _colour(values: np.ndarray) -> np.ndarray:
    """Values 0-1 to RGB along the ramp."""
    position = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(_RAMP) - 1)
    part = (position - low)[..., None]
    return _RAMP[low] * (1 - part) + _RAMP[high] * part


def _outline_targets(picture: Image.Image, targets: list[dict]) -> None:
    """Each target region drawn as an outline (a dark edge each side of a magenta line)."""
    draw = ImageDraw.Draw(picture)
    out_w, out_h = picture.size
    line = max(2, round(max(out_w, out_h) / 300))
    for region in targets:
        box = (
            region["x"] * out_w,
            region["y"] * out_h,
            (region["x"] + region["w"]) * out_w,
            (region["y"] + region["h"]) * out_h,
        )
        shape = draw.rectangle if region.get("shape") == "rect" else draw.ellipse
        outer = (box[0] - line, box[1] - line, box[2] + line, box[3] + line)
        inner = (box[0] + line, box[1] + line, box[2] - line, box[3] - line)
        shape(outer, outline=TARGET_EDGE, width=line)
        if inner[2] > inner[0] and inner[3] > inner[1]:
            shape(inner, outline=TARGET_EDGE, width=line)
        shape(box, outline=TARGET_COLOUR, width=line)


def heatmap_render(
    image: Slice,
    *,
    view: dict,
    points: list[tuple[float, float]],
    targets: list[dict] | None = None,
    max_size: int = 1024,
) -> bytes:
    """The slice at the question's window (whole, unmagnified) with the clicks' density on it.

    ``points`` are in the slice's own pixels, as stored with each vote; ``targets`` (regions in
    fractions of the image, see cases.conference.targets) are outlined on top.
    """
    width, center = window_param(view)
    params = RenderParams(
        image.token,
        window_width=width,
        window_center=center,
        invert=view.get("invert") == "1",
        size=max_size if max(image.width, image.height) > max_size else None,
    )
    base = slice_render(image, params)
    picture = Image.open(io.BytesIO(base)).convert("RGB")
    out_w, out_h = picture.size
    scale_x = out_w / (image.width or out_w)
    scale_y = out_h / (image.height or out_h)
    if points:
        cols = GRID if out_w >= out_h else max(1, round(GRID * out_w / out_h))
        rows = GRID if out_h >= out_w else max(1, round(GRID * out_h / out_w))
        grid = np.zeros((rows, cols), dtype=np.float32)
        for x, y in points:
            col = min(max(int(x * scale_x / out_w * cols), 0), cols - 1)
            row = min(max(int(y * scale_y / out_h * rows), 0), rows - 1)
            grid[row, col] += 1
        grid = _blur(grid, sigma=GRID / 40).astype(np.float32)
        grid /= grid.max() or 1
        density = np.asarray(
            Image.fromarray(grid, mode="F").resize((out_w, out_h), Image.Resampling.BILINEAR)
        )
        colours = Image.fromarray(_colour(density).astype(np.uint8), mode="RGB")
        alpha = Image.fromarray((np.clip(density * 1.6, 0, 0.7) * 255).astype(np.uint8), "L")
        picture.paste(colours, (0, 0), alpha)
        draw = ImageDraw.Draw(picture)
        dot = max(2, out_w // 200)
        for x, y in points:
            px, py = x * scale_x, y * scale_y
            draw.ellipse((px - dot, py - dot, px + dot, py + dot), outline=(255, 255, 255))
    if targets:
        _outline_targets(picture, targets)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=False)
    return out.getvalue()
