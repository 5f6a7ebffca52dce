"""The one Markdown renderer for every piece of text the app shows.

markdown-it-py in its ``js-default`` preset (no raw HTML), then nh3 with an allowlist, so
that neither an author nor a commenter can put script, style or event handlers on a page.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "sub", "sup", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
TABLE_BOX = '<div class="table-scroll">'  # around each table, after cleaning

# Input longer than this is refused by callers; the renderer also bounds nesting itself.
MAX_SOURCE_CHARS = 100_000

# "breaks": a single newline is a line break, as authors and commenters expect.
_md = MarkdownIt("js-default", {"maxNesting": 20, "breaks": True, "typographer": False})


def markdown_render(source: str) -> str:
    """Return sanitised HTML for ``source``."""
    if not source:
        return ""
    html = _md.render(source[:MAX_SOURCE_CHARS])
    html = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    # A wide table scrolls in its own box, not the page (on a phone). Added after cleaning:
    # nh3 writes every table tag bare, and text can hold no "<table>" but an escaped one.
    return html.replace("<table>", f"{TABLE_BOX}<table>").replace("</table>", "</table></div>")


@lru_cache(maxsize=2048)
def markdown_html(source: str) -> SafeString:
    """Cached, template-ready rendering of author text (cases change rarely)."""
    return mark_safe(markdown_render(source))  # noqa: S308 - nh3 sanitised it


def markdown_inline(source: str) -> SafeString:
    """Render a short text (a caption, a reference) without the wrapping paragraph."""
    html = str(markdown_html(source)).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return mark_safe(html)  # noqa: S308 - nh3 sanitised it


# --- an article's cross-links ----------------------------------------------------------------

_NUMBER = r"\d{1,3}[a-z]?"
_SEPARATOR = r"\s*(?:,|-|–|—|to|and|&amp;)\s*"
_FIGURES = (
    r"\b(?P<fig_word>[Ff]ig(?:ure)?s?\.?)(?P<fig_space>\s+|&nbsp;)"
    rf"(?P<fig_list>{_NUMBER}(?:{_SEPARATOR}{_NUMBER})*)"
)
_REFERENCES = r"\[(?P<ref_list>\s*\d{1,3}(?:\s*[-–,]\s*\d{1,3})*\s*)\]"
_LIST_PART = re.compile(rf"({_NUMBER})|({_SEPARATOR})")
_RANGE = re.compile(r"\s*(?:-|–|—|to)\s*")
_TAG = re.compile(r"(<[^>]*>)")
# Text inside these is left alone: a link in a link is invalid, code is literal.
_SKIP_INSIDE = {"a", "code", "pre", "abbr"}


@dataclass
class ArticleLinks:
    """Links an article's text to its own figures and references, and explains abbreviations.

    Applied to sanitised HTML at render time, only ever producing links to anchors on the same
    page (``#figure-N``, ``#ref-N``): a number with no such anchor (a figure or reference not
    shown at this unknown-mode step) stays plain text. An abbreviation gets its expansion on
    its first use on the page only, so one instance is used per page, in document order.
    """

    figures: Collection[int] = ()
    references: Collection[int] = ()
    abbreviations: Mapping[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        parts = [_FIGURES, _REFERENCES]
        names = sorted((a for a in self.abbreviations if a.strip()), key=len, reverse=True)
        if names:
            words = "|".join(re.escape(escape(name)) for name in names)
            parts.append(rf"(?<![\w-])(?P<abbr>{words})(?![\w-])")
        self._pattern = re.compile("|".join(parts))
        self._expansions = {escape(a): e for a, e in self.abbreviations.items()}

    def link(self, html: str) -> SafeString:
        """``html`` (already sanitised) with its cross-references as in-page links."""
        out = []
        skipping: list[str] = []
        for piece in _TAG.split(str(html)):
            if piece.startswith("<"):
                name = re.match(r"</?\s*([a-zA-Z0-9]+)", piece)
                tag = name.group(1).lower() if name else ""
                if tag in _SKIP_INSIDE and not piece.endswith("/>"):
                    if piece.startswith("</"):
                        if skipping and skipping[-1] == tag:
                            skipping.pop()
                    else:
                        skipping.append(tag)
                out.append(piece)
            elif skipping or not piece:
                out.append(piece)
            else:
                out.append(self._pattern.sub(self._replace, piece))
        return mark_safe("".join(out))  # noqa: S308 - input was sanitised; we add safe markup

    def _replace(self, match: re.Match) -> str:
        if match.group("fig_list"):
            listed = self._list(match.group("fig_list"), self.figures, "figure", "Figure")
            return f"{match.group('fig_word')}{match.group('fig_space')}{listed}"
        if match.group("ref_list"):
            listed = self._list(match.group("ref_list"), self.references, "ref", "Reference")
            return f"[{listed}]"
        abbr = match.group("abbr")
        if abbr in self.seen:
            return abbr
        self.seen.add(abbr)
        title = escape(self._expansions[abbr])
        return f'<abbr title="{title}" tabindex="0">{abbr}</abbr>'

    @staticmethod
    def _list(text: str, present: Collection[int], anchor: str, noun: str) -> str:
        """Each number in "3, 6-8" linked to its anchor, when that anchor is on the page."""
        out = []
        for number, separator in _LIST_PART.findall(text):
            if separator:
                out.append(separator)
                continue
            digits = int(re.match(r"\d+", number).group())
            if digits in present:
                out.append(
                    f'<a href="#{anchor}-{digits}" class="xref" '
                    f'aria-label="{noun} {number}">{number}</a>'
                )
            else:
                out.append(number)
        return "".join(out)
