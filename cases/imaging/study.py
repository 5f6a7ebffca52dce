"""A case's figures read as a study: up to four viewports, each any figure at any view.

The study page's query string is its state, like the figure viewer's:

    layout      1, 2 (side by side) or 4 (2x2) viewports
    v1..v4      each viewport as ``<figure number>:<the figure viewer's query>``, e.g.
                ``v2=3:slice=14&ww=80&wc=40`` (encoded); a missing one shows the next figure
    link        1 links scrolling: a step in one viewport moves the others to the matching
                slice (by position in mm for stacks of one geometry, else by relative index;
                crossing planes of one frame of reference stay, the reference line shows
                where they meet; ``cases.imaging.linking``)
    linkzoom    1 links zoom and pan: the others take the same magnification and centre
    linkwindow  1 links the window: the others of the same modality (and kind of values)
                take the same width and centre

Each viewport is a figure viewer (``cases/figure.html#viewer``) whose links and forms name
one viewport's change as ``vp=<n>`` and that viewer's own parameters at the top level of the
query (``?layout=2&v1=...&v2=3:&vp=2&slice=15&ww=80&wc=40``). The study reads them as that
viewport's view and carries the change to the linked ones; a page without JavaScript is then
redirected to the canonical URL, an htmx request gets the viewports swapped in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.http import QueryDict

from cases.models import Figure

from .linking import linked_number, reference_line
from .params import MEASUREMENT_SAFE
from .viewstate import ViewState

LAYOUTS = (1, 2, 4)
LINKS = ("link", "linkzoom", "linkwindow")
STUDY_KEYS = frozenset({"layout", *LINKS, "vp", "v1", "v2", "v3", "v4"})


@dataclass(frozen=True)
class Viewport:
    """One viewport of the study: its place (1-based), figure and view."""

    number: int
    figure: Figure
    view: ViewState

    @property
    def spec(self) -> str:
        return f"{self.figure.number}:{self.view.query()}"

    @property
    def key(self) -> str:
        """The viewer's element ids (``viewer-s2-stage``): one figure may fill two viewports."""
        return f"s{self.number}"


