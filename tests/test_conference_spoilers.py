"""The room sees nothing later than the presenter's step: every demo case, step by step."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.conference import services
from cases.conference.models import Conference
from cases.models import RevealStep
from cases.unknown.reveal import case_steps
from tests.test_unknown_spoilers import _later_identifiers, _later_texts, _plain, demo_cases

pytestmark = pytest.mark.django_db
__all__ = ["demo_cases"]  # the fixture, imported for pytest


def test_no_audience_response_shows_what_a_later_step_reveals(demo_cases, staff):
    conference = services.conference_create(title="Demo", presenter=staff, cases=demo_cases)
    services.conference_start(conference)
    client = Client()
    checked = 0
    for position, case in enumerate(demo_cases):
        steps = case_steps(case)
        for step in steps:
            live = services.conference_navigate(conference, position=position, to_step=step)
            assert (live.position, live.step) == (position, step)
            page = client.get(f"/c/{conference.code}/")
            fragment = client.get(f"/c/{conference.code}/live/", headers={"HX-Request": "true"})
            for response in (page, fragment):
                assert response.status_code == 200
                raw = response.content.decode()
                body = _plain(raw)
                for label, text in _later_texts(case, step).items():
                    assert text not in body, f"{case} step {step}: {label} leaked"
                for label, identifier in _later_identifiers(case, step, steps).items():
                    assert identifier not in raw, f"{case} step {step}: {label} leaked"
                if step < RevealStep.DIAGNOSIS:
                    assert case.title not in raw, f"{case} step {step}: the title leaked"
                checked += 1
    assert checked > 2 * 8 * 4
    assert Conference.objects.get(pk=conference.pk).version == 1 + checked // 2
