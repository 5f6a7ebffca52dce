"""The site's navigation: the conference pages are a click away for those who may present."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

pytestmark = pytest.mark.django_db

LINK = '<a href="/conference/">Conferences</a>'


def test_presenters_see_the_conferences_link(client, django_user_model, staff):
    presenter = django_user_model.objects.create_user("presenter", password="pw-presenter-1")
    presenter.user_permissions.add(Permission.objects.get(codename="present_conference"))
    for user in (presenter, staff):
        client.force_login(user)
        assert LINK in client.get("/").text
        assert client.get("/conference/").status_code == 200


def test_others_do_not_see_the_conferences_link(client, learner):
    assert LINK not in client.get("/").text
    client.force_login(learner)
    assert LINK not in client.get("/").text
    assert client.get("/conference/").status_code == 403
