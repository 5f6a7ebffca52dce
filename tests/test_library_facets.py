"""Library filters and facets: combinable, counted, in the URL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.library.models import CaseDifficulty, Difficulty
from cases.models import Case, Keyword, Tag
from tests.conftest import case_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(db):
    ct = Tag.objects.get_or_create(kind=Tag.Kind.MODALITY, name="CT")[0]
    mr = Tag.objects.create(kind=Tag.Kind.MODALITY, name="MRI")
    chest = Tag.objects.create(kind=Tag.Kind.SYSTEM, name="Chest")
    neuro = Tag.objects.create(kind=Tag.Kind.SYSTEM, name="Neuro")
    cases = {}
    for slug, tags, level in [
        ("ct-chest", [ct, chest], Difficulty.STUDENT),
        ("ct-neuro", [ct, neuro], Difficulty.FELLOW),
        ("mr-neuro", [mr, neuro], Difficulty.FELLOW),
        ("mr-ct-neuro", [mr, ct, neuro], None),
    ]:
        case = case_build(slug=slug, title=f"Case {slug}")
        case.tags.set(tags)
        if level:
            CaseDifficulty.objects.create(case=case, level=level)
        cases[slug] = case
    cases["ct-neuro"].keywords.add(Keyword.objects.create(name="Glioma"))
    return cases


def _facet(response, name: str) -> dict[str, tuple[int, bool]]:
    facet = next(f for f in response.context["facets"] if f.name == name)
    return {c.value: (c.count, c.selected) for c in facet.choices}


def _slugs(response) -> set[str]:
    return {item["case"].slug for item in response.context["items"]}


def test_facets_count_every_choice_in_the_whole_library(client, shelf):
    response = client.get(reverse("cases:library"))
    assert _facet(response, "modality") == {"ct": (3, False), "mri": (2, False)}
    assert _facet(response, "system") == {"chest": (1, False), "neuro": (3, False)}
    assert _facet(response, "difficulty") == {"1": (1, False), "3": (2, False), "0": (1, False)}
    assert _facet(response, "keyword")["Glioma"] == (1, False)


def test_choices_in_one_facet_widen_and_facets_narrow_each_other(client, shelf):
    url = reverse("cases:library")
    assert _slugs(client.get(url, {"modality": ["ct", "mri"]})) == set(shelf)
    narrowed = client.get(url, {"modality": "mri", "system": "neuro"})
    assert _slugs(narrowed) == {"mr-neuro", "mr-ct-neuro"}
    assert _slugs(client.get(url, {"system": "chest", "modality": "mri"})) == set()


def test_a_facets_counts_ignore_its_own_choice_but_follow_the_others(client, shelf):
    response = client.get(reverse("cases:library"), {"modality": "mri"})
    # Modality counts are what ticking another modality would add: still the whole library.
    assert _facet(response, "modality") == {"ct": (3, False), "mri": (2, True)}
    # System counts follow the modality chosen.
    assert _facet(response, "system") == {"neuro": (2, False)}


def test_difficulty_filter_includes_unrated(client, shelf):
    url = reverse("cases:library")
    assert _slugs(client.get(url, {"difficulty": "3"})) == {"ct-neuro", "mr-neuro"}
    assert _slugs(client.get(url, {"difficulty": ["1", "0"]})) == {"ct-chest", "mr-ct-neuro"}
    assert _slugs(client.get(url, {"difficulty": "banana"})) == set(shelf)


def test_keyword_facet_filters(client, shelf):
    assert _slugs(client.get(reverse("cases:library"), {"keyword": "Glioma"})) == {"ct-neuro"}


def test_facets_combine_with_search(client, shelf):
    response = client.get(reverse("cases:library"), {"q": "neuro", "modality": "ct"})
    assert _slugs(response) == {"ct-neuro", "mr-ct-neuro"}
    assert _facet(response, "modality") == {"ct": (2, True), "mri": (2, False)}


def test_facets_are_checkboxes_that_keep_the_url_state(client, shelf):
    html = client.get(reverse("cases:library"), {"modality": "mri", "q": "case"}).content.decode()
    assert 'name="modality" value="mri" checked' in html
    assert 'name="modality" value="ct">' in html
    assert 'name="q" value="case"' in html
    assert "Clear search and filters" in html


def test_facets_fragment_over_htmx(client, shelf):
    response = client.get(
        reverse("cases:library"), {"system": "chest"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "<html" not in html
    assert 'value="chest" checked' in html
    assert _slugs(response) == {"ct-chest"}


def test_facet_counts_take_a_constant_number_of_queries(
    client, shelf, django_assert_max_num_queries
):
    url = reverse("cases:library")
    client.get(url)
    with django_assert_max_num_queries(12):
        client.get(url, {"q": "case", "modality": "ct", "system": "neuro", "difficulty": "3"})
    for i in range(20):
        case_build(slug=f"more-{i}", title=f"More {i}")
    with django_assert_max_num_queries(12):
        client.get(url, {"q": "case", "modality": "ct", "system": "neuro", "difficulty": "3"})


def test_sorting_by_title_and_newest(client, shelf):
    Case.objects.filter(slug="mr-neuro").update(year=2024)
    Case.objects.filter(slug="ct-chest").update(year=2010)
    response = client.get(reverse("cases:library"), {"sort": "newest"})
    slugs = [item["case"].slug for item in response.context["items"]]
    assert slugs[0] == "mr-neuro"
    by_title = client.get(reverse("cases:library"), {"sort": "title"})
    titles = [item["case"].title for item in by_title.context["items"]]
    assert titles == sorted(titles)


def test_cached_counts_follow_every_change_to_the_library(client, shelf):
    url = reverse("cases:library")
    assert _facet(client.get(url), "system")["chest"] == (1, False)
    new = case_build(slug="new-chest", title="Another chest case")
    new.tags.add(Tag.objects.get(slug="chest"))
    response = client.get(url)
    assert _facet(response, "system")["chest"] == (2, False)
    assert response.context["total"] == 5
    # The admin's bulk publish/unpublish updates rows without signals.
    Case.objects.filter(slug="new-chest").update(status=Case.Status.DRAFT)
    response = client.get(url)
    assert _facet(response, "system")["chest"] == (1, False)
    assert response.context["total"] == 4
    CaseDifficulty.objects.create(case=shelf["mr-ct-neuro"], level=Difficulty.RESIDENT)
    assert _facet(client.get(url), "difficulty") == {
        "1": (1, False),
        "2": (1, False),
        "3": (2, False),
    }
    shelf["ct-chest"].delete()
    assert client.get(url).context["total"] == 3


def test_staff_and_learners_get_their_own_counts(client, shelf, staff):
    Case.objects.filter(slug="ct-chest").update(status=Case.Status.DRAFT)
    assert client.get(reverse("cases:library")).context["total"] == 3
    client.force_login(staff)
    assert client.get(reverse("cases:library")).context["total"] == 4
