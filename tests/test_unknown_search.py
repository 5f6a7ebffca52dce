"""Unknown-mode search: only what unknown mode shows before the diagnosis, never the answer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.library.search import Mode, search_ranked
from cases.models import Case, Figure, Keyword, RevealStep
from tests.conftest import case_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def unknown_case(db) -> Case:
    case = case_build(slug="lms", title="Retroperitoneal leiomyosarcoma: a case report")
    case.unknown_title = "52-year-old woman with a paraumbilical lump"
    case.age, case.sex = 52, "F"
    case.history = "A paraumbilical lump for three months; known leiomyosarcoma elsewhere."
    case.findings = "A large heterogeneous retroperitoneal mass displacing the bowel."
    case.diagnosis = "Retroperitoneal leiomyosarcoma"
    case.diagnosis_synonyms = "LMS"
    case.discussion = "Smooth muscle sarcoma; discussion of the prognosis."
    case.teaching_point = "Think of sarcoma in a large retroperitoneal mass."
    case.save()
    case.keywords.add(Keyword.objects.create(name="Sarcoma"))
    Figure.objects.filter(case=case).update(caption="Leiomyosarcoma on CT")
    Figure.objects.create(
        case=case, number=5, caption="Histology: spindle cells",
        unknown_caption="Contrast-enhanced CT, axial", reveal_step=RevealStep.IMAGES,
    )  # fmt: skip
    Figure.objects.create(
        case=case, number=6, caption="Desmin stain", unknown_caption="Immunostain panel",
        reveal_step=RevealStep.DISCUSSION,
    )  # fmt: skip
    return case


def _unknown(query: str) -> list[str]:
    return [c.slug for c in search_ranked(Case.objects.all(), query=query, mode=Mode.UNKNOWN)]


def test_unknown_search_finds_what_unknown_mode_shows(unknown_case):
    assert _unknown("paraumbilical") == ["lms"]
    assert _unknown("heterogeneous bowel") == ["lms"]
    assert _unknown("contrast axial") == ["lms"]  # a spoiler-free caption
    assert _unknown("woman") == ["lms"]


@pytest.mark.parametrize(
    "query",
    [
        "leiomyosarcoma",  # the diagnosis word, also in the history (masked)
        "leiomyo",  # its prefix as typed
        "retroperitoneal leiomyosarcoma",
        "lms",  # another name
        "sarcoma",  # keyword and discussion: not shown before the diagnosis
        "prognosis",  # discussion
        "spindle",  # full caption
        "immunostain",  # a figure revealed with the discussion
        "report",  # the article's title
    ],
)
def test_unknown_search_never_finds_the_answer(unknown_case, query):
    assert _unknown(query) == []


def test_unknown_library_page_search_gives_nothing_away(client, unknown_case):
    url = reverse("cases:unknown_library")
    hit = client.get(url, {"q": "paraumbilical"})
    html = hit.content.decode()
    assert "52-year-old woman with a <mark>paraumbilical</mark> lump" in html
    assert "leiomyosarcoma" not in html.lower()
    assert "Retroperitoneal" not in html
    assert "[…]" in html or "paraumbilical" in html
    miss = client.get(url, {"q": "leiomyosarcoma"})
    assert miss.context["total"] == 0
    assert unknown_case.public_id not in miss.content.decode()


def test_unknown_library_snippets_mask_the_diagnosis(client, unknown_case):
    html = client.get(reverse("cases:unknown_library"), {"q": "known"}).content.decode()
    assert "<mark>known</mark> […] elsewhere" in html
    assert "leiomyosarcoma" not in html.lower()


def test_unknown_library_offers_no_keyword_facet(client, unknown_case):
    response = client.get(reverse("cases:unknown_library"), {"keyword": "Sarcoma"})
    assert [f.name for f in response.context["facets"]] == ["modality", "system", "difficulty"]
    assert response.context["total"] == 1  # the keyword parameter is ignored
    assert "Sarcoma<" not in response.content.decode()


def test_unknown_library_htmx_fragment(client, unknown_case):
    response = client.get(
        reverse("cases:unknown_library"), {"q": "lump"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="library-results"' in html
    assert reverse("cases:unknown_case", args=[unknown_case.public_id]) in html


def test_unknown_library_lists_neutral_titles_without_search(client, unknown_case):
    html = client.get(reverse("cases:unknown_library")).content.decode()
    assert "52-year-old woman with a paraumbilical lump" in html
    assert "leiomyosarcoma" not in html.lower()