@dataclass(frozen=True)
class Study:
    """The study page's state: its layout, what is linked, and its viewports."""

    base_url: str
    figures: tuple[Figure, ...]
    layout: int
    links: frozenset[str]
    viewports: tuple[Viewport, ...]
    changed: int | None = None  # the viewport a ``vp`` query changed
    figure_url: Callable[[Figure], str] | None = None

    @classmethod
    def from_query(
        cls,
        figures: list[Figure],
        query: Mapping[str, str],
        *,
        base_url: str,
        figure_url: Callable[[Figure], str] | None = None,
        annotations_allowed: bool = True,
    ) -> Study:
        """Parse the query string; unknown figures and unreadable values fall back to defaults.

        ``figures`` are those the reader may see (unknown mode passes the revealed ones: a
        ``v`` naming another is ignored); ``figure_url`` is each figure's viewer page (the
        article's by default), ``annotations_allowed`` as for ``viewer_context``.
        """
        by_number = {f.number: f for f in figures}
        try:
            layout = int(query.get("layout", "1"))
        except ValueError:
            layout = 1
        layout = layout if layout in LAYOUTS else 1
        changed = query.get("vp", "")
        changed_number = int(changed) if changed.isdigit() and 1 <= int(changed) <= layout else None
        viewports = []
        for number in range(1, layout + 1):
            default = figures[(number - 1) % len(figures)] if figures else None
            figure, view_query = default, QueryDict("")
            head, _, rest = query.get(f"v{number}", "").partition(":")
            if head.isdigit() and int(head) in by_number:
                figure, view_query = by_number[int(head)], QueryDict(rest)
            if figure is None:
                continue
            if number == changed_number:
                view_query = _viewer_query(query)
            view = ViewState.from_query(
                figure,
                view_query,
                base_url=base_url,
                caption="",
                alt_text=figure.label,
                annotations_allowed=annotations_allowed,
            )
            viewports.append(Viewport(number, figure, view))
        links = frozenset(name for name in LINKS if query.get(name) == "1")
        study = cls(base_url, tuple(figures), layout, links, tuple(viewports), changed_number,
                    figure_url)  # fmt: skip
        return study._linked()._with_base_queries()

    # --- linking ---------------------------------------------------------------------------

    @property
    def link(self) -> bool:
        return "link" in self.links

    def _linked(self) -> Study:
        """The other viewports after the changed one's change, as far as they are linked."""
        source = next((v for v in self.viewports if v.number == self.changed), None)
        if source is None or not self.links:
            return self
        view = source.view
        viewports = []
        for other in self.viewports:
            target = other.view
            if other is not source:
                if self.link and view.is_stack and target.is_stack:
                    index = linked_number(view.geometry, view.index, view.count,
                                          target.geometry, target.count)  # fmt: skip
                    if index is not None:
                        target = replace(target, index=index)
                if "linkzoom" in self.links:
                    target = replace(target, zoom=view.zoom, cx=view.cx, cy=view.cy)
                if "linkwindow" in self.links and _like_images(view, target):
                    target = replace(target, window_width=view.window_width,
                                     window_center=view.window_center)  # fmt: skip
            viewports.append(replace(other, view=target))
        return replace(self, viewports=tuple(viewports))

    def _with_base_queries(self) -> Study:
        """Each viewer's links keep the rest of the study (``vp`` names the viewer's change)."""
        viewports = []
        for viewport in self.viewports:
            params = self._params(specs={viewport.number: f"{viewport.figure.number}:"})
            params["vp"] = viewport.number
            base_query = urlencode(params, safe=MEASUREMENT_SAFE)
            viewports.append(replace(viewport, view=replace(viewport.view, base_query=base_query)))
        return replace(self, viewports=tuple(viewports))

    # --- links -----------------------------------------------------------------------------

    def _params(self, *, layout: int | None = None, links: frozenset[str] | None = None,
                specs: dict[int, str] | None = None) -> dict[str, str | int]:  # fmt: skip
        specs = {v.number: v.spec for v in self.viewports} | (specs or {})
        layout = self.layout if layout is None else layout
        params: dict[str, str | int] = {"layout": layout}
        for name in LINKS:
            if name in (self.links if links is None else links):
                params[name] = 1
        for number in range(1, layout + 1):
            if number in specs:
                params[f"v{number}"] = specs[number]
        return params

    def url(self, *, layout: int | None = None, links: frozenset[str] | None = None,
            specs: dict[int, str] | None = None) -> str:  # fmt: skip
        """This study's URL after the changes: ``specs`` replace viewports' ``figure:query``."""
        params = self._params(layout=layout, links=links, specs=specs)
        return f"{self.base_url}?{urlencode(params, safe=MEASUREMENT_SAFE)}"

    @property
    def layouts(self) -> list[dict]:
        return [{"layout": n, "url": self.url(layout=n), "current": n == self.layout}
                for n in LAYOUTS]  # fmt: skip

    @property
    def link_toggles(self) -> list[dict]:
        """The link toggles: scrolling, zoom and pan, window (like images only)."""
        labels = {"link": "Link scrolling", "linkzoom": "Link zoom and pan",
                  "linkwindow": "Link window"}  # fmt: skip
        return [
            {
                "name": name,
                "label": labels[name],
                "on": name in self.links,
                "url": self.url(links=self.links ^ {name}),
            }  # fmt: skip
            for name in LINKS
        ]

    @property
    def link_url(self) -> str:
        return self.url(links=self.links ^ {"link"})

    def show_url(self, viewport_number: int, figure: Figure) -> str:
        """``figure`` at its author's view in viewport ``viewport_number``."""
        return self.url(specs={viewport_number: f"{figure.number}:"})

    def open_url(self, viewport: Viewport) -> str:
        """The viewport's view alone, on the figure's own viewer page."""
        base = (self.figure_url(viewport.figure) if self.figure_url
                else ViewState.for_figure(viewport.figure).base_url)  # fmt: skip
        query = viewport.view.query()
        return f"{base}?{query}" if query else base

    # --- the page --------------------------------------------------------------------------

    def reference_lines(self, viewport: Viewport) -> list[dict]:
        """The other viewports' slices where they cut this one, in its source pixels."""
        target = viewport.view
        if target.geometry is None:
            return []
        width, height = target.source_size
        lines = []
        for other in self.viewports:
            if other is viewport or other.view.geometry is None:
                continue
            line = reference_line(other.view.geometry, other.view.index, target.geometry,
                                  target.index, width, height)  # fmt: skip
            if line:
                x1, y1, x2, y2 = line
                lines.append({"viewport": other.number, "x1": x1, "y1": y1, "x2": x2, "y2": y2})
        return lines

    def panels(self) -> list[dict]:
        """What the template draws for each viewport: the viewer's ``item`` and the rest."""
        keys = [v.key for v in self.viewports]
        panels = []
        for viewport in self.viewports:
            view = viewport.view
            # Linked viewports move with this one: their regions come back with its answer.
            others = [k for k in keys if k != viewport.key] if self.links else []
            also = [f"#viewer-{k}-{part}" for k in others
                    for part in ("stage", "controls", "state", "position")]  # fmt: skip
            also += ["#study-options", "#study-strip"]
            also += [f"#study-show-{v.number}" for v in self.viewports]
            panels.append(
                {
                    "viewport": viewport,
                    "item": {
                        "figure": viewport.figure,
                        "view": view,
                        "key": viewport.key,
                        "in_study": True,
                        "also": ",".join(also),
                        "geometry": json.dumps(view.geometry.data) if view.geometry else "",
                        "lines": self.reference_lines(viewport),
                    },  # fmt: skip
                    "open_url": self.open_url(viewport),
                    "shows": [
                        {
                            "figure": f,
                            "url": self.show_url(viewport.number, f),
                            "current": f == viewport.figure,
                        }  # fmt: skip
                        for f in self.figures
                    ],
                }
            )
        return panels


def _viewer_query(query: Mapping[str, str]) -> QueryDict:
    """A ``vp`` query's own viewer parameters (those that are not the study's)."""
    out = QueryDict(mutable=True)
    for name in query:
        if name not in STUDY_KEYS:
            values = query.getlist(name) if hasattr(query, "getlist") else [query[name]]
            out.setlist(name, values)
    return out


def _like_images(first: ViewState, second: ViewState) -> bool:
    """Whether a window means the same on both: one modality and one kind of values."""
    a, b = first.slice, second.slice
    if a is None or b is None:
        return False
    return first.figure.modality == second.figure.modality and a.kind == b.kind
