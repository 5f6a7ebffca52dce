"""The one Markdown renderer for every piece of text the app shows.

markdown-it-py in its ``js-default`` preset (no raw HTML), then nh3 with an allowlist, so
that neither an author nor a commenter can put script, style or event handlers on a page.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
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
