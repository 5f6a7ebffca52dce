"""E-mail to the authors (active staff with an address) when a study arrives in the inbox.

Sent by a task on the "background" backend once the assembly is committed, like the
discussion's notifications, so the receiver never waits for the mail server.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.tasks import task
from django.urls import reverse

from .models import InboxStudy

logger = logging.getLogger(__name__)


def study_notify_later(*, study: InboxStudy) -> None:
    transaction.on_commit(lambda: study_notify.enqueue(study.pk))


def inbox_recipients() -> list:
    """Who hears of new studies: INBOX_NOTIFY addresses, else every active staff member."""
    addresses = list(getattr(settings, "INBOX_NOTIFY", []) or [])
    if addresses:
        return addresses
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    return sorted(users.values_list("email", flat=True))


@task(backend="background")
def study_notify(study_id: int) -> int:
    """One e-mail per recipient; it names no patient (there is none to name)."""
    study = InboxStudy.objects.select_related("case").filter(pk=study_id).first()
    if study is None:
        return 0
    recipients = inbox_recipients()
    if not recipients:
        return 0
    counts = study.series.count()
    path = reverse("admin:cases_inboxstudy_change", args=[study.pk])
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    body = (
        f"A study arrived in the CaseViewer inbox from {study.calling_ae or 'a PACS'}:\n\n"
        f"  {study.case.title}\n  {counts} series, de-identified on arrival.\n\n"
        f"Claim it and finish the draft case: {base}{path}\n"
        "Unclaimed studies are removed after "
        f"{getattr(settings, 'INBOX_KEEP_DAYS', 2)} day(s).\n"
    )
    messages = [
        EmailMessage("New study in the teaching-file inbox", body, settings.DEFAULT_FROM_EMAIL, [a])
        for a in recipients
    ]
    sent = mailers.default.send_messages(messages) or 0
    logger.info("inbox study %s: %s notification(s) sent", study_id, sent)
    return sent
