"""Library filters and facets: combinable, counted, in the URL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.library.models import CaseDifficulty, Difficulty
from cases.library.version import library_changed
from cases.models import Case, Figure, Keyword, Tag
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


def test_a_case_is_filed_under_the_planes_of_its_figures(client, shelf):
    url = reverse("cases:library")
    Figure.objects.create(case=shelf["ct-chest"], number=11, plane="Axial")
    Figure.objects.create(case=shelf["ct-chest"], number=12, plane="Axial")  # counted once
    Figure.objects.create(case=shelf["mr-neuro"], number=11, plane="Coronal")
    Figure.objects.create(case=shelf["mr-neuro"], number=12, plane="Axial")
    Figure.objects.create(case=shelf["ct-neuro"], number=11, plane="")  # no plane
    assert _facet(client.get(url), "plane") == {"Axial": (2, False), "Coronal": (1, False)}
    response = client.get(url, {"plane": "Axial"})
    assert _slugs(response) == {"ct-chest", "mr-neuro"}
    assert _facet(response, "modality") == {"ct": (1, False), "mri": (1, False)}
    response = client.get(url, {"plane": "Coronal", "modality": "ct"})
    assert _slugs(response) == set()
    assert _facet(response, "plane") == {"Axial": (1, False), "Coronal": (0, True)}
    assert 'name="plane" value="Coronal" checked' in response.content.decode()


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
    with django_assert_max_num_queries(15):
        client.get(url, {"q": "case", "modality": "ct", "system": "neuro", "difficulty": "3"})
    for i in range(20):
        case_build(slug=f"more-{i}", title=f"More {i}")
    with django_assert_max_num_queries(15):
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
    # update() sends no signal: code that updates cases says the library changed.
    Case.objects.filter(slug="new-chest").update(status=Case.Status.DRAFT)
    library_changed()
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


@pytest.fixture
def hidden(shelf):
    """A draft, a sample series and a case without a diagnosis, tagged like the shelf."""
    cases = {
        "draft": case_build(slug="draft-ct-neuro", status=Case.Status.DRAFT),
        "sample": case_build(slug="sample-ct-neuro", is_sample=True),
        "no-answer": case_build(slug="no-answer-ct-neuro"),
    }
    Case.objects.filter(slug="no-answer-ct-neuro").update(diagnosis="")
    for case in cases.values():
        case.tags.set(Tag.objects.filter(slug__in=["ct", "neuro"]))
        case.keywords.add(Keyword.objects.get(name="Glioma"))
        CaseDifficulty.objects.create(case=case, level=Difficulty.FELLOW)
    return cases


def test_counts_leave_out_the_cases_the_visitor_cannot_see(client, hidden, staff):
    url = reverse("cases:library")  # samples and cases without a diagnosis are listed
    for params in [{}, {"q": "case"}]:
        response = client.get(url, params)
        assert _facet(response, "modality") == {"ct": (5, False), "mri": (2, False)}
        assert _facet(response, "keyword")["Glioma"] == (3, False)
        assert _facet(response, "difficulty")["3"] == (4, False)
    response = client.get(url, {"q": "case", "system": "neuro"})
    assert _facet(response, "modality") == {"ct": (4, False), "mri": (2, False)}
    assert response.context["total"] == 5
    client.force_login(staff)
    response = client.get(url, {"q": "case", "system": "neuro"})
    assert _facet(response, "modality")["ct"] == (5, False)
    assert _facet(response, "difficulty") == {"3": (5, False), "0": (1, False)}
    assert response.context["total"] == 6


def test_unknown_library_counts_only_its_cases_with_and_without_search(client, shelf, hidden):
    url = reverse("cases:unknown_library")
    for params in [{}, {"q": "cough"}]:
        response = client.get(url, params)
        assert _facet(response, "modality") == {"ct": (3, False), "mri": (2, False)}
        assert _facet(response, "system")["neuro"] == (3, False)
        assert _facet(response, "difficulty")["3"] == (2, False)
    response = client.get(url, {"q": "cough", "difficulty": "3"})
    assert _facet(response, "modality") == {"ct": (1, False), "mri": (1, False)}
    assert _facet(response, "difficulty") == {"1": (1, False), "3": (2, True), "0": (1, False)}
    response = client.get(url, {"q": "cough", "modality": "mri", "difficulty": "0"})
    shown = {item["case"].public_id for item in response.context["items"]}
    assert shown == {shelf["mr-ct-neuro"].public_id}
    assert response.context["total"] == 1
    assert _facet(response, "modality") == {"mri": (1, True), "ct": (1, False)}
    assert _facet(response, "difficulty") == {"3": (1, False), "0": (1, True)}


def test_a_search_and_facets_list_the_best_match_first(client, shelf):
    Case.objects.filter(slug="mr-neuro").update(title="Neuro neuro neuro")
    shelf["mr-neuro"].save()  # reindexed
    response = client.get(reverse("cases:library"), {"q": "neuro", "modality": "mri"})
    assert [item["case"].slug for item in response.context["items"]][0] == "mr-neuro"
    assert response.context["total"] == 2


def test_counting_afresh_takes_as_many_queries_whatever_the_size(client, shelf):
    pages = [{}, {"q": "case"}, {"q": "case", "modality": "ct", "difficulty": "0"}]

    def queries() -> list[int]:
        counted = []
        for params in pages:
            library_changed()  # as after any edit: counts taken afresh
            with CaptureQueriesContext(connection) as captured:
                client.get(reverse("cases:library"), params)
            counted.append(len(captured))
        return counted

    case_build(slug="a-draft", status=Case.Status.DRAFT)  # hidden cases: their counts taken away
    before = queries()
    for i in range(30):
        case = case_build(slug=f"more-{i}", status=Case.Status.DRAFT if i % 3 else "published")
        case.tags.add(Tag.objects.get(slug="neuro"))
    assert queries() == before


def test_cached_counts_are_found_without_counting(client, shelf):
    url = reverse("cases:library")
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.context["total"] == 4
    assert not [q["sql"] for q in captured if q["sql"].upper().startswith("SELECT COUNT(")]


def test_the_admins_bulk_actions_retire_cached_counts(client, admin_client, shelf):
    url = reverse("cases:library")
    assert client.get(url).context["total"] == 4
    selected = [shelf["ct-chest"].pk, shelf["ct-neuro"].pk]
    admin_client.post("/admin/cases/case/", {"action": "unpublish", "_selected_action": selected})
    response = client.get(url)
    assert response.context["total"] == 2
    assert _facet(response, "system") == {"neuro": (2, False)}
    admin_client.post("/admin/cases/case/", {"action": "publish", "_selected_action": selected})
    assert client.get(url).context["total"] == 4


def test_deleting_a_tag_or_a_keyword_retires_cached_counts(client, shelf):
    url = reverse("cases:library")
    assert _facet(client.get(url), "system") == {"chest": (1, False), "neuro": (3, False)}
    Tag.objects.get(slug="chest").delete()
    assert _facet(client.get(url), "system") == {"neuro": (3, False)}
    assert "Glioma" in _facet(client.get(url), "keyword")
    Keyword.objects.get(name="Glioma").delete()
    assert "Glioma" not in _facet(client.get(url), "keyword")


def test_a_bundle_import_retires_cached_counts(client, db):
    from cases.bundles import bundle_export, bundle_import
    from tests.test_bundles import _small_case

    data = bundle_export(cases=[_small_case("imported")])
    Case.objects.filter(slug="imported").delete()
    url = reverse("cases:library")
    assert client.get(url).context["total"] == 0
    bundle_import(data)
    assert _slugs(client.get(url)) == {"imported"}


def test_a_searchs_counts_follow_every_change_to_the_filing(client, shelf):
    """A search's counts follow every change to the tags, keywords and difficulty."""
    url, search = reverse("cases:library"), {"q": "case"}
    ct, neuro = Tag.objects.get(slug="ct"), Tag.objects.get(slug="neuro")
    assert _facet(client.get(url, search), "modality") == {"ct": (3, False), "mri": (2, False)}
    shelf["mr-neuro"].tags.add(ct)
    ct.cases.remove(shelf["ct-chest"])  # from the tag's side
    assert _facet(client.get(url, search), "modality") == {"ct": (3, False), "mri": (2, False)}
    assert _facet(client.get(url, {**search, "modality": "ct"}), "system") == {"neuro": (3, False)}
    shelf["ct-chest"].keywords.add(Keyword.objects.create(name="Nodule"))
    assert _facet(client.get(url, search), "keyword") == {
        "Keyword 1": (4, False),  # every case_build's
        "Glioma": (1, False),
        "Nodule": (1, False),
    }
    rating = CaseDifficulty.objects.create(case=shelf["mr-ct-neuro"], level=Difficulty.STUDENT)
    assert _facet(client.get(url, search), "difficulty") == {"1": (2, False), "3": (2, False)}
    rating.level = Difficulty.RESIDENT
    rating.save()
    assert _facet(client.get(url, {**search, "difficulty": "2"}), "difficulty")["2"] == (1, True)
    CaseDifficulty.objects.filter(case=shelf["ct-chest"]).get().delete()
    assert _facet(client.get(url, {**search, "difficulty": "0"}), "difficulty")["0"] == (1, True)
    neuro.delete()
    Keyword.objects.get(name="Glioma").delete()
    response = client.get(url, search)
    assert _facet(response, "system") == {"chest": (1, False)}
    assert _facet(response, "keyword") == {"Keyword 1": (4, False), "Nodule": (1, False)}


