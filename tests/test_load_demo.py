from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cases.models import Case, Figure, Slice

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "cases": Case.objects.count(),
        "figures": Figure.objects.count(),
        "slices": Slice.objects.count(),
        "users": get_user_model().objects.count(),
    }


def test_load_demo_builds_the_library_and_is_idempotent(client):
    out = StringIO()
    call_command("load_demo", stdout=out)
    first = _counts()
    assert first["cases"] == 9  # seed article, 7 MedPix cases, the head CT series
    assert first["slices"] == 30 + 28
    printed = out.getvalue()
    assert "username: admin  password: caseviewer-admin" in printed
    assert "username: learner  password: caseviewer-learner" in printed
    ids = sorted(Case.objects.values_list("pk", "public_id", "updated"))

    call_command("load_demo", stdout=StringIO())
    assert _counts() == first
    assert sorted(Case.objects.values_list("pk", "public_id", "updated")) == ids

    head_ct = Case.objects.get(slug="sample-head-ct-series")
    assert head_ct.is_sample and head_ct.is_published
    figure = head_ct.figures.get()
    assert (figure.window_width, figure.window_center) == (80, 40)
    assert figure.slices.count() == 28

    body = client.get("/").content.decode()
    assert "Sample series · no clinical story" in body
    assert "Local recurrence and multi-organ metastasis" in body
    assert client.login(username="admin", password="caseviewer-admin")
    assert client.get("/admin/cases/case/").status_code == 200
