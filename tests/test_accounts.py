"""Accounts through django-allauth: sign-up with e-mail verification, log-in, reset, throttle."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from .conftest import member_build


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # allauth counts attempts in the cache
    yield
    cache.clear()


@pytest.mark.django_db
def test_sign_up_needs_a_verified_email_before_log_in(client, django_user_model, mailoutbox):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "username": "newcomer",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert django_user_model.objects.filter(username="newcomer").exists()
    assert "_auth_user_id" not in client.session  # not logged in until verified
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new@example.org"]
    link = re.search(r"https?://testserver(/accounts/confirm-email/\S+/)", mailoutbox[0].body)[1]
    client.post(link)
    assert client.session["_auth_user_id"] == str(
        django_user_model.objects.get(username="newcomer").pk
    )


@pytest.mark.django_db
def test_unverified_member_cannot_log_in(client, django_user_model, mailoutbox):
    django_user_model.objects.create_user("unverified", "u@example.org", "a-long-passphrase-42")
    response = client.post(
        "/accounts/login/", {"login": "unverified", "password": "a-long-passphrase-42"}
    )
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_member_logs_in_by_username_or_email_and_out(client, member):
    response = client.post(
        "/accounts/login/?next=/t/x/",
        {"login": "member@example.org", "password": "member-pass-123"},
    )
    assert response.status_code == 302 and response["Location"] == "/t/x/"
    page = client.get("/")
    assert b"Log out" in page.content and b"member" in page.content
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session
    client.post("/accounts/login/", {"login": "member", "password": "member-pass-123"})
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_failed_log_ins_are_throttled(client, member):
    for _ in range(5):
        client.post("/accounts/login/", {"login": "member", "password": "wrong"})
    # The right password is refused too while the account is throttled.
    response = client.post("/accounts/login/", {"login": "member", "password": "member-pass-123"})
    assert "_auth_user_id" not in client.session
    assert b"Too many failed login attempts" in response.content


@pytest.mark.django_db
def test_password_reset_sends_a_working_link(client, member, mailoutbox):
    client.post("/accounts/password/reset/", {"email": "member@example.org"})
    assert len(mailoutbox) == 1
    link = re.search(r"https?://testserver(/accounts/password/reset/key/\S+/)", mailoutbox[0].body)[
        1
    ]
    form_page = client.get(link, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    response = client.post(
        action, {"password1": "another-long-pass-77", "password2": "another-long-pass-77"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("another-long-pass-77")


@pytest.mark.django_db
def test_header_links_to_log_in_and_sign_up(client):
    html = client.get("/").content.decode()
    assert 'href="/accounts/login/?next=/"' in html
    assert 'href="/accounts/signup/"' in html
    assert "/admin/login/" not in html


@pytest.mark.django_db
def test_account_pages_use_the_site_layout(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<a class="brand" href="/">CaseViewer</a>' in html
    assert "<title>Sign In · CaseViewer</title>" in re.sub(r"\s+", " ", html).replace(
        "> ", ">"
    ).replace(" <", "<")


def test_member_build_makes_verified_accounts(db):
    from allauth.account.models import EmailAddress

    user = member_build("someone")
    assert EmailAddress.objects.get(user=user).verified


@pytest.mark.django_db
def test_demo_learner_logs_in_through_the_site_form(client):
    import io

    from cases.management.commands.load_demo import Command

    Command(stdout=io.StringIO())._create_accounts()
    client.post("/accounts/login/", {"login": "learner", "password": "caseviewer-learner"})
    assert "_auth_user_id" in client.session


def _mailer(**env: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.MAILERS['default']))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    clean.pop("HTTPS", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"DJANGO_SETTINGS_MODULE": "caseviewer.settings"} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_email_is_printed_on_a_laptop_and_sent_by_smtp_in_production():
    assert _mailer()["BACKEND"].endswith("console.EmailBackend")
    smtp = _mailer(EMAIL_HOST="smtp.example.org", EMAIL_HOST_USER="cv", EMAIL_PORT="465")
    assert smtp["BACKEND"].endswith("smtp.EmailBackend")
    assert smtp["OPTIONS"] | {"password": ""} == {
        "host": "smtp.example.org",
        "port": 465,
        "username": "cv",
        "password": "",
        "use_tls": False,
        "use_ssl": True,
        "timeout": 10,
    }
    local = _mailer(HTTPS="1", SECRET_KEY="x" * 60)
    assert (local["OPTIONS"]["host"], local["OPTIONS"]["port"]) == ("localhost", 25)