@pytest.fixture
def mixed_library(db):
    """Thirty cases with every mix of tags, keywords, difficulty and visibility."""
    import random

    from cases.library.search import search_index_cases

    rng = random.Random(11)
    tags = [
        Tag.objects.get_or_create(kind=kind, name=name)[0]
        for kind, names in (
            (Tag.Kind.MODALITY, ["CT", "MRI", "US"]),
            (Tag.Kind.SYSTEM, ["Chest", "Neuro"]),
        )
        for name in names
    ]
    keywords = [Keyword.objects.create(name=f"Sign {i}") for i in range(20)]
    for n in range(30):
        case = Case.objects.create(
            slug=f"mixed-{n}",
            title=f"Mixed case {n}",
            status=Case.Status.DRAFT if n % 5 == 0 else Case.Status.PUBLISHED,
            is_sample=n % 7 == 0,
            # As many mentions as n % 4 + 1: the cases rank in another order than their ids.
            findings="A lesion in the lung. " * (1 + n % 4) if n % 3 else "A zebra in the field.",
            diagnosis="" if n % 11 == 0 else "Adenocarcinoma",
        )
        case.tags.set(rng.sample(tags, rng.randint(0, 3)))
        case.keywords.set(rng.sample(keywords, rng.randint(0, 4)))
        if n % 4:
            CaseDifficulty.objects.create(case=case, level=1 + n % 3)
        # Figures in any planes, some in the same one twice, some in none.
        for number in range(1, rng.randint(1, 4)):
            plane = rng.choice(["Axial", "Coronal", "Sagittal", ""])
            Figure.objects.create(case=case, number=number, plane=plane)
    search_index_cases()


