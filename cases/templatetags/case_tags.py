from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from ..markdown import markdown_html, markdown_inline

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(source: str) -> SafeString:
    """Author or user text as sanitised HTML."""
    return markdown_html(source or "")


@register.filter(name="markdown_inline")
def markdown_inline_filter(source: str) -> SafeString:
    return markdown_inline(source or "")
