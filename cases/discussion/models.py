"""Comments on a case, reports about them, the moderators' audit trail, and thread follows."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

MODERATORS_GROUP = "Moderators"
MODERATE_PERMISSION = "cases.moderate_comment"


class CommentQuerySet(models.QuerySet):
    def visible(self) -> CommentQuerySet:
        """Comments everyone sees in full: neither deleted nor hidden."""
        return self.filter(deleted_at__isnull=True, hidden_at__isnull=True)


def comment_count_subquery() -> Coalesce:
    """An annotation for a Case queryset: its visible comments, in one subquery per row.

    A subquery rather than ``Count("comments")`` so that it adds no join and the library's
    other counts stay right.
    """
    counts = (
        Comment.objects.visible()
        .filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=models.IntegerField()), 0)


class Comment(models.Model):
    """One message in a case's thread: a top-level comment or a reply to one (one level)."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="case_comments",
    )
    # SET_NULL: if an administrator really deletes a comment, its replies stay readable.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    body = models.TextField(help_text="Markdown source as the author wrote it.")
    body_html = models.TextField(editable=False, help_text="Sanitised HTML rendered from body.")
    view_figure = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Figure number of the linked viewer state."
    )
    view_query = models.CharField(
        max_length=1000, blank=True, help_text="Query string of the linked viewer state."
    )
    idempotency_key = models.CharField(max_length=64, blank=True, editable=False)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    edited = models.DateTimeField(null=True, blank=True)
    last_activity = models.DateTimeField(
        default=timezone.now, help_text="This comment's or its newest reply's time."
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    hidden_reason = models.CharField(max_length=300, blank=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created", "id"]
        permissions = [("moderate_comment", "Can hide and restore comments and handle reports")]
        indexes = [
            models.Index(fields=["case", "parent", "-last_activity"], name="comment_thread_idx"),
            models.Index(fields=["author", "-created"], name="comment_author_recent_idx"),
        ]
        constraints = [
            # Double submit of one form (same key) makes one comment.
            models.UniqueConstraint(
                fields=["author", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="comment_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} by {self.author_name}: {self.body[:60]}"

    def get_absolute_url(self) -> str:
        return reverse("cases:discussion_comment", args=[self.case.public_id, self.pk])

    @property
    def author_name(self) -> str:
        return self.author.get_username() if self.author else "former member"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def edit_deadline(self):
        return self.created + timedelta(minutes=settings.DISCUSSION_EDIT_MINUTES)

    def is_editable_by(self, user) -> bool:
        return (
            user.is_authenticated
            and self.author_id == user.pk
            and not self.is_deleted
            and not self.is_hidden
            and timezone.now() < self.edit_deadline
        )


class Report(models.Model):
    """A member's flag on a comment, waiting in the moderators' queue until handled."""

    class Reason(models.TextChoices):
        PATIENT_DATA = "patient", "Identifiable patient information"
        ABUSE = "abuse", "Abusive or disrespectful"
        SPAM = "spam", "Spam or advertising"
        MISLEADING = "misleading", "Misleading or unsafe clinical content"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        HIDDEN = "hidden", "Comment hidden"
        DISMISSED = "dismissed", "Dismissed"

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    created = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["comment", "reporter"], name="report_once_per_member"),
        ]

    def __str__(self) -> str:
        return f"Report on comment #{self.comment_id}: {self.get_reason_display()}"


class ModerationAction(models.Model):
    """One entry of the audit trail: who did what to which comment, when and why."""

    class Action(models.TextChoices):
        HIDE = "hide", "Hid comment"
        RESTORE = "restore", "Restored comment"
        DISMISS = "dismiss", "Dismissed report"

    comment = models.ForeignKey(
        Comment, null=True, on_delete=models.SET_NULL, related_name="moderation_actions"
    )
    # Kept even if the comment is later removed by an administrator.
    comment_excerpt = models.CharField(max_length=200, blank=True)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.comment_id} ({self.created:%Y-%m-%d %H:%M})"


class Follow(models.Model):
    """A member's subscription to a case's thread; ``active=False`` remembers an unfollow."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="follows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_follows"
    )
    active = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="follow_unique_case_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} follows case {self.case_id}" + ("" if self.active else " (off)")


class NotificationSent(models.Model):
    """One notification e-mail sent: a task run again after its worker died skips it."""

    comment = models.ForeignKey(
        "cases.Comment", on_delete=models.CASCADE, related_name="notifications_sent"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comment", "user"], name="notification_sent_unique_comment_user"
            ),
        ]

    def __str__(self) -> str:
        return f"comment {self.comment_id} notified to user {self.user_id}"
