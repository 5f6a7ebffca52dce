"""Unknown-case statistics: each learner counts once, by their first attempt."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.models import Attempt, Case
from cases.unknown.views import _case_statistics

from . import test_unknown_reveal as reveal
from .conftest import member_build

pytestmark = pytest.mark.django_db

unknown_case = reveal.unknown_case  # the fixture: a case with a differential step


def commit(user, case: Case, **answers) -> Client:
    """``user`` in a browser of their own (a new session) commits a differential."""
    browser = Client()
    browser.force_login(user)
    reveal._walk(browser, case, upto=4)
    browser.post(f"/u/{case.public_id}/differential/", answers)
    return browser


def test_a_learner_trying_again_elsewhere_counts_once_by_the_first_try(learner, unknown_case):
    commit(learner, unknown_case, first="Pneumonia")  # wrong, then shown the diagnosis
    commit(learner, unknown_case, first="Lung adenocarcinoma")  # another browser: right now
    browser = commit(member_build("other"), unknown_case, first="Lung adenocarcinoma")
    assert Attempt.objects.count() == 3
    page = browser.get(f"/u/{unknown_case.public_id}/5/").content.decode()
    assert (
        "2 learners committed a differential for this case: 50% included the diagnosis, "
        "50% as their first choice." in page
    )


def test_statistics_count_learners_not_attempts(unknown_case):
    first, second = member_build("first"), member_build("second")
    make = Attempt.objects.create
    make(case=unknown_case, user=first, choices=["x"], score=0.0)
    make(case=unknown_case, user=first, choices=["y", "dx"], score=0.5, matched_rank=2)
    make(case=unknown_case, user=second, skipped=True)  # a skip first: no differential
    make(case=unknown_case, user=second, choices=["dx"], score=1.0, matched_rank=1)
    # Accounts since deleted: their attempts keep the session they were made in.
    make(case=unknown_case, session_key="s1", choices=["dx"], score=1.0, matched_rank=1)
    make(case=unknown_case, session_key="s1", choices=["dx"], score=1.0, matched_rank=1)
    make(case=unknown_case, session_key="s2", choices=["z", "dx"], score=0.5, matched_rank=2)
    make(case=unknown_case, choices=["dx"], score=1.0, matched_rank=1)  # nothing to tell whose

    stats = _case_statistics(unknown_case)
    # first (wrong), s1 (right, first choice), s2 (right, second), the lone one (right, first)
    assert (stats["attempts"], stats["correct"], stats["first"]) == (4, 3, 2)
    assert (stats["share_correct"], stats["share_first"]) == (75, 50)
    assert stats["mean"] == pytest.approx((0 + 1 + 0.5 + 1) / 4)
