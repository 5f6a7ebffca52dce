"""Editing, deleting, reporting and moderating comments, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.discussion.models import Comment, ModerationAction, Report
from cases.discussion.services import comment_create

HX = {"HTTP_HX_REQUEST": "true"}


def comment_add(case, author, body="A comment", **kwargs) -> Comment:
    return comment_create(case=case, author=author, body=body, **kwargs)[0]


def action_url(comment, action: str) -> str:
    return f"/t/{comment.case.public_id}/comments/{comment.pk}/{action}/"


@pytest.mark.django_db
def test_author_edits_in_place_within_the_window(client, published_case, member):
    comment = comment_add(published_case, member, "Frist")
    client.force_login(member)
    form = client.get(action_url(comment, "edit"), **HX)
    assert form.status_code == 200 and b"Frist</textarea>" in form.content
    response = client.post(action_url(comment, "edit"), {"body": "*First*"}, **HX)
    assert response.status_code == 200
    assert response.content.lstrip().startswith(
        f'<article class="comment" id="c-{comment.pk}"'.encode()
    )
    assert b"<em>First</em>" in response.content and b"edited" in response.content
    comment.refresh_from_db()
    assert comment.body == "*First*" and comment.edited is not None


@pytest.mark.django_db
def test_author_edits_without_javascript(client, published_case, member):
    comment = comment_add(published_case, member, "Old")
    client.force_login(member)
    page = client.get(action_url(comment, "edit"))
    assert b"<html" in page.content and b"Old</textarea>" in page.content
    assert page.content.count(f'id="c-{comment.pk}"'.encode()) == 1
    response = client.post(action_url(comment, "edit"), {"body": "New"})
    assert response.status_code == 303
    assert response["Location"] == comment.get_absolute_url()
    bad = client.post(action_url(comment, "edit"), {"body": ""})
    assert bad.status_code == 422


@pytest.mark.django_db
def test_editing_closes_after_fifteen_minutes(client, published_case, member):
    comment = comment_add(published_case, member, "Late")
    Comment.objects.filter(pk=comment.pk).update(created=timezone.now() - timedelta(minutes=16))
    client.force_login(member)
    assert client.get(action_url(comment, "edit")).status_code == 403
    assert client.post(action_url(comment, "edit"), {"body": "changed"}).status_code == 403
    assert b">Edit<" not in client.get(f"/t/{published_case.public_id}/").content
    comment.refresh_from_db()
    assert comment.body == "Late"


@pytest.mark.django_db
def test_nobody_else_edits_or_deletes_a_comment(
    client, published_case, member, other_member, moderator
):
    comment = comment_add(published_case, member, "Mine")
    for user in (other_member, moderator):
        client.force_login(user)
        assert client.post(action_url(comment, "edit"), {"body": "theirs"}).status_code == 403
        assert client.post(action_url(comment, "delete")).status_code == 403
    comment.refresh_from_db()
    assert comment.body == "Mine" and comment.deleted_at is None


@pytest.mark.django_db
def test_deleted_comment_keeps_its_replies_readable(client, published_case, member, other_member):
    root = comment_add(published_case, member, "Root to delete")
    comment_add(published_case, other_member, "A reply that stays", parent=root)
    client.force_login(member)
    response = client.post(action_url(root, "delete"), **HX)
    assert b"deleted by its author" in response.content
    html = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert "Root to delete" not in html
    assert "deleted by its author" in html and "A reply that stays" in html
    assert "(1)" in html  # the count leaves out the deleted comment


@pytest.mark.django_db
def test_member_reports_a_comment_once_and_it_waits_in_the_queue(
    client, published_case, member, other_member
):
    comment = comment_add(published_case, other_member, "Patient name: J. Smith")
    client.force_login(member)
    form = client.get(action_url(comment, "report"), **HX)
    assert b'name="reason"' in form.content and b"<html" not in form.content
    response = client.post(
        action_url(comment, "report"), {"reason": "patient", "note": "Names the patient"}, **HX
    )
    assert b"The moderators will look" in response.content
    client.post(action_url(comment, "report"), {"reason": "abuse"})
    report = Report.objects.get()
    assert (report.reporter, report.reason, report.status) == (member, "abuse", "open")
    assert client.post(action_url(comment, "report"), {"reason": "nonsense"}).status_code == 422


@pytest.mark.django_db
def test_members_cannot_moderate(client, published_case, member, other_member):
    comment = comment_add(published_case, other_member)
    client.force_login(member)
    assert client.get(action_url(comment, "hide")).status_code == 403
    assert client.post(action_url(comment, "hide"), {"reason": "x"}).status_code == 403
    assert Comment.objects.get().hidden_at is None
    assert not ModerationAction.objects.exists()


@pytest.mark.django_db
def test_moderator_hides_with_a_reason_and_the_author_still_sees_it(
    client, published_case, member, other_member, moderator
):
    comment = comment_add(published_case, member, "Off-topic rant")
    reply = comment_add(published_case, other_member, "Reply that stays readable", parent=comment)
    Report.objects.create(comment=comment, reporter=other_member, reason="abuse")
    client.force_login(moderator)
    assert client.post(action_url(comment, "hide"), {"reason": ""}).status_code == 422
    response = client.post(action_url(comment, "hide"), {"reason": "Off topic"}, **HX)
    assert b"Hidden by a moderator" in response.content and b"Restore" in response.content

    client.force_login(other_member)
    html = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert "Off-topic rant" not in html and "hidden by a moderator" in html
    assert "Reply that stays readable" in html
    assert f"/comments/{reply.pk}/reply/" in html

    client.force_login(member)
    html = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert "Off-topic rant" in html and "Hidden by a moderator</strong>: Off topic" in html

    action = ModerationAction.objects.get()
    assert (action.moderator, action.action, action.reason) == (moderator, "hide", "Off topic")
    assert Report.objects.get().status == "hidden"


@pytest.mark.django_db
def test_moderator_restores_and_the_trail_records_both(client, published_case, member, moderator):
    comment = comment_add(published_case, member, "Borderline")
    client.force_login(moderator)
    client.post(action_url(comment, "hide"), {"reason": "Checking"})
    response = client.post(action_url(comment, "restore"), {"reason": "Fine after all"})
    assert response.status_code == 303
    comment.refresh_from_db()
    assert comment.hidden_at is None and comment.hidden_reason == ""
    trail = list(ModerationAction.objects.order_by("created", "id").values_list("action", "reason"))
    assert trail == [("hide", "Checking"), ("restore", "Fine after all")]


@pytest.mark.django_db
def test_staff_moderate_too(client, published_case, member, staff):
    comment = comment_add(published_case, member)
    client.force_login(staff)
    assert client.post(action_url(comment, "hide"), {"reason": "spam"}).status_code == 303


@pytest.mark.django_db
def test_reports_queue_in_the_admin_hides_or_dismisses(
    client, published_case, member, other_member, staff
):
    spam = comment_add(published_case, member, "Buy now")
    fine = comment_add(published_case, member, "Fine")
    spam_report = Report.objects.create(comment=spam, reporter=other_member, reason="spam")
    fine_report = Report.objects.create(comment=fine, reporter=other_member, reason="other")
    client.force_login(staff)
    queue = client.get("/admin/cases/report/?status__exact=open")
    assert queue.status_code == 200 and b"Buy now" in queue.content
    client.post(
        "/admin/cases/report/",
        {"action": "hide_comments", "_selected_action": [spam_report.pk]},
    )
    client.post(
        "/admin/cases/report/",
        {"action": "dismiss_reports", "_selected_action": [fine_report.pk]},
    )
    spam.refresh_from_db()
    fine.refresh_from_db()
    assert spam.is_hidden and spam.hidden_reason == "Reported: Spam or advertising"
    assert not fine.is_hidden
    assert sorted(Report.objects.values_list("status", flat=True)) == ["dismissed", "hidden"]
    assert sorted(ModerationAction.objects.values_list("action", flat=True)) == ["dismiss", "hide"]
    trail = client.get("/admin/cases/moderationaction/")
    assert trail.status_code == 200 and b"Dismissed in the queue" in trail.content
    first_action = ModerationAction.objects.first()
    delete_url = f"/admin/cases/moderationaction/{first_action.pk}/delete/"
    assert client.get(delete_url).status_code == 403  # the trail cannot be erased


@pytest.mark.django_db
def test_moderators_group_member_with_staff_status_sees_the_queue(client, moderator):
    moderator.is_staff = True
    moderator.save()
    client.force_login(moderator)
    assert client.get("/admin/cases/report/").status_code == 200
    assert client.get("/admin/cases/moderationaction/").status_code == 200
    assert client.get("/admin/cases/case/").status_code == 403
