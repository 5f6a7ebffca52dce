"""Reporting a comment: a form with errors comes back beside the comment, a corrected one saves."""

from __future__ import annotations

import re

import pytest

from cases.discussion.models import Comment, Report
from cases.discussion.services import comment_create

HX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def comment(published_case, other_member) -> Comment:
    return comment_create(case=published_case, author=other_member, body="Patient: J. Smith")[0]


def report_url(comment: Comment) -> str:
    return f"/t/{comment.case.public_id}/comments/{comment.pk}/report/"


def test_report_form_offers_only_real_reasons(client, member, comment):
    client.force_login(member)
    for response in (client.get(report_url(comment), **HX), client.get(report_url(comment))):
        radios = re.findall(r'<input type="radio" name="reason" value="([^"]*)"', response.text)
        assert radios == ["patient", "abuse", "spam", "misleading", "other"]
        assert "---" not in response.text


def test_report_without_a_reason_comes_back_in_the_comments_panel_with_htmx(
    client, member, comment
):
    client.force_login(member)
    response = client.post(report_url(comment), {"reason": "", "note": "kept"}, **HX)
    assert response.status_code == 422
    # Into the panel under the comment, not over the comment itself (which would vanish).
    assert response["HX-Retarget"] == f"#c-{comment.pk}-panel"
    assert response["HX-Reswap"] == "innerHTML"
    assert 'class="report-form"' in response.text and "<article" not in response.text
    assert "Choose what is wrong with this comment." in response.text
    assert "kept</textarea>" in response.text
    # The form still names the comment as its target: a corrected submit replaces it.
    assert f'hx-target="#c-{comment.pk}"' in response.text
    assert not Report.objects.exists()


def test_report_without_a_reason_without_javascript_shows_the_comment_and_the_errors(
    client, member, comment
):
    client.force_login(member)
    response = client.post(report_url(comment), {"note": "kept"})
    assert response.status_code == 422
    assert "<html" in response.text
    assert "Patient: J. Smith" in response.text  # the comment stays on the page
    assert "Choose what is wrong with this comment." in response.text
    assert not Report.objects.exists()


def test_corrected_report_is_saved(client, member, comment):
    client.force_login(member)
    client.post(report_url(comment), {"note": "Names the patient"}, **HX)
    response = client.post(
        report_url(comment), {"reason": "patient", "note": "Names the patient"}, **HX
    )
    assert response.status_code == 200
    assert "HX-Retarget" not in response
    assert response.text.lstrip().startswith(f'<article class="comment" id="c-{comment.pk}"')
    assert "The moderators will look at this comment." in response.text
    report = Report.objects.get()
    assert (report.reporter, report.reason, report.note) == (member, "patient", "Names the patient")


def test_too_long_note_says_why(client, member, comment):
    client.force_login(member)
    for headers in (HX, {}):
        response = client.post(
            report_url(comment), {"reason": "spam", "note": "x" * 501}, **headers
        )
        assert response.status_code == 422
        assert "Notes are limited to 500 characters; this one has 501." in response.text
    assert not Report.objects.exists()


def test_hiding_without_a_reason_comes_back_in_the_comments_panel(client, moderator, comment):
    client.force_login(moderator)
    url = f"/t/{comment.case.public_id}/comments/{comment.pk}/hide/"
    response = client.post(url, {"reason": ""}, **HX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == f"#c-{comment.pk}-panel"
    assert 'class="moderate-form"' in response.text
    comment.refresh_from_db()
    assert comment.hidden_at is None
