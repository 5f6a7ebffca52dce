"""The viewer's state (slice, window, invert, size), read from and written to query strings."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.urls import reverse

from .models import Figure, Slice

# (label, width, centre); the figure's own window comes first when it has one.
CT_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("Soft tissue", 400, 40),
    ("Lung", 1500, -600),
    ("Liver", 150, 90),
    ("Bone", 2500, 480),
    ("Brain", 80, 40),
)
RENDER_SIZES = (256, 512, 1024)


def _float_param(query: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(query.get(name, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except (TypeError, ValueError):
        return default


def slice_image_url(
    image: Slice,
    *,
    window_width: float | None = None,
    window_center: float | None = None,
    invert: bool = False,
    size: int | None = None,
) -> str:
    """The URL of one rendered slice; the parameters are explicit so it can be cached forever."""
    params: dict[str, str | int] = {}
    if window_width is not None and window_center is not None:
        params["ww"] = f"{window_width:g}"
        params["wc"] = f"{window_center:g}"
    if invert:
        params["invert"] = 1
    if size:
        params["size"] = size
    base = reverse("cases:slice_image", args=[image.token])
    return f"{base}?{urlencode(params)}" if params else base


@dataclass(frozen=True)
class ViewState:
    figure: Figure
    index: int = 0
    window_width: float | None = None
    window_center: float | None = None
    invert: bool = False

    @classmethod
    def for_figure(cls, figure: Figure) -> ViewState:
        """The view an author chose: the middle of a stack, the figure's window."""
        count = len(figure.slices.all())
        return cls(
            figure=figure,
            index=count // 2 if count > 1 else 0,
            window_width=figure.window_width,
            window_center=figure.window_center,
        )

    @classmethod
    def from_query(cls, figure: Figure, query: Mapping[str, str]) -> ViewState:
        """Parse a query string; anything out of range falls back to the default view."""
        default = cls.for_figure(figure)
        count = len(figure.slices.all())
        index = _int_param(query, "slice", default.index + 1) - 1
        width = _float_param(query, "ww")
        center = _float_param(query, "wc")
        if width is None or center is None or width < 1:
            width, center = default.window_width, default.window_center
        return replace(
            default,
            index=min(max(index, 0), max(count - 1, 0)),
            window_width=width,
            window_center=center,
            invert=query.get("invert") == "1",
        )

    @staticmethod
    def render_params(figure: Figure, query: Mapping[str, str]) -> dict:
        """Keyword arguments for ``slice_render`` from an image URL's query string."""
        width = _float_param(query, "ww")
        center = _float_param(query, "wc")
        if width is None or center is None or width < 1:
            width, center = figure.window_width, figure.window_center
        size = _int_param(query, "size", 0)
        return {
            "window_width": width,
            "window_center": center,
            "invert": query.get("invert") == "1",
            "max_size": size if size in RENDER_SIZES else None,
        }

    @property
    def slices(self) -> list[Slice]:
        return list(self.figure.slices.all())

    @property
    def slice(self) -> Slice | None:
        slices = self.slices
        return slices[self.index] if slices else None

    @property
    def count(self) -> int:
        return len(self.slices)

    @property
    def is_stack(self) -> bool:
        return self.count > 1

    @property
    def is_windowable(self) -> bool:
        current = self.slice
        return current is not None and current.kind == Slice.Kind.GREY16

    def query(self, **changes) -> str:
        state = replace(self, **changes) if changes else self
        params: dict[str, str | int] = {}
        if state.is_stack:
            params["slice"] = state.index + 1
        if state.window_width is not None and state.window_center is not None:
            params["ww"] = f"{state.window_width:g}"
            params["wc"] = f"{state.window_center:g}"
        if state.invert:
            params["invert"] = 1
        return urlencode(params)

    def url(self, **changes) -> str:
        base = reverse("cases:figure", args=[self.figure.case.slug, self.figure.number])
        query = self.query(**changes)
        return f"{base}?{query}" if query else base

    def image_url(self, *, size: int | None = None) -> str:
        current = self.slice
        if current is None:
            return ""
        return slice_image_url(
            current,
            window_width=self.window_width,
            window_center=self.window_center,
            invert=self.invert,
            size=size,
        )

    @property
    def previous_url(self) -> str:
        return self.url(index=self.index - 1) if self.index > 0 else ""

    @property
    def next_url(self) -> str:
        return self.url(index=self.index + 1) if self.index < self.count - 1 else ""

    @property
    def presets(self) -> list[dict]:
        """Window presets offered for 16-bit images, the figure's own first."""
        if not self.is_windowable:
            return []
        options = []
        if self.figure.has_window:
            width, center = self.figure.window_width, self.figure.window_center
            options.append(("Figure's own", width, center))
        options.extend(CT_PRESETS)
        return [
            {
                "label": f"{label} {width:g}/{center:g}",
                "url": self.url(window_width=width, window_center=center),
                "active": (width, center) == (self.window_width, self.window_center),
            }
            for label, width, center in options
        ]
