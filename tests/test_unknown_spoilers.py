"""Spoiler safety: walk every demo case, step by step, and search every response."""

from __future__ import annotations

import html
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from cases.models import Case, RevealStep
from cases.unknown.reveal import case_steps

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def _plain(text: str) -> str:
    """Markup-free, lower-case text with collapsed whitespace."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split()).lower()


def _snippet(text: str) -> str:
    """A distinctive stretch of an author's text, as it reads once rendered."""
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line) for line in text.splitlines()]
    longest = max(lines, key=len)
    return _plain(re.sub(r"[*_`]", "", longest))[:60]


def _later_texts(case: Case, step: int) -> dict[str, str]:
    """What steps after ``step`` reveal first, as searchable snippets."""
    texts: dict[str, str] = {}
    if step < RevealStep.FINDINGS and case.findings:
        texts["findings"] = _snippet(case.findings)
    if step < RevealStep.DIAGNOSIS:
        texts["diagnosis"] = _plain(case.diagnosis)
        if case.diagnosis_by:
            texts["diagnosis by"] = _snippet(case.diagnosis_by)
    if step < RevealStep.DISCUSSION:
        for name in ("discussion", "teaching_point", "treatment"):
            if getattr(case, name):
                texts[name] = _snippet(getattr(case, name))
        for figure in case.figures.all():
            if figure.caption and _plain(figure.caption) != _plain(figure.unknown_caption):
                texts[f"figure {figure.number} full caption"] = _snippet(figure.caption)
    # Too-short texts ("None") would match anywhere; the diagnosis is always checked.
    return {k: v for k, v in texts.items() if k == "diagnosis" or len(v) >= 15}


def _later_identifiers(case: Case, step: int, steps: list[int]) -> dict[str, str]:
    found = {}
    for figure in case.figures.all():
        if figure.reveal_step > step:
            for image in figure.slices.all():
                found[f"figure {figure.number} image"] = image.token
    index = steps.index(step)
    for later in steps[index + 2 :]:  # the next step's URL is the way forward
        found[f"step {later} URL"] = f"/u/{case.public_id}/{later}/"
    if step < RevealStep.DIAGNOSIS:
        found["article URL"] = case.get_absolute_url()
        found["slug"] = case.slug
        if case.article_url:  # the source's page gives the answer away
            found["source URL"] = case.article_url
    if step < RevealStep.FINDINGS:
        found["annotation markup"] = "annotation"
    return found


def _check(response, case: Case, step: int, steps: list[int], *, committed: bool) -> None:
    assert response.status_code == 200, (case, step, response.status_code)
    raw = response.content.decode()
    headers = " ".join(f"{k}: {v}" for k, v in response.headers.items())
    body = _plain(raw)
    later = _later_texts(case, step)
    if committed and step == RevealStep.DIFFERENTIAL:
        # The author's differential (which lists the diagnosis among others) is revealed
        # here, after the learner has committed; nothing else about the answer is.
        for item in case.differential_list:
            body = body.replace(_plain(item), "")
    for label, text in later.items():
        assert text and text not in body, f"{case} step {step}: {label} leaked: {text!r}"
        assert text not in _plain(headers), f"{case} step {step}: {label} in headers"
    for label, identifier in _later_identifiers(case, step, steps).items():
        assert identifier not in raw, f"{case} step {step}: {label} leaked"
        assert identifier not in headers, f"{case} step {step}: {label} in headers"


@pytest.fixture
def demo_cases(db) -> list[Case]:
    call_command("load_demo", stdout=StringIO())
    cases = list(Case.objects.filter(is_sample=False).prefetch_related("figures__slices", "tables"))
    assert len(cases) == 8  # the seed and seven MedPix cases
    return cases


@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
def test_no_step_of_any_demo_case_shows_what_a_later_step_reveals(demo_cases, htmx):
    for case in demo_cases:
        client = Client()
        steps = case_steps(case)
        headers = HX if htmx else {}
        for step in steps:
            url = f"/u/{case.public_id}/{step}/"
            _check(client.get(url, headers=headers), case, step, steps, committed=False)
            if step == RevealStep.DIFFERENTIAL:
                post = client.post(
                    f"/u/{case.public_id}/differential/", {"skip": "1"}, headers=headers
                )
                if not htmx:
                    post = client.get(url)
                _check(post, case, step, steps, committed=True)


def test_seed_unknown_steps_show_what_each_step_adds(demo_cases):
    seed = next(c for c in demo_cases if c.external_id.startswith("doi:"))
    client = Client()
    base = f"/u/{seed.public_id}"
    one = _plain(client.get(f"{base}/1/").content.decode())
    assert "52-year-old woman with a paraumbilical lump" in one
    assert "subcutaneous lump in the left paraumbilical location" in one
    assert "figure 4" not in one
    two = _plain(client.get(f"{base}/2/").content.decode())
    assert "chest x-ray shows multiple well defined nodular lesions" in two
    assert "figure 1:" not in two  # histology waits for the diagnosis
    three = _plain(client.get(f"{base}/3/").content.decode())
    assert "she was readmitted and a chest x-ray showed" in three
    four = client.get(f"{base}/4/").content.decode()
    assert 'name="first"' in four and "gastrointestinal stromal tumor" not in _plain(four)
    client.post(f"{base}/differential/", {"first": "metastases of leiomyosarcoma"})
    four = _plain(client.get(f"{base}/4/").content.decode())
    assert "gastrointestinal stromal tumor (gist)" in four  # the author's differential
    five = _plain(client.get(f"{base}/5/").content.decode())
    assert "recurrent retroperitoneal leiomyosarcoma and multi-organ metastasis" in five
    assert "your first choice was right." in five
    assert "figure 1:" in five
    six = _plain(client.get(f"{base}/6/").content.decode())
    assert "teaching point" in six and "hartman ds" in six
    assert "52-year-old woman presenting with recurrent retroperitoneal" in six