def _counts_expected(cases, params: dict, mode) -> tuple[int, dict[str, dict[str, int]]]:
    """The results and each facet's counts, by the definition, one case at a time."""
    from cases.library.facets import UNRATED
    from cases.library.search import Mode, search_filter

    query = params.get("q", "")
    found = search_filter(cases, query=query, mode=mode) if query else cases
    found = found.prefetch_related("tags", "keywords", "figures").select_related("difficulty")
    values = {}
    for case in found:
        level = getattr(getattr(case, "difficulty", None), "level", None)
        values[case.pk] = {
            "modality": {t.slug for t in case.tags.all() if t.kind == Tag.Kind.MODALITY},
            "system": {t.slug for t in case.tags.all() if t.kind == Tag.Kind.SYSTEM},
            "keyword": {k.name for k in case.keywords.all()} if mode == Mode.ARTICLE else set(),
            "plane": {f.plane for f in case.figures.all() if f.plane}
            if mode == Mode.ARTICLE
            else set(),
            "difficulty": {str(level) if level else UNRATED},
        }
    names = ("modality", "system", "keyword", "plane", "difficulty")
    chosen = {name: set(params.get(name, [])) for name in names}

    def passes(pk: int, skip: str) -> bool:
        return all(
            not choice or values[pk][name] & choice
            for name, choice in chosen.items()
            if name != skip
        )

    total = sum(passes(pk, "") for pk in values)
    counts = {}
    for name in chosen:
        tally: dict[str, int] = {}
        for pk in values:
            if passes(pk, name):
                for value in values[pk][name]:
                    tally[value] = tally.get(value, 0) + 1
        counts[name] = tally
    return total, counts


