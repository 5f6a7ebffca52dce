"""What members and moderators do to a thread, as plain functions (forms only clean input)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..markdown import markdown_render
from .models import MODERATE_PERMISSION, Comment, Follow, ModerationAction, Report
from .notify import comment_notify_later
from .viewlinks import ViewLink, view_links_in_html


class RateLimited(Exception):
    """The member posted too much too quickly; nothing was saved."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many comments; try again in {retry_after} seconds.")
        self.retry_after = retry_after


def user_is_moderator(user) -> bool:
    """Staff and the Moderators group hide, restore and handle reports."""
    return (
        user.is_authenticated
        and user.is_active
        and (user.is_staff or user.has_perm(MODERATE_PERMISSION))
    )


def user_can_read_threads(user) -> bool:
    return user.is_authenticated or not settings.DISCUSSION_REQUIRES_LOGIN


def comment_body_render(*, case, body: str) -> str:
    """The one renderer (markdown-it-py + nh3), then figure-view links become chips."""
    figure_numbers = set(case.figures.values_list("number", flat=True))
    return view_links_in_html(markdown_render(body), case=case, figure_numbers=figure_numbers)


def posting_rate_check(*, user) -> None:
    """Raise RateLimited if ``user`` is over the per-minute or per-hour comment limit.

    Counted in the database, so every worker and server agrees. Staff are not limited.
    """
    if user.is_staff:
        return
    now = timezone.now()
    for window, limit in (
        (timedelta(minutes=1), settings.DISCUSSION_POSTS_PER_MINUTE),
        (timedelta(hours=1), settings.DISCUSSION_POSTS_PER_HOUR),
    ):
        recent = Comment.objects.filter(author=user, created__gt=now - window)
        if recent.count() >= limit:
            oldest = recent.order_by("created").values_list("created", flat=True)[0]
            raise RateLimited(max(1, int((oldest + window - now).total_seconds()) + 1))


def comment_create(
    *,
    case,
    author,
    body: str,
    parent: Comment | None = None,
    view: ViewLink | None = None,
    key: str = "",
    base_url: str = "",
) -> tuple[Comment, bool]:
    """Post a comment; return it and whether it is new.

    A second submit with the same ``key`` returns the first comment instead of a copy. A
    reply to a reply attaches to the top-level comment (one level of replies).
    """
    if key:
        existing = Comment.objects.filter(author=author, idempotency_key=key).first()
        if existing:
            return existing, False
    posting_rate_check(user=author)
    if parent is not None and parent.parent_id is not None:
        parent = parent.parent
    now = timezone.now()
    comment = Comment(
        case=case,
        author=author,
        parent=parent,
        body=body,
        body_html=comment_body_render(case=case, body=body),
        view_figure=view.figure if view else None,
        view_query=view.query if view else "",
        idempotency_key=key,
        created=now,
        last_activity=now,
    )
    try:
        with transaction.atomic():
            comment.save()
            if parent is not None:
                Comment.objects.filter(pk=parent.pk).update(last_activity=now)
            Follow.objects.get_or_create(case=case, user=author)
    except IntegrityError:
        # The same form submitted twice at once: the other request saved it.
        existing = Comment.objects.filter(author=author, idempotency_key=key).first()
        if key and existing:
            return existing, False
        raise
    comment_notify_later(comment=comment, base_url=base_url)
    return comment, True


def comment_edit(*, comment: Comment, editor, body: str, view: ViewLink | None) -> Comment:
    if not comment.is_editable_by(editor):
        raise PermissionDenied("Comments can be edited by their author for a short time only.")
    comment.body = body
    comment.body_html = comment_body_render(case=comment.case, body=body)
    comment.view_figure = view.figure if view else None
    comment.view_query = view.query if view else ""
    comment.edited = timezone.now()
    comment.save(update_fields=["body", "body_html", "view_figure", "view_query", "edited"])
    return comment


def comment_delete(*, comment: Comment, user) -> Comment:
    """The author withdraws a comment: its text goes, its replies stay."""
    if not user.is_authenticated or comment.author_id != user.pk:
        raise PermissionDenied("Only the author can delete a comment.")
    if not comment.is_deleted:
        comment.deleted_at = timezone.now()
        comment.body = ""
        comment.body_html = ""
        comment.view_figure = None
        comment.view_query = ""
        comment.save(update_fields=["deleted_at", "body", "body_html", "view_figure", "view_query"])
    return comment


def _moderator_check(user) -> None:
    if not user_is_moderator(user):
        raise PermissionDenied("Moderators only.")


def _excerpt(comment: Comment) -> str:
    return f"#{comment.pk} by {comment.author_name}: {comment.body[:150]}"


@transaction.atomic
def comment_hide(*, comment: Comment, moderator, reason: str) -> Comment:
    """Hide a comment from everyone but its author and the moderators; close its reports."""
    _moderator_check(moderator)
    now = timezone.now()
    comment.hidden_at = now
    comment.hidden_by = moderator
    comment.hidden_reason = reason
    comment.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
    open_reports = comment.reports.filter(status=Report.Status.OPEN)
    first_report = open_reports.first()
    open_reports.update(status=Report.Status.HIDDEN, resolved_at=now, resolved_by=moderator)
    ModerationAction.objects.create(
        comment=comment,
        comment_excerpt=_excerpt(comment),
        report=first_report,
        moderator=moderator,
        action=ModerationAction.Action.HIDE,
        reason=reason,
    )
    return comment


@transaction.atomic
def comment_restore(*, comment: Comment, moderator, reason: str) -> Comment:
    _moderator_check(moderator)
    comment.hidden_at = None
    comment.hidden_by = None
    comment.hidden_reason = ""
    comment.save(update_fields=["hidden_at", "hidden_by", "hidden_reason"])
    ModerationAction.objects.create(
        comment=comment,
        comment_excerpt=_excerpt(comment),
        moderator=moderator,
        action=ModerationAction.Action.RESTORE,
        reason=reason,
    )
    return comment


@transaction.atomic
def report_dismiss(*, report: Report, moderator, reason: str) -> Report:
    _moderator_check(moderator)
    report.status = Report.Status.DISMISSED
    report.resolved_at = timezone.now()
    report.resolved_by = moderator
    report.save(update_fields=["status", "resolved_at", "resolved_by"])
    ModerationAction.objects.create(
        comment=report.comment,
        comment_excerpt=_excerpt(report.comment),
        report=report,
        moderator=moderator,
        action=ModerationAction.Action.DISMISS,
        reason=reason,
    )
    return report


def report_create(*, comment: Comment, reporter, reason: str, note: str = "") -> Report:
    """File a report; a member's second report on one comment updates the first."""
    report, _ = Report.objects.update_or_create(
        comment=comment,
        reporter=reporter,
        defaults={"reason": reason, "note": note, "status": Report.Status.OPEN},
    )
    return report


def follow_set(*, case, user, following: bool) -> Follow:
    follow, _ = Follow.objects.update_or_create(
        case=case, user=user, defaults={"active": following}
    )
    return follow
