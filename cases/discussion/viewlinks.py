"""Links from a comment to an exact viewer state of the same case, shown as chips.

A view is written ``<figure number>:<query string>``, the query string being the one the
figure page uses (``/cases/<slug>/figures/<n>/?slice=14&ww=2500&wc=480``), for example
``2:slice=14&ww=2500&wc=480&zoom=2``, with measurements ``m`` as the viewer writes them
(``cases.imaging.measure``: ``m=line:10,20,30,40;point:5,6``). Only known keys with numeric
values (and readable measurements) pass; anything else is malformed. The viewer's "Link this
view" button is a plain link to the comment form::

    /t/<public_id>/?view=2%3Aslice%3D14%26ww%3D2500%26wc%3D480#comment-form

(``comment_form_url`` builds it). Links to figure views inside a comment's Markdown become
chips too when they point at the same case and parse; otherwise they become plain text.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.urls import reverse
from django.utils.html import format_html

from cases.imaging.measure import MeasurementError, measurements_format, measurements_parse
from cases.imaging.params import MEASUREMENT_SAFE

MAX_QUERY_CHARS = 1000  # room for the viewer's 20 measurements

# key -> (lowest, highest, integer?) ; order is the canonical order of the stored query.
_NUMERIC_KEYS: dict[str, tuple[float, float, bool]] = {
    "slice": (1, 100_000, True),
    "ww": (1, 100_000, False),
    "wc": (-100_000, 100_000, False),
    "zoom": (0.1, 64, False),
    "cx": (0, 1, False),
    "cy": (0, 1, False),
}
_FLAG_KEYS = ("invert", "ann")
_CENTER_KEY = "center"  # "x,y" as one value, if the viewer prefers it to cx/cy
_MEASUREMENTS_KEY = "m"
_KEY_ORDER = (*_NUMERIC_KEYS, _CENTER_KEY, *_FLAG_KEYS, _MEASUREMENTS_KEY)

_FIGURE_PATH = re.compile(r"^/cases/(?P<slug>[-\w]+)/figures/(?P<number>\d{1,4})/$")
_ANCHOR = re.compile(r'<a href="(?P<href>[^"]*)"[^>]*>(?P<text>.*?)</a>', re.DOTALL)


class ViewLinkError(ValueError):
    """The text is not a view of this case."""


def _number(key: str, value: str) -> str:
    low, high, integer = _NUMERIC_KEYS[key]
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise ViewLinkError(f"{key} must be a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ViewLinkError(f"{key} is out of range")
    return str(number) if integer else f"{number:g}"


def view_query_clean(query: str) -> str:
    """Return ``query`` in canonical form, or raise ViewLinkError if any part is unknown."""
    if len(query) > MAX_QUERY_CHARS:
        raise ViewLinkError("the view is too long")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ViewLinkError("the view is not a query string") from None
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values:
            raise ViewLinkError(f"{key} is given twice")
        if key in _NUMERIC_KEYS:
            values[key] = _number(key, value)
        elif key in _FLAG_KEYS:
            if value not in {"0", "1"}:
                raise ViewLinkError(f"{key} must be 0 or 1")
            values[key] = value
        elif key == _CENTER_KEY:
            parts = value.split(",")
            if len(parts) != 2:
                raise ViewLinkError("center must be x,y")
            values[key] = ",".join(_number("cx", part) for part in parts)
        elif key == _MEASUREMENTS_KEY:
            try:
                values[key] = measurements_format(measurements_parse(value))
            except MeasurementError as exc:
                raise ViewLinkError(str(exc).rstrip(".").lower()) from None
        else:
            raise ViewLinkError(f"unknown setting {key!r}")
    pairs = [(key, values[key]) for key in _KEY_ORDER if key in values]
    return urlencode(pairs, safe=MEASUREMENT_SAFE)


@dataclass(frozen=True)
class ViewLink:
    figure: int
    query: str  # canonical, see view_query_clean

    def __str__(self) -> str:
        return f"{self.figure}:{self.query}"

    def url(self, case) -> str:
        base = reverse("cases:figure", args=[case.slug, self.figure])
        return f"{base}?{self.query}" if self.query else base

    @property
    def label(self) -> str:
        params = dict(parse_qsl(self.query))
        parts = [f"Figure {self.figure}"]
        if "slice" in params:
            parts.append(f"slice {params['slice']}")
        if "ww" in params and "wc" in params:
            parts.append(f"W {params['ww']} / L {params['wc']}")
        if "zoom" in params and params["zoom"] != "1":
            parts.append(f"{params['zoom']}×")
        if params.get("invert") == "1":
            parts.append("inverted")
        if params.get("m"):
            count = len(measurements_parse(params["m"]))
            parts.append(f"{count} measurement{'s' if count != 1 else ''}")
        return " · ".join(parts)

    def chip(self, case) -> str:
        return format_html(
            '<a class="view-chip" href="{}" title="Open this view">'
            '<span aria-hidden="true">▣</span> {}</a>',
            self.url(case),
            self.label,
        )


def view_link_parse(value: str, *, figure_numbers: set[int]) -> ViewLink:
    """Parse ``<figure>:<query>``; the figure must be one of ``figure_numbers``."""
    figure_text, sep, query = value.strip().partition(":")
    if not sep or not figure_text.isdigit() or len(figure_text) > 4:
        raise ViewLinkError("a view looks like 2:slice=14&ww=400&wc=40")
    figure = int(figure_text)
    if figure not in figure_numbers:
        raise ViewLinkError(f"this case has no figure {figure}")
    return ViewLink(figure=figure, query=view_query_clean(query.lstrip("?")))


def view_link_from_url(url: str, *, case, figure_numbers: set[int]) -> ViewLink | None:
    """The view a figure URL points at, or None if it is not one of this case's views."""
    parts = urlsplit(url)
    match = _FIGURE_PATH.match(parts.path)
    if not match or match["slug"] != case.slug or parts.fragment:
        return None
    try:
        return view_link_parse(f"{match['number']}:{parts.query}", figure_numbers=figure_numbers)
    except ViewLinkError:
        return None


def view_links_in_html(body_html: str, *, case, figure_numbers: set[int]) -> str:
    """Turn links to figure views in sanitised HTML into chips, or into plain text.

    A link to a view of this case becomes a chip; a link to another case's figure, or a
    malformed view, loses its link and keeps its text. Other links are left alone.
    """

    def replace(match: re.Match) -> str:
        href = html.unescape(match["href"])
        if not _FIGURE_PATH.match(urlsplit(href).path):
            return match[0]
        view = view_link_from_url(href, case=case, figure_numbers=figure_numbers)
        return view.chip(case) if view else match["text"]

    return _ANCHOR.sub(replace, body_html)


def comment_form_url(case, *, figure: int, query: str = "") -> str:
    """Where the viewer's "Link this view" button points: the comment form, pre-filled."""
    base = reverse("cases:discussion_thread", args=[case.public_id])
    return f"{base}?{urlencode({'view': f'{figure}:{query}'})}#comment-form"
