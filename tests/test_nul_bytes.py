"""A NUL character anywhere in an address or a form is refused once, at the edge: a 400 that
says why, nothing stored. (PostgreSQL cannot hold NUL in text: unrefused, it was a 500.)"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cases.conference import services
from cases.conference.models import Question, Vote
from cases.discussion.models import Comment
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

MESSAGE = "NUL character"


def refused(response) -> bool:
    return response.status_code == 400 and MESSAGE in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/?modality=a%00b",
        "/?keyword=lung%00",
        "/?q=%00",
        "/u/?system=chest%00",
        "/c/?code=AB%00CD",
        "/cases/first%00case/",
        "/img/0123456789abcdef0123456789abcdef.png?ww=80%00&wc=40",
    ],
)
def test_a_nul_in_the_address_is_a_400_that_says_so(client, published_case, url):
    response = client.get(url)
    assert refused(response), (url, response.status_code)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"  # the security headers still speak


def test_the_same_addresses_without_nul_still_answer(client, published_case):
    for url in ("/?modality=CT", "/?keyword=lung", "/u/?system=chest", "/c/?code=ABCDEF"):
        assert client.get(url).status_code in (200, 302, 404), url  # 404: no such conference


@pytest.fixture
def free_text(django_user_model):
    presenter = django_user_model.objects.create_user("presenter", password="presenter-pass-1")
    presenter.user_permissions.add(Permission.objects.get(codename="present_conference"))
    case = case_build(slug="first", title="First case", unknown_title="Man, 40, cough")
    conference = services.conference_create(title="Rounds", presenter=presenter, cases=[case])
    services.conference_start(conference)
    return services.question_open(
        conference, item=conference.items.get(), kind=Question.Kind.FREE_TEXT, prompt="What?"
    )


def test_a_vote_with_a_nul_is_refused_and_not_stored(free_text):
    url = f"/c/{free_text.conference.code}/questions/{free_text.pk}/vote/"
    member = Client()
    assert refused(member.post(url, {"choice": "lung\x00 cancer"}))
    assert refused(
        member.post(url, "choice=lung%00", content_type="application/x-www-form-urlencoded")
    )
    assert refused(member.post(f"{url}?x=%00", {"choice": "lung"}))
    assert not Vote.objects.exists()
    assert member.post(url, {"choice": "lung cancer"}).status_code == 302  # the same, clean
    assert Vote.objects.get().choice == "lung cancer"


def test_a_multipart_form_field_with_a_nul_is_refused(client, member, published_case):
    client.force_login(member)
    url = f"/t/{published_case.public_id}/comments/"
    assert refused(client.post(url, {"body": "A comment\x00"}))  # the client sends multipart
    assert refused(client.post(url, {"body": "A comment", "view\x00": "1"}))
    assert not Comment.objects.exists()
    # A file's content may hold NUL bytes (a DICOM file does): not refused.
    upload = SimpleUploadedFile("scan.dcm", b"DICM\x00\x00", content_type="application/dicom")
    assert client.post(url, {"body": "A comment", "file": upload}).status_code == 303
    assert Comment.objects.get().body == "A comment"