def _visits(staff) -> list[tuple]:
    """Each library as a visitor and as staff: (url, the cases they see, mode, user)."""
    from cases.library.search import Mode

    article = Case.objects.visible_to(AnonymousUser())
    unknown = Case.objects.filter(is_sample=False).exclude(diagnosis="")
    return [
        (reverse("cases:library"), article, Mode.ARTICLE, None),
        (reverse("cases:library"), Case.objects.all(), Mode.ARTICLE, staff),
        (reverse("cases:unknown_library"), unknown.filter(pk__in=article), Mode.UNKNOWN, None),
        (reverse("cases:unknown_library"), unknown, Mode.UNKNOWN, staff),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "lesion"},
        {"q": "zebra"},
        {"q": "nothing-matches"},
        {"modality": ["ct"]},
        {"modality": ["ct", "mri"], "system": ["neuro"]},
        {"q": "lesion", "modality": ["mri"], "system": ["chest", "neuro"]},
        {"q": "lesion", "difficulty": ["0", "2"]},
        {"difficulty": ["0"], "system": ["chest"]},
        {"q": "lesion", "keyword": ["Sign 3", "Sign 7"], "modality": ["us"]},
        {"keyword": ["Sign 1"], "difficulty": ["1", "3"]},
        {"plane": ["Coronal"]},
        {"q": "lesion", "plane": ["Axial", "Sagittal"], "modality": ["ct"]},
        {"plane": ["Oblique"], "system": ["neuro"]},
        {
            "q": "case",
            "modality": ["ct"],
            "system": ["chest"],
            "keyword": ["Sign 2"],
            "difficulty": ["2", "0"],
        },
    ],
)
def test_counts_are_those_of_each_case_taken_one_at_a_time(client, staff, mixed_library, params):
    from cases.library.search import Mode

    for url, cases, mode, user in _visits(staff):
        if user:
            client.force_login(user)
        else:
            client.logout()
        library_changed()  # counted afresh
        response = client.get(url, params)
        total, counts = _counts_expected(
            cases,
            params
            if mode == Mode.ARTICLE
            else {k: v for k, v in params.items() if k not in ("keyword", "plane")},
            mode,
        )
        assert response.context["total"] == total, (url, user)
        assert len(response.context["items"]) == min(total, 25)
        for facet in response.context["facets"]:
            shown = {choice.value: choice.count for choice in facet.choices}
            expected = counts[facet.name]
            if facet.name in ("keyword", "plane"):  # a choice ticked shows, counted or not
                top = sorted(expected, key=lambda name: (-expected[name], name))[:15]
                expected = {
                    name: expected.get(name, 0) for name in {*top, *params.get(facet.name, [])}
                }
            elif facet.name == "difficulty":
                expected = {
                    level: n
                    for level, n in expected.items()
                    if n or level in params.get("difficulty", [])
                }
                expected |= {
                    level: 0 for level in params.get("difficulty", []) if level not in expected
                }
            assert shown == expected, (url, user, facet.name)
        assert {f.name for f in response.context["facets"]} == (
            {"modality", "system", "keyword", "plane", "difficulty"}
            if mode == Mode.ARTICLE
            else {"modality", "system", "difficulty"}
        )


