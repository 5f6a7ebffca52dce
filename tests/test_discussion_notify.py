"""E-mail to the case's authors and the thread's followers, sent after the response."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from cases.discussion.models import Follow, NotificationSent
from cases.discussion.notify import comment_notify
from cases.discussion.services import comment_create, follow_set
from cases.models import Author

from .conftest import member_build


def post(client, case, body="New thought", **data):
    return client.post(f"/t/{case.public_id}/comments/", {"body": body, **data})


@pytest.mark.django_db
def test_author_and_followers_get_one_email_each(
    client, published_case, member, other_member, django_capture_on_commit_callbacks, mailoutbox
):
    case_author = member_build("caseauthor")
    Author.objects.filter(case=published_case, order=1).update(user=case_author)
    follow_set(case=published_case, user=other_member, following=True)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, published_case, body="Look at **slice 14**")
    recipients = sorted(address for mail in mailoutbox for address in mail.to)
    assert recipients == ["caseauthor@example.org", "other@example.org"]
    mail = next(m for m in mailoutbox if m.to == ["caseauthor@example.org"])
    assert mail.subject == "New comment by member on a case discussion"
    assert "Look at **slice 14**" in mail.body
    assert "http://testserver/t/" in mail.body and "/comments/" in mail.body
    assert "are an author of the case" in mail.body


@pytest.mark.django_db
def test_no_email_to_the_commenter_unfollowers_or_without_address(
    client, published_case, member, other_member, django_capture_on_commit_callbacks, mailoutbox
):
    follow_set(case=published_case, user=member, following=True)
    follow_set(case=published_case, user=other_member, following=False)
    Author.objects.filter(case=published_case, order=1).update(user=other_member)
    silent = member_build("silent")
    silent.email = ""
    silent.save()
    follow_set(case=published_case, user=silent, following=True)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, published_case)
    assert mailoutbox == []


@pytest.mark.django_db
def test_reply_notifies_the_conversation_followers(
    client, published_case, member, other_member, django_capture_on_commit_callbacks, mailoutbox
):
    root, _ = comment_create(case=published_case, author=other_member, body="Question?")
    assert Follow.objects.get(user=other_member).active  # posting follows
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, published_case, body="Answer.", parent=root.pk)
    assert [m.to for m in mailoutbox] == [["other@example.org"]]
    assert "member replied to other" in mailoutbox[0].body


@pytest.mark.django_db
def test_nothing_is_sent_before_the_comment_is_committed(
    client, published_case, member, other_member, django_capture_on_commit_callbacks, mailoutbox
):
    follow_set(case=published_case, user=other_member, following=True)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post(client, published_case)
    assert mailoutbox == [] and len(callbacks) == 1


@pytest.fixture
def database_queue(settings):
    """The "background" backend as deployed: tasks are rows in the database."""
    settings.TASKS = settings.TASKS | {"background": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


# The worker closes connections between tasks, as after a request: no test transaction.
@pytest.mark.django_db(transaction=True)
def test_comment_is_queued_in_its_own_transaction_and_sent_by_the_worker(
    client, published_case, member, other_member, database_queue, mailoutbox
):
    follow_set(case=published_case, user=other_member, following=True)
    client.force_login(member)
    post(client, published_case)
    queued = DBTaskResult.objects.get()
    assert queued.status == "READY" and queued.task_path.endswith("notify.comment_notify")
    assert mailoutbox == []  # the response did not wait for the mail server
    call_command("worker", batch=True, verbosity=0)
    assert [m.to for m in mailoutbox] == [["other@example.org"]]
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


@pytest.mark.django_db
def test_a_comment_rolled_back_queues_nothing(published_case, member, other_member, database_queue):
    from django.db import transaction

    follow_set(case=published_case, user=other_member, following=True)
    with pytest.raises(RuntimeError), transaction.atomic():
        comment_create(case=published_case, author=member, body="Never saved")
        raise RuntimeError
    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_rerun_sends_only_to_recipients_not_yet_sent_to(
    published_case, member, other_member, mailoutbox
):
    third = member_build("third")
    for user in (other_member, third):
        follow_set(case=published_case, user=user, following=True)
    comment, _ = comment_create(case=published_case, author=member, body="Hello")
    mailoutbox.clear()
    NotificationSent.objects.create(comment=comment, user=other_member)
    assert comment_notify.call(comment.pk, "http://testserver") == 1
    assert [m.to for m in mailoutbox] == [["third@example.org"]]
    assert comment_notify.call(comment.pk, "http://testserver") == 0
