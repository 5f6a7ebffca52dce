"""The viewer's state, read from and written to query strings.

The figure page's query parameters are a public interface, because people share these links:

    slice   1-based position in the stack
    ww, wc  window width and centre (HU for 16-bit sources, grey levels for 8-bit ones)
    zoom    magnification, 1 to 8
    cx, cy  the centre of the magnified view, as fractions of the image's width and height
    invert  1 shows the image inverted
    ann     0 hides the author's annotations (where they may be shown at all)
    at      a click on the image ("?x,y" from an ``ismap`` image, or "x,y") in output pixels:
            magnify one step around that point; never part of a canonical URL
    m       measurements (``cases.imaging.measure``): ``line:x1,y1,x2,y2;point:x,y``... in
            the source pixels of the displayed slice; ``line@14:...`` is on slice 14. Every
            link keeps them all, as a PACS keeps a measurement on its image while the reader
            scrolls away and back: the displayed slice's are drawn, listed and untagged.
            Unreadable ones (or more than 20) are a 400 (``MeasurementError``).
    plane   ``coronal`` or ``sagittal``: a reformat of the stack (``cases.imaging.reformat``),
            ``slice`` then counting along that plane; none is the acquired (axial) slices. A
            stack that cannot be reformatted shows its slices and says why.
    size    the longest side the page will show the image at, in device pixels: one of
            ``RENDER_SIZES``, or 0 for the stored pixels (1:1); the viewer's script sends it
            with every request. It belongs to the screen, not the view, so it is never part
            of a canonical URL either; without it the image offers every size (``srcset``)
            and the browser picks.

Values out of range are clamped and unreadable ones fall back to the default view, so an
old or hand-edited link always opens something sensible (measurements excepted: a link that
says it measures something and cannot be read is refused rather than shown without them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from urllib.parse import parse_qsl, urlencode

from django.urls import reverse

from cases.models import Figure, Slice

from .linking import Geometry, geometry_frame, reformat_geometry, stack_geometry
from .measure import (
    Measurement,
    MeasurementResult,
    measurement_clamp,
    measurements_compute,
    measurements_format,
    measurements_parse,
)
from .params import (
    MEASUREMENT_SAFE,
    RENDER_SIZES,
    ZOOM_MAX,
    RenderParams,
    query_float,
    window_param,
    zoom_normalise,
)
from .reformat import (
    PLANES,
    plane_count,
    plane_size,
    plane_step,
    stack_geometry_problem,
)
from .render import (
    annotations_digest,
    annotations_for_slice,
    output_size,
    reformat_measured,
    slice_pixels,
)

# (label, width, centre); the figure's own (and the DICOM header's) window come first.
CT_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("Soft tissue", 400, 40),
    ("Lung", 1500, -600),
    ("Liver", 150, 90),
    ("Bone", 2500, 480),
    ("Brain", 80, 40),
)
# Brightness / contrast for 8-bit pictures, as windows on 0-255 grey levels.
GREY8_PRESETS: tuple[tuple[str, float | None, float | None], ...] = (
    ("As stored", None, None),
    ("More contrast", 160, 128),
    ("High contrast", 96, 128),
    ("Brighter", 256, 96),
    ("Darker", 256, 160),
)
VIEWER_SIZE = 1024  # longest side of the viewer's image
# JPEG at quality 90: far fewer bytes than a PNG and quicker to encode, so scrolling and
# dragging a window keep up; the PNG stays one URL away.
VIEWER_FORMAT = "jpeg"
KEY_THUMBNAIL_SIZE = 256  # the smallest rendering offered (RENDER_SIZES)
ZOOM_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
PAN_STEP = 0.25  # of the visible width or height


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except (TypeError, ValueError):
        return default


def click_param(query: Mapping[str, str]) -> tuple[float, float] | None:
    """The clicked point of ``at``: "?x,y" (what an ismap image sends), "x,y", or at.x/at.y."""
    raw = query.get("at")
    if raw is None and "at.x" in query:
        raw = f"{query.get('at.x')},{query.get('at.y')}"
    if raw is None:
        return None
    try:
        x, y = (float(part) for part in raw.lstrip("?").split(","))
    except ValueError:
        return (math.nan, math.nan)  # a click with no usable point: magnify the centre
    return (x, y) if math.isfinite(x) and math.isfinite(y) else (math.nan, math.nan)


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class ViewState:
    """What one figure's viewer shows, and the links that change it.

    ``base_url`` is the page that re-renders this viewer (the article mode's figure page or
    unknown mode's); every link and form the viewer renders is built on it, never on the
    case's slug. ``annotations_allowed`` False keeps annotations (and any image URL that
    draws them) out of the output altogether.
    """

    figure: Figure
    base_url: str = ""
    caption: str = ""
    alt_text: str = ""
    annotations_allowed: bool = True
    index: int = 0
    window_width: float | None = None
    window_center: float | None = None
    invert: bool = False
    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5
    annotations: bool = True  # the viewer's on/off toggle
    size: int | None = None  # what the page asked for (see the module's docstring)
    # Every measurement of the view, each with its (1-based) slice number filled in.
    measurements: tuple[Measurement, ...] = ()
    plane: str = "axial"  # or a reformat's plane (see the module's docstring)
    plane_problem: str = ""  # why the plane asked for could not be shown
    # The rest of a page's query that every link of this viewer keeps (a study's other
    # viewports): ``url()`` puts it first, and the forms carry it in hidden fields.
    base_query: str = ""

    @classmethod
    def for_figure(
        cls,
        figure: Figure,
        *,
        base_url: str | None = None,
        caption: str | None = None,
        alt_text: str | None = None,
        annotations_allowed: bool = True,
    ) -> ViewState:
        """The view an author chose: the first key image (else the middle of a stack), at the
        figure's (or DICOM's) window."""
        slices = list(figure.slices.all())
        keys = [i for i, image in enumerate(slices) if image.is_key]
        index = keys[0] if keys else len(slices) // 2 if len(slices) > 1 else 0
        width, center = _default_window(figure, slices)
        return cls(
            figure=figure,
            base_url=base_url or reverse("cases:figure", args=[figure.case.slug, figure.number]),
            caption=figure.caption if caption is None else caption,
            alt_text=(figure.alt_text if alt_text is None else alt_text) or figure.label,
            annotations_allowed=annotations_allowed,
            index=index,
            window_width=width,
            window_center=center,
        )

    @classmethod
    def from_query(
        cls,
        figure: Figure,
        query: Mapping[str, str],
        *,
        base_url: str | None = None,
        caption: str | None = None,
        alt_text: str | None = None,
        annotations_allowed: bool = True,
    ) -> ViewState:
        """Parse a query string; anything out of range is clamped or falls back to the default."""
        default = cls.for_figure(
            figure,
            base_url=base_url,
            caption=caption,
            alt_text=alt_text,
            annotations_allowed=annotations_allowed,
        )
        plane, plane_problem = query.get("plane", "axial"), ""
        if plane not in PLANES:
            plane = "axial"
        elif plane != "axial":
            plane_problem = stack_geometry_problem(default.slices) or ""
            if plane_problem:
                plane = "axial"
            else:
                default = replace(default, plane=plane)
                default = replace(default, index=default.count // 2)
        count = default.count
        index = _int_param(query, "slice", default.index + 1) - 1
        width, center = window_param(query)
        if width is None:
            width, center = default.window_width, default.window_center
        zoom = query_float(query, "zoom") or 1.0
        cx = query_float(query, "cx")
        cy = query_float(query, "cy")
        zoom, cx, cy = zoom_normalise(zoom, 0.5 if cx is None else cx, 0.5 if cy is None else cy)
        state = replace(
            default,
            index=min(max(index, 0), max(count - 1, 0)),
            window_width=width,
            window_center=center,
            invert=query.get("invert") == "1",
            zoom=zoom,
            cx=cx,
            cy=cy,
            annotations=query.get("ann") != "0",
            size=_size_param(query),
            plane_problem=plane_problem,
        )
        state = replace(state, measurements=state._measurements_read(query.get("m", "")))
        click = click_param(query)
        return state.magnified_at(*click) if click is not None else state

    # --- the stack -----------------------------------------------------------------------

    @cached_property
    def slices(self) -> list[Slice]:
        return list(self.figure.slices.all())

    @property
    def slice(self) -> Slice | None:
        """The slice shown; for a reformat the stack's first (its kind, token and window)."""
        if self.is_reformat:
            return self.slices[0]
        return self.slices[self.index] if self.slices else None

    @property
    def is_reformat(self) -> bool:
        return self.plane != "axial"

    @property
    def count(self) -> int:
        if self.is_reformat:
            return plane_count(self.slices, self.plane)
        return len(self.slices)

    @cached_property
    def planes(self) -> list[dict]:
        """Links to the stack's planes, each opening at its middle slice (none if it has one).

        A stack that cannot be reformatted offers the other planes without a link, with the
        reason (``problem``) for the page to show.
        """
        if len(self.slices) < 2:
            return []
        problem = stack_geometry_problem(self.slices)
        links = []
        for plane in PLANES:
            link = {"label": plane.capitalize(), "current": plane == self.plane, "url": "",
                    "problem": problem if plane != "axial" else None}  # fmt: skip
            if plane == "axial" or not problem:
                state = replace(self, plane=plane, index=0)
                index = state.count // 2 if plane != "axial" else len(self.slices) // 2
                if link["current"]:
                    link["url"] = self.url()
                else:
                    # Measurements are in the pixels of the plane they were drawn on.
                    link["url"] = self.url(plane=plane, index=index, measurements=())
            links.append(link)
        return links

    @cached_property
    def geometry(self) -> Geometry | None:
        """Where this view's slices (acquired, or the plane's) lie in the patient's frame."""
        frame = geometry_frame(self.figure.id, self.slices)
        if self.is_reformat:
            return reformat_geometry(frame, self.slices, self.plane,
                                     plane_step(self.slices, self.plane), self.count)  # fmt: skip
        return stack_geometry(frame, self.slices)

    @property
    def is_stack(self) -> bool:
        return self.count > 1

    @property
    def number(self) -> int:
        """The 1-based slice number shown to people."""
        return self.index + 1

    @cached_property
    def key_images(self) -> list[dict]:
        """The stack's key images, in stack order: the strip that heads the viewer.

        The stack itself keeps its anatomical order (scrolling must stay continuous); key
        images come first by opening the viewer on the first of them and by this strip.
        """
        if not self.is_stack or self.is_reformat:
            return []
        return [
            {
                "number": index + 1,
                "url": self.slice_url(index),
                "thumbnail": RenderParams(
                    image.token,
                    window_width=self.window_width,
                    window_center=self.window_center,
                    size=KEY_THUMBNAIL_SIZE,
                    fmt=VIEWER_FORMAT,
                ).url(),
                "current": index == self.index,
            }
            for index, image in enumerate(self.slices)
            if image.is_key
        ]

    # --- window --------------------------------------------------------------------------

    @property
    def is_hu(self) -> bool:
        current = self.slice
        return current is not None and current.kind == Slice.Kind.GREY16

    @property
    def window_label(self) -> str:
        if self.window_width is None or self.window_center is None:
            return "as stored"
        return f"W {_number(self.window_width)} / C {_number(self.window_center)}"

    @cached_property
    def presets(self) -> list[dict]:
        """Window presets: for 16-bit images the figure's own, DICOM's and the CT windows."""
        current = self.slice
        if current is None:
            return []
        options: list[tuple[str, float | None, float | None]] = []
        if current.kind == Slice.Kind.GREY16:
            named = list(CT_PRESETS)
            own = [("Figure", self.figure.window_width, self.figure.window_center)]
            header = _header_window(current)
            if header[0] is not None:
                own.append(("DICOM", *header))
            for label, width, center in own:
                if width is None or any((w, c) == (width, center) for _, w, c in options):
                    continue
                # The author's window is often a standard one: name it once, first.
                match = next((p for p in named if (p[1], p[2]) == (width, center)), None)
                if match:
                    named.remove(match)
                    label = f"{match[0]} ({label.lower()})"
                options.append((label, width, center))
            options.extend(named)
        else:
            options.extend(GREY8_PRESETS)
        presets = []
        for key, (label, width, center) in enumerate(options, start=1):
            values = "" if width is None else f" {_number(width)}/{_number(center)}"
            presets.append(
                {
                    "label": f"{label}{values}",
                    "key": str(key) if key <= 9 else "",
                    "url": self.url(window_width=width, window_center=center),
                    "active": (width, center) == (self.window_width, self.window_center),
                }
            )
        return presets

    # --- where the slice is --------------------------------------------------------------

    @property
    def position_label(self) -> str:
        """The slice's position along the stack's normal in mm, as a PACS overlay shows it."""
        if self.is_reformat:
            return self.plane.capitalize()
        current = self.slice
        if current is None or current.slice_location is None:
            return ""
        return f"Loc {current.slice_location:.1f} mm"

    @property
    def thickness_label(self) -> str:
        current = self.slice
        if current is None or self.is_reformat or not current.slice_thickness:
            return ""
        return f"Thk {current.slice_thickness:.3g} mm"

    @property
    def value_url(self) -> str:
        """The HU readout's URL for this slice (``?x=&y=`` in source pixels is appended)."""
        current = self.slice
        if current is None or self.is_reformat:
            return ""  # the readout reads acquired slices only
        return reverse("cases:slice_value", args=[current.token])

    # --- zoom and pan --------------------------------------------------------------------

    @property
    def view_box(self) -> str:
        """The part of the source pixels the picture shows (an SVG viewBox over it)."""
        width, height = self.source_size
        left, top = (self.cx - 0.5 / self.zoom) * width, (self.cy - 0.5 / self.zoom) * height
        return f"{left:.2f} {top:.2f} {width / self.zoom:.2f} {height / self.zoom:.2f}"

    @property
    def is_zoomed(self) -> bool:
        return self.zoom > 1

    @property
    def zoom_label(self) -> str:
        return f"{_number(self.zoom)}×"

    def _zoom_step(self, direction: int) -> float:
        if direction > 0:
            return next((z for z in ZOOM_STEPS if z > self.zoom + 1e-6), ZOOM_MAX)
        return next((z for z in reversed(ZOOM_STEPS) if z < self.zoom - 1e-6), 1.0)

    @property
    def zoom_in_url(self) -> str:
        return self.url(zoom=self._zoom_step(+1)) if self.zoom < ZOOM_MAX else ""

    @property
    def zoom_out_url(self) -> str:
        return self.url(zoom=self._zoom_step(-1)) if self.is_zoomed else ""

    def pan_url(self, dx: int, dy: int) -> str:
        step = PAN_STEP / self.zoom
        moved = replace(self, cx=self.cx + dx * step, cy=self.cy + dy * step)
        moved = moved._normalised()
        return moved.url() if (moved.cx, moved.cy) != (self.cx, self.cy) else ""

    @cached_property
    def pans(self) -> list[dict]:
        """Pan links for a magnified view (a quarter of what is visible per step)."""
        if not self.is_zoomed:
            return []
        directions = (("left", "←", -1, 0), ("up", "↑", 0, -1), ("down", "↓", 0, 1),
                      ("right", "→", 1, 0))  # fmt: skip
        return [
            {"label": f"Pan {name}", "symbol": symbol, "url": self.pan_url(dx, dy)}
            for name, symbol, dx, dy in directions
        ]

    def magnified_at(self, x: float, y: float) -> ViewState:
        """The view after a click at output pixel (x, y): one zoom step in, centred there."""
        width, height = self.display_size
        if not (math.isfinite(x) and math.isfinite(y)) or not width or not height:
            x, y = width / 2, height / 2
        fx = min(max(x / width, 0.0), 1.0) if width else 0.5
        fy = min(max(y / height, 0.0), 1.0) if height else 0.5
        cx = self.cx - 0.5 / self.zoom + fx / self.zoom
        cy = self.cy - 0.5 / self.zoom + fy / self.zoom
        return replace(self, zoom=self._zoom_step(+1), cx=cx, cy=cy)._normalised()

    def _normalised(self) -> ViewState:
        zoom, cx, cy = zoom_normalise(self.zoom, self.cx, self.cy)
        return replace(self, zoom=zoom, cx=cx, cy=cy)

    # --- annotations ---------------------------------------------------------------------

    @cached_property
    def has_annotations(self) -> bool:
        """Whether the figure has annotations the viewer may offer to show."""
        return self.annotations_allowed and bool(self.figure.annotations.all())

    @property
    def annotations_url(self) -> str:
        return self.url(annotations=not self.annotations)

    # --- measurements --------------------------------------------------------------------

    def _measurements_read(self, text: str) -> tuple[Measurement, ...]:
        """Parse ``m`` (MeasurementError if unreadable): slices filled in, clamped to them."""
        measurements = []
        for measurement in measurements_parse(text):
            number = min(measurement.slice or self.number, max(self.count, 1))
            if self.is_reformat:
                width, height = self.source_size
            else:
                on = self.slices[number - 1] if self.slices else None
                width, height = (on.width, on.height) if on is not None else (0, 0)
            if width and height:
                measurement = measurement_clamp(measurement, width=width, height=height)
            measurements.append(replace(measurement, slice=number))
        return tuple(measurements)

    def measurements_on(self, index: int) -> list[Measurement]:
        """The measurements drawn on the ``index``-th slice (acquired, or along the plane)."""
        return [m for m in self.measurements if m.slice == index + 1]

    @cached_property
    def measurement_results(self) -> list[MeasurementResult]:
        """The displayed slice's measurements with their values, as listed and drawn."""
        here = self.measurements_on(self.index)
        current = self.slice
        if not here or current is None:
            return []
        try:
            if self.is_reformat:
                # Pixels of the resampled volume, square at the plane's spacing.
                index = self.index * plane_step(self.slices, self.plane)
                current, decoded = reformat_measured(current, self.plane, index)
                return measurements_compute(current, here, decoded=decoded)
            return measurements_compute(current, here, decoded=slice_pixels(current))
        except (OSError, ValueError):
            return []  # the file is missing or damaged: the image says so, not the list

    @cached_property
    def measurement_rows(self) -> list[dict]:
        """The list beside the image: each result and the link that removes it."""
        here = self.measurements_on(self.index)
        rows = []
        for result, measurement in zip(self.measurement_results, here, strict=True):
            kept = tuple(m for m in self.measurements if m is not measurement)
            rows.append({"result": result, "remove_url": self.url(measurements=kept)})
        return rows

    @cached_property
    def measurements_elsewhere(self) -> list[dict]:
        """Slices other than the displayed one that hold measurements, with their links."""
        counts: dict[int, int] = {}
        for m in self.measurements:
            if m.slice != self.number:
                counts[m.slice] = counts.get(m.slice, 0) + 1
        return [
            {"number": n, "count": c, "url": self.slice_url(n - 1)}
            for n, c in sorted(counts.items())
        ]

    @property
    def measurements_clear_url(self) -> str:
        """This view without the displayed slice's measurements (those elsewhere stay)."""
        kept = tuple(m for m in self.measurements if m.slice != self.number)
        return self.url(measurements=kept)

    @property
    def measurements_param(self) -> str:
        """``m`` as this view writes it (for the browser's measuring tool to append to)."""
        return str(self.params().get("m", ""))

    # --- links ---------------------------------------------------------------------------

    def params(self, **changes) -> dict[str, str | int]:
        """The query parameters of this view (after ``changes``), in a stable order."""
        state = replace(self, **changes)._normalised() if changes else self
        params: dict[str, str | int] = {}
        # Whether the figure is a stack or has annotations is the same for every view of it:
        # asked of ``self``, whose answers are cached, not of each changed copy.
        if self.is_stack:
            params["slice"] = state.index + 1
        if state.plane != "axial":
            params["plane"] = state.plane
        if state.window_width is not None and state.window_center is not None:
            params["ww"] = _number(state.window_width)
            params["wc"] = _number(state.window_center)
        if state.zoom > 1:
            params |= {"zoom": _number(state.zoom), "cx": f"{state.cx:.4g}",
                       "cy": f"{state.cy:.4g}"}  # fmt: skip
        if state.invert:
            params["invert"] = 1
        if self.has_annotations and not state.annotations:
            params["ann"] = 0
        if state.measurements:
            here = state.number
            params["m"] = ";".join(m.text(tagged=m.slice != here) for m in state.measurements)
        return params

    def query(self, **changes) -> str:
        return urlencode(self.params(**changes), safe=MEASUREMENT_SAFE)

    def url(self, **changes) -> str:
        """The link to this view (after ``changes``) on ``base_url`` (and ``base_query``)."""
        query = "&".join(q for q in (self.base_query, self.query(**changes)) if q)
        return f"{self.base_url}?{query}" if query else self.base_url

    def hidden_fields(self, *names: str) -> list[tuple[str, str | int]]:
        """The view's parameters except ``names``: hidden inputs for a form that sets those.

        A form that sets the slice names the slice of every measurement, since the untagged
        ones belong to the slice displayed now, not to the one the form will show.
        """
        params = self.params()
        if "slice" in names and "m" in params:
            params["m"] = measurements_format(self.measurements)
        base = list(parse_qsl(self.base_query, keep_blank_values=True))
        return base + [(k, v) for k, v in params.items() if k not in names]

    @property
    def slice_fields(self) -> list[tuple[str, str | int]]:
        return self.hidden_fields("slice")

    @property
    def window_fields(self) -> list[tuple[str, str | int]]:
        return self.hidden_fields("ww", "wc")

    @property
    def magnify_url(self) -> str:
        """The image's link: an ``ismap`` image appends "?x,y" to this, which ``at`` reads."""
        return f"{self.url()}{'&' if '?' in self.url() else '?'}at="

    @property
    def reset_url(self) -> str:
        """The author's window, unmagnified and not inverted, on the slice being read.

        A radiologist resets the picture, not their place in the stack.
        """
        width, center = _default_window(self.figure, self.slices)
        return self.url(
            window_width=width, window_center=center, zoom=1.0, cx=0.5, cy=0.5, invert=False
        )

    @property
    def invert_url(self) -> str:
        return self.url(invert=not self.invert)

    def slice_url(self, index: int) -> str:
        return self.url(index=min(max(index, 0), self.count - 1))

    @property
    def previous_url(self) -> str:
        return self.slice_url(self.index - 1) if self.index > 0 else ""

    @property
    def next_url(self) -> str:
        return self.slice_url(self.index + 1) if self.index < self.count - 1 else ""

    @property
    def first_url(self) -> str:
        return self.slice_url(0) if self.index > 0 else ""

    @property
    def last_url(self) -> str:
        return self.slice_url(self.count - 1) if self.index < self.count - 1 else ""

    # --- the image -----------------------------------------------------------------------

    @property
    def source_size(self) -> tuple[int, int]:
        """The current slice's stored pixels (width, height)."""
        current = self.slice
        if current is not None and self.is_reformat:
            return plane_size(self.slices, self.plane)
        return (current.width, current.height) if current is not None else (0, 0)

    @property
    def render_size(self) -> int | None:
        """The ``size`` of the image URLs: the page's, else the stored pixels up to a limit."""
        if self.size is not None:
            return self.size or None
        return VIEWER_SIZE if max(self.source_size) > VIEWER_SIZE else None

    @property
    def display_size(self) -> tuple[int, int]:
        return output_size(*self.source_size, self.render_size) if self.slice else (0, 0)

    # The box the picture is shown in (the image's ``sizes``, and its preload's): the whole
    # width on a phone, at most the article's column and three quarters of the screen's height.
    sizes = "min(100vw, 59rem, 75vh)"

    @property
    def srcset(self) -> str:
        """Every size step of the image, for the browser to pick before any script runs.

        Empty once the page has said which size it shows (then ``image_url`` is that one).
        """
        if self.size is not None or not self.slice:
            return ""
        return ", ".join(
            f"{self.image_url(size=step)} {output_size(*self.source_size, step)[0]}w"
            for step in RENDER_SIZES
            if step >= 512
        )

    def render_params(self, *, size: int | None, index: int) -> RenderParams:
        """The rendering of the ``index``-th slice in this view."""
        common = dict(
            window_width=self.window_width,
            window_center=self.window_center,
            invert=self.invert,
            size=size,
            zoom=self.zoom,
            cx=self.cx,
            cy=self.cy,
            fmt=VIEWER_FORMAT,
            measurements=measurements_format(self.measurements_on(index), tagged=False),
        )
        if self.is_reformat:
            return RenderParams(
                self.slices[0].token,
                plane=self.plane,
                plane_index=index * plane_step(self.slices, self.plane),
                **common,
            )
        current = self.slices[index]
        digest = ""
        if self.annotations and self.annotations_allowed:
            drawn = annotations_for_slice(self.figure.annotations.all(), current)
            digest = annotations_digest(drawn)
        return RenderParams(current.token, annotations=digest, **common)

    def image_url(self, *, size: int | None = -1, index: int | None = None) -> str:
        """The rendered image of the current (or the ``index``-th) slice in this view.

        ``size`` -1 is ``render_size``.
        """
        if not self.slices:
            return ""
        size = self.render_size if size == -1 else size
        return self.render_params(size=size, index=self.index if index is None else index).url()

    @property
    def stack_urls(self) -> list[str]:
        """Every slice's image in this view, for the browser to hold and flip through."""
        return [self.image_url(index=i) for i in range(self.count)] if self.is_stack else []


def _size_param(query: Mapping[str, str]) -> int | None:
    """The page's ``size``: a step of ``RENDER_SIZES``, 0 (stored pixels) or None (unsaid)."""
    size = _int_param(query, "size", -1)
    return size if size == 0 or size in RENDER_SIZES else None


def _default_window(figure: Figure, slices: list[Slice]) -> tuple[float | None, float | None]:
    """The window an author chose: the figure's, else the DICOM header's of the middle slice."""
    if figure.has_window or not slices:
        return figure.window_width, figure.window_center
    return _header_window(slices[len(slices) // 2 if len(slices) > 1 else 0])


def _header_window(image: Slice) -> tuple[float | None, float | None]:
    """The window in a DICOM slice's header (decoded once per process), or (None, None)."""
    if image.kind != Slice.Kind.GREY16 or not image.image.name.lower().endswith(".dcm"):
        return None, None
    try:
        header = slice_pixels(image).header_window
    except (OSError, ValueError):
        return None, None
    return header if header is not None else (None, None)
