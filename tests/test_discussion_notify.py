"""E-mail to the case's authors and the thread's followers, sent after the response."""

from __future__ import annotations

import threading

import pytest
from django.tasks import task

from cases.discussion.models import Follow
from cases.discussion.services import comment_create, follow_set
from cases.discussion.tasks import ThreadPoolBackend, tasks_wait
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


_release = threading.Event()
_finished: list[bool] = []
_ran_on: list[str] = []


@task(backend="background")
def _slow_task() -> None:
    _ran_on.append(threading.current_thread().name)
    _release.wait(5)
    _finished.append(True)


def test_background_backend_returns_before_the_task_runs(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
        "background": {"BACKEND": "cases.discussion.tasks.ThreadPoolBackend"},
    }
    _release.clear()
    _finished.clear()
    result = _slow_task.enqueue()
    assert not _finished  # the caller did not wait for it (the task waits for _release)
    assert isinstance(_slow_task.get_backend(), ThreadPoolBackend)
    _release.set()
    tasks_wait(timeout=5)
    assert result.id and _ran_on and _ran_on[-1].startswith("caseviewer-task")
