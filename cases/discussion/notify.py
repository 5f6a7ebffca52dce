"""E-mail to a case's authors and the thread's followers when someone comments.

Sent by a task on the "background" backend: a row in the database (django-tasks-db) that
``manage.py worker`` runs, so posting never waits for the mail server and a restart loses
nothing. The task records each recipient it sent to: run again after its worker was killed,
it sends only the e-mails not yet sent.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks_db import DatabaseBackend

from .models import Comment, Follow, NotificationSent

logger = logging.getLogger(__name__)


def comment_notify_later(*, comment: Comment, base_url: str) -> None:
    """Queue the notification, to run once the transaction that saved ``comment`` commits.

    On the database queue the task's row is written in that transaction: it commits, or
    rolls back, with the comment. Any other backend is handed the task after the commit.
    """
    if isinstance(comment_notify.get_backend(), DatabaseBackend):
        comment_notify.enqueue(comment.pk, base_url)
    else:
        transaction.on_commit(lambda: comment_notify.enqueue(comment.pk, base_url))


def notification_recipients(*, comment: Comment) -> list:
    """Who hears of ``comment``: the case's authors with an account and the followers.

    Not its own author, nobody who unfollowed, nobody without an address or who cannot see
    the case (a draft is for staff only).
    """
    User = get_user_model()
    case = comment.case
    unfollowed = Follow.objects.filter(case=case, active=False).values("user")
    users = (
        User.objects.filter(
            Q(case_authorships__case=case) | Q(case_follows__case=case, case_follows__active=True)
        )
        .exclude(pk=comment.author_id)
        .exclude(pk__in=unfollowed)
        .exclude(email="")
        .filter(is_active=True)
        .distinct()
        .order_by("pk")
    )
    if not case.is_published:
        users = users.filter(is_staff=True)
    return list(users)


@task(backend="background")
def comment_notify(comment_id: int, base_url: str) -> int:
    """Send one e-mail per recipient not yet sent to; return how many were sent."""
    comment = (
        Comment.objects.select_related("case", "author", "parent__author")
        .filter(pk=comment_id, deleted_at__isnull=True, hidden_at__isnull=True)
        .first()
    )
    if comment is None:
        return 0
    done = set(NotificationSent.objects.filter(comment=comment).values_list("user_id", flat=True))
    recipients = [u for u in notification_recipients(comment=comment) if u.pk not in done]
    if not recipients:
        return 0
    case = comment.case
    author_ids = set(case.authors.exclude(user=None).values_list("user_id", flat=True))
    context = {
        "comment": comment,
        "case": case,
        "comment_url": base_url + comment.get_absolute_url(),
        "thread_url": base_url + reverse("cases:discussion_thread", args=[case.public_id]),
    }
    subject = f"New comment by {comment.author_name} on a case discussion"
    sent = 0
    with mailers.default as connection:
        for user in recipients:
            user.is_case_author = user.pk in author_ids
            body = render_to_string(
                "cases/discussion/email/new_comment.txt", context | {"recipient": user}
            )
            message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
            connection.send_messages([message])
            # Recorded as soon as the mail server took it: a rerun repeats at most this one.
            NotificationSent.objects.create(comment=comment, user=user)
            sent += 1
    logger.info("comment %s: %s notification(s) sent", comment_id, sent)
    return sent
