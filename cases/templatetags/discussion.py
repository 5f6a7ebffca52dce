"""``{% discussion_thread case %}`` shows a case's thread anywhere; ``comment_count`` counts it."""

from __future__ import annotations

from django import template
from django.template.loader import get_template
from django.utils.safestring import SafeString

from ..discussion.context import thread_context
from ..discussion.models import Comment

register = template.Library()


@register.simple_tag(takes_context=True)
def discussion_thread(context, case) -> SafeString:
    """Render the thread partial for ``case`` with the current request."""
    request = context["request"]
    partial = get_template("cases/discussion/thread.html#thread")
    return partial.render(thread_context(request, case), request)


@register.simple_tag
def comment_count(case) -> int:
    """Visible comments on ``case``: the annotated ``comment_count`` if the view added it."""
    annotated = getattr(case, "comment_count", None)
    if annotated is not None:
        return annotated
    return Comment.objects.visible().filter(case=case).count()
