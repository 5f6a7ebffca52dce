"""A case's figures read as a study: up to four viewports, each any figure at any view.

The study page's query string is its state, like the figure viewer's:

    layout  1, 2 (side by side) or 4 (2x2) viewports
    v1..v4  each viewport as ``<figure number>:<the figure viewer's query>``, e.g.
            ``v2=3:slice=14&ww=80&wc=40`` (encoded); a missing one shows the next figure
    link    1 links scrolling: a step in one viewport moves the others to the matching slice
            (by position in mm for stacks of one geometry, else by relative index;
            ``cases.imaging.linking``)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import QueryDict

from cases.models import Figure

from .linking import linked_index
from .viewstate import ViewState

LAYOUTS = (1, 2, 4)


@dataclass(frozen=True)
class Viewport:
    """One viewport of the study: its place (1-based), figure and view."""

    number: int
    figure: Figure
    view: ViewState

    @property
    def spec(self) -> str:
        return f"{self.figure.number}:{self.view.query()}"


@dataclass(frozen=True)
class Study:
    """The study page's state: its layout, whether scrolling is linked, and its viewports."""

    base_url: str
    figures: tuple[Figure, ...]
    layout: int
    link: bool
    viewports: tuple[Viewport, ...]

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
        viewports = []
        for number in range(1, layout + 1):
            default = figures[(number - 1) % len(figures)] if figures else None
            figure, view_query = default, ""
            text = query.get(f"v{number}", "")
            head, _, rest = text.partition(":")
            if head.isdigit() and int(head) in by_number:
                figure, view_query = by_number[int(head)], rest
            if figure is None:
                continue
            # On the figure page's URL: "Open in the viewer" is this view, alone.
            view = ViewState.from_query(
                figure,
                QueryDict(view_query),
                base_url=figure_url(figure) if figure_url else None,
                annotations_allowed=annotations_allowed,
            )
            viewports.append(Viewport(number, figure, view))
        return cls(base_url, tuple(figures), layout, query.get("link") == "1", tuple(viewports))

    def url(self, *, layout: int | None = None, link: bool | None = None,
            specs: dict[int, str] | None = None) -> str:  # fmt: skip
        """This study's URL after the changes: ``specs`` replace viewports' ``figure:query``."""
        specs = {v.number: v.spec for v in self.viewports} | (specs or {})
        layout = self.layout if layout is None else layout
        params: dict[str, str | int] = {"layout": layout}
        if self.link if link is None else link:
            params["link"] = 1
        for number in range(1, layout + 1):
            if number in specs:
                params[f"v{number}"] = specs[number]
        return f"{self.base_url}?{urlencode(params)}"

    @property
    def layouts(self) -> list[dict]:
        return [{"layout": n, "url": self.url(layout=n), "current": n == self.layout}
                for n in LAYOUTS]  # fmt: skip

    @property
    def link_url(self) -> str:
        return self.url(link=not self.link)

    def step_url(self, viewport: Viewport, index: int) -> str:
        """``viewport`` at slice ``index``; with linking on, the others at the matching slice."""
        view = viewport.view
        if not 0 <= index < view.count:
            return ""
        specs = {viewport.number: f"{viewport.figure.number}:{view.query(index=index)}"}
        if self.link and not view.is_reformat:
            for other in self.viewports:
                if other is viewport or other.view.is_reformat or not other.view.is_stack:
                    continue
                matched = linked_index(source=view.slices, index=index, target=other.view.slices)
                specs[other.number] = f"{other.figure.number}:{other.view.query(index=matched)}"
        return self.url(specs=specs)

    def show_url(self, viewport_number: int, figure: Figure) -> str:
        """``figure`` at its author's view in viewport ``viewport_number``."""
        return self.url(specs={viewport_number: f"{figure.number}:"})

    def plane_url(self, viewport: Viewport, plane_link: dict) -> str:
        """A plane link of the viewport's viewer, as a link of the study."""
        query = plane_link["url"].partition("?")[2]
        return self.url(specs={viewport.number: f"{viewport.figure.number}:{query}"})

    def panels(self) -> list[dict]:
        """What the template draws for each viewport."""
        panels = []
        for viewport in self.viewports:
            view = viewport.view
            panels.append(
                {
                    "viewport": viewport,
                    "image_url": view.image_url(size=512),
                    "previous_url": self.step_url(viewport, view.index - 1),
                    "next_url": self.step_url(viewport, view.index + 1),
                    "planes": [
                        p | {"url": self.plane_url(viewport, p) if p["url"] else ""}
                        for p in view.planes
                    ],
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
