"""What a page needs to show a case's thread: ``thread_context(request, case)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch
from django.http import HttpRequest
from django.urls import reverse

from .forms import CommentForm
from .models import Comment, Follow
from .services import user_can_read_threads, user_is_moderator
from .viewlinks import ViewLink, ViewLinkError, view_link_parse


@dataclass
class Thread:
    """Everything the ``thread`` partial shows; one context key so it nests in any page."""

    case: object
    can_read: bool
    can_post: bool
    is_moderator: bool
    count: int
    following: bool = False
    page: Page | None = None
    form: CommentForm | None = None
    preview_html: str = ""
    prefill_chip: str = ""
    preview_chip: str = ""
    highlight: int | None = None
    login_url: str = ""
    next_url: str = ""
    urls: dict[str, str] = field(default_factory=dict)


def comments_decorate(comments: Iterable[Comment], *, user, is_moderator: bool) -> None:
    """Decide, per viewer, what each comment shows and which buttons it offers."""
    for comment in comments:
        own = user.is_authenticated and comment.author_id == user.pk
        comment.is_own = own
        comment.show_body = not comment.is_deleted and (
            not comment.is_hidden or own or is_moderator
        )
        comment.can_edit = comment.is_editable_by(user)
        comment.can_delete = own and not comment.is_deleted
        comment.can_reply = (
            user.is_authenticated and not comment.is_deleted and not comment.is_hidden
        )
        comment.can_report = user.is_authenticated and not own and comment.show_body
        comment.can_moderate = is_moderator and not comment.is_deleted
        comment.view_chip = (
            ViewLink(comment.view_figure, comment.view_query).chip(comment.case)
            if comment.view_figure is not None and comment.show_body
            else ""
        )


def thread_comments(case) -> Iterable[Comment]:
    """Top-level comments, newest activity first, with their replies in order."""
    related = Comment.objects.select_related("author", "hidden_by", "case")
    return (
        related.filter(case=case, parent__isnull=True)
        .order_by("-last_activity", "-id")
        .prefetch_related(Prefetch("replies", queryset=related.order_by("created", "id")))
    )


def thread_context(
    request: HttpRequest,
    case,
    *,
    form: CommentForm | None = None,
    preview_html: str = "",
    next_url: str | None = None,
) -> dict:
    """The context for ``{% include "cases/discussion/thread.html#thread" %}``.

    Returns ``{"thread": Thread}``. Reading may need an account
    (``DISCUSSION_REQUIRES_LOGIN``); posting always does. ``?page=`` picks the page of
    top-level comments (``DISCUSSION_PAGE_SIZE`` each) and ``?view=<figure>:<query>``
    pre-fills the linked view of the comment form. ``next_url`` is where a no-JS post
    returns to (default: the page being shown).
    """
    user = request.user
    is_moderator = user_is_moderator(user)
    count = Comment.objects.visible().filter(case=case).count()
    thread = Thread(
        case=case,
        can_read=user_can_read_threads(user),
        can_post=user.is_authenticated,
        is_moderator=is_moderator,
        count=count,
        preview_html=preview_html,
        next_url=next_url if next_url is not None else request.get_full_path(),
        login_url=redirect_to_login(request.get_full_path())["Location"],
        urls={
            "thread": reverse("cases:discussion_thread", args=[case.public_id]),
            "create": reverse("cases:discussion_create", args=[case.public_id]),
            "preview": reverse("cases:discussion_preview", args=[case.public_id]),
            "follow": reverse("cases:discussion_follow", args=[case.public_id]),
        },
    )
    if not thread.can_read:
        return {"thread": thread}
    paginator = Paginator(thread_comments(case), settings.DISCUSSION_PAGE_SIZE)
    thread.page = paginator.get_page(request.GET.get("page"))
    top = list(thread.page.object_list)
    comments_decorate(
        [*top, *(reply for comment in top for reply in comment.replies.all())],
        user=user,
        is_moderator=is_moderator,
    )
    if user.is_authenticated:
        thread.following = Follow.objects.filter(case=case, user=user, active=True).exists()
        if form is None:
            initial = {"view": request.GET.get("view", "")[:320]}
            form = CommentForm(case=case, initial=initial)
            if initial["view"]:
                numbers = set(case.figures.values_list("number", flat=True))
                try:
                    view = view_link_parse(initial["view"], figure_numbers=numbers)
                    thread.prefill_chip = view.chip(case)
                except ViewLinkError:
                    thread.prefill_chip = ""
        thread.form = form
    return {"thread": thread}
