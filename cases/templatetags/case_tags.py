from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from ..markdown import ArticleLinks, markdown_html, markdown_inline

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(source: str) -> SafeString:
    """Author or user text as sanitised HTML."""
    return markdown_html(source or "")


@register.filter(name="markdown_inline")
def markdown_inline_filter(source: str) -> SafeString:
    return markdown_inline(source or "")


@register.filter(name="crosslink")
def crosslink_filter(html: str, links: ArticleLinks | None) -> SafeString:
    """Rendered text with its "(Fig. 5)" and "[1]" linked to anchors on this page.

    Without ``links`` in the context (a page that is no article) the text is left as it is.
    """
    if not isinstance(links, ArticleLinks):
        return html
    return links.link(html)