def _results_expected(cases, params: dict, mode) -> list[int]:
    """The ids of the results in page order, by a plain query and each case's own facets."""
    from cases.library.search import search_filter, search_ranked
    from cases.library.views import _ORDER

    query, sort = params.get("q", ""), params.get("sort", "")
    if query and not sort:
        ordered = search_ranked(cases, query=query, mode=mode)
    else:
        found = search_filter(cases, query=query, mode=mode) if query else cases
        ordered = found.order_by(*_ORDER[mode].get(sort, _ORDER[mode][""]))
    kept = set(ordered.values_list("pk", flat=True))
    for name in ("modality", "system"):
        if params.get(name):
            kept &= set(
                Case.objects.filter(tags__kind=name, tags__slug__in=params[name]).values_list(
                    "pk", flat=True
                )
            )
    if params.get("keyword"):
        kept &= set(
            Case.objects.filter(keywords__name__in=params["keyword"]).values_list("pk", flat=True)
        )
    if params.get("plane"):
        kept &= set(
            Case.objects.filter(figures__plane__in=params["plane"]).values_list("pk", flat=True)
        )
    if params.get("difficulty"):
        levels = dict(CaseDifficulty.objects.values_list("case_id", "level"))
        kept = {pk for pk in kept if str(levels.get(pk, 0)) in params["difficulty"]}
    return [pk for pk in ordered.values_list("pk", flat=True) if pk in kept]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "lesion"},
        {"q": "lung case"},
        {"q": "nothing-matches"},
        {"q": "lesion", "sort": "title"},
        {"q": "case", "sort": "added"},
        {"q": "mixed", "sort": "newest", "system": ["neuro"]},
        {"modality": ["ct", "mri"], "system": ["neuro"]},
        {"difficulty": ["0", "2"], "sort": "title"},
        {"keyword": ["Sign 2", "Sign 5"], "sort": "added"},
        {"q": "lesion", "modality": ["mri", "us"]},
        {"q": "case", "difficulty": ["0", "2"]},
        {"q": "lesion", "keyword": ["Sign 3", "Sign 7", "Sign 9"]},
        {"q": "case", "modality": ["ct"], "keyword": ["Sign 2", "Sign 5"], "sort": "title"},
        {"plane": ["Coronal", "Sagittal"], "sort": "added"},
        {"q": "lesion", "plane": ["Axial"], "difficulty": ["0", "3"]},
    ],
)
def test_results_are_those_of_a_plain_query_page_by_page(
    client, staff, mixed_library, monkeypatch, params
):
    from cases.library import views
    from cases.library.search import Mode

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    for url, cases, mode, user in _visits(staff):
        if user:
            client.force_login(user)
        else:
            client.logout()
        asked = (
            params
            if mode == Mode.ARTICLE
            else {k: v for k, v in params.items() if k not in ("keyword", "plane")}
        )
        expected = _results_expected(cases, asked, mode)
        for cached in (False, True):
            library_changed()
            if cached:
                client.get(url, params)  # counted here, read from the cache below
            shown, number = [], 1
            while True:
                if not cached:
                    library_changed()
                response = client.get(url, {**params, "page": number})
                page = response.context["page"]
                assert page.number == number
                assert response.context["total"] == len(expected), (url, user, cached)
                shown += [item["case"].pk for item in response.context["items"]]
                if not page.has_next():
                    break
                number += 1
            assert shown == expected, (url, user, cached)
