"""Library search: the database's own full-text engine, ranked, highlighted, as-you-type."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from cases.library.search import Mode, search_filter, search_highlights, search_ranked
from cases.models import Case, Figure, Keyword
from tests.conftest import case_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(db):
    kidney = case_build(slug="kidney", title="Renal cell carcinoma with venous extension", size=1)
    kidney.history = "A 61-year-old man with haematuria and flank pain."
    kidney.findings = "An enhancing mass in the left kidney extends into the renal vein."
    kidney.diagnosis = "Renal cell carcinoma"
    kidney.save()
    lung = case_build(slug="lung", title="Cavitating lesion of the lung")
    lung.findings = "A thick-walled cavity with a nodule; the renal glands are normal."
    lung.save()
    brain = case_build(slug="brain", title="Ring-enhancing lesion")
    brain.findings = "Ring enhancement in the frontal lobe."
    brain.diagnosis = "Cerebral abscess"
    brain.save()
    return {"kidney": kidney, "lung": lung, "brain": brain}


def _slugs(queryset) -> list[str]:
    return [case.slug for case in queryset]


def test_search_finds_words_in_any_indexed_field(library):
    assert _slugs(search_ranked(Case.objects.all(), query="haematuria")) == ["kidney"]
    assert _slugs(search_ranked(Case.objects.all(), query="abscess")) == ["brain"]
    assert set(_slugs(search_ranked(Case.objects.all(), query="enhancing"))) == {"kidney", "brain"}


def test_search_matches_prefixes_as_the_user_types(library):
    assert _slugs(search_ranked(Case.objects.all(), query="haemat")) == ["kidney"]
    assert _slugs(search_ranked(Case.objects.all(), query="cavit")) == ["lung"]


def test_search_stems_english_words(library):
    # "cavities" and "cavity" share a stem on both engines.
    assert _slugs(search_ranked(Case.objects.all(), query="cavities")) == ["lung"]


def test_search_needs_every_word(library):
    assert _slugs(search_ranked(Case.objects.all(), query="renal vein")) == ["kidney"]
    assert _slugs(search_ranked(Case.objects.all(), query="renal abscess")) == []


def test_search_ranks_a_title_match_above_a_passing_mention(library):
    # "renal" is in the kidney case's title and diagnosis, and only in passing in the lung's.
    assert _slugs(search_ranked(Case.objects.all(), query="renal")) == ["kidney", "lung"]


def test_search_ignores_punctuation_and_operators(library):
    for query in ['"renal', "renal AND OR NOT", "renal*)", "renal:* & !", "'; DROP TABLE"]:
        list(search_ranked(Case.objects.all(), query=query))  # no syntax error
    assert _slugs(search_ranked(Case.objects.all(), query='renal" NEAR(')) == []


def test_search_filter_narrows_a_queryset_usable_as_subquery(library):
    matching = search_filter(Case.objects.all(), query="enhancing")
    outer = Case.objects.filter(pk__in=matching.values("pk")).order_by("slug")
    assert _slugs(outer) == ["brain", "kidney"]


def test_search_index_follows_saves_keywords_and_figures(library):
    brain = library["brain"]
    assert _slugs(search_ranked(Case.objects.all(), query="toxoplasmosis")) == []
    brain.keywords.add(Keyword.objects.create(name="Toxoplasmosis"))
    assert _slugs(search_ranked(Case.objects.all(), query="toxoplasmosis")) == ["brain"]
    Figure.objects.create(case=brain, number=9, caption="Diffusion restriction centrally")
    assert _slugs(search_ranked(Case.objects.all(), query="diffusion")) == ["brain"]
    brain.title = "Quokka lesion"
    brain.save()
    assert _slugs(search_ranked(Case.objects.all(), query="quokka")) == ["brain"]
    brain.title = "Frontal lesion"
    brain.save()
    assert _slugs(search_ranked(Case.objects.all(), query="quokka")) == []
    brain.delete()
    assert _slugs(search_ranked(Case.objects.all(), query="frontal")) == []


def test_search_highlights_matched_words_and_escapes_html(library):
    kidney = library["kidney"]
    kidney.title = "Renal <b>mass</b> & vein"
    kidney.save()
    highlights = search_highlights(case_ids=[kidney.pk], query="renal")
    title = highlights[kidney.pk].title
    assert "<mark>Renal</mark>" in title
    assert "&lt;b&gt;mass&lt;/b&gt; &amp; vein" in title
    assert "<mark>" in highlights[kidney.pk].snippet


@pytest.mark.parametrize(
    ("query", "word"),
    # The second: a word found by its stem ("run") whose form shows no "runn".
    [("haemoptysis", "haemoptysis"), ("running", "runs")],
)
def test_snippets_highlight_a_match_deep_in_a_long_article(library, query, word):
    lung = library["lung"]
    lung.discussion = (
        f"{'Plain words before it. ' * 150}The patient {word} daily. {'And after. ' * 50}"
    )
    lung.save()
    snippet = search_highlights(case_ids=[lung.pk], query=query)[lung.pk].snippet
    assert f"<mark>{word}</mark> daily" in snippet
    assert len(snippet) < 400


def test_highlights_mark_every_query_word_and_whole_words_only(library):
    kidney = library["kidney"]
    kidney.history = "The adrenal glands are spared; the renal veins are full of tumour."
    kidney.save()
    highlight = search_highlights(case_ids=[kidney.pk], query="renal vein")[kidney.pk]
    assert "<mark>Renal</mark> cell" in highlight.title
    assert "the <mark>renal</mark> <mark>veins</mark> are" in highlight.snippet
    assert "adrenal" in highlight.snippet and "<mark>adrenal" not in highlight.snippet


def test_reindex_command_rebuilds_the_index(library, capsys):
    from django.core.management import call_command

    from cases.library.models import SearchDocument

    SearchDocument.objects.all().delete()
    assert _slugs(search_ranked(Case.objects.all(), query="haematuria")) == []
    call_command("reindex_search")
    assert "Indexed 3 case(s)." in capsys.readouterr().out
    assert _slugs(search_ranked(Case.objects.all(), query="haematuria")) == ["kidney"]


def test_search_uses_the_database_engine():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'cases_search_fts'")
            assert cursor.fetchone()
        else:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'cases_search_vector_gin'"
            )
            assert "gin" in cursor.fetchone()[0].lower()


def test_the_full_text_index_is_fed_by_the_database(db):
    """What keeps the index in step with cases_searchdocument exists (see migration 0005):
    a migration that rebuilds the table on SQLite drops the triggers with it."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'cases_searchdocument'"
            )
            expected = {f"cases_searchdocument_{event}" for event in ("ai", "ad", "au")}
            assert {name for (name,) in cursor.fetchall()} == expected
        else:
            cursor.execute(
                "SELECT attname, attgenerated FROM pg_attribute "
                "WHERE attrelid = 'cases_searchdocument'::regclass AND attname LIKE '%%_vector'"
            )
            assert dict(cursor.fetchall()) == {"search_vector": "s", "unknown_vector": "s"}
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'cases_searchdocument' "
                "AND indexdef LIKE '%%USING gin%%'"
            )
            names = {name for (name,) in cursor.fetchall()}
            assert names == {"cases_search_vector_gin", "cases_unknown_vector_gin"}


# -- the page -----------------------------------------------------------------------------


def test_library_search_without_javascript_returns_the_full_page(client, library):
    response = client.get(reverse("cases:library"), {"q": "haematuria"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'name="q" value="haematuria"' in html
    assert "<mark>haematuria</mark>" in html
    assert "Renal cell carcinoma with venous extension" in html
    assert "Cavitating lesion" not in html
    assert "1 case matches “haematuria”" in html


def test_library_search_over_htmx_returns_the_results_fragment(client, library):
    response = client.get(reverse("cases:library"), {"q": "enhanc"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="library-results"')
    assert "<mark>enhancing</mark> lesion" in html and "Renal cell carcinoma" in html
    assert "Cavitating lesion" not in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_library_search_orders_by_relevance(client, library):
    response = client.get(reverse("cases:library"), {"q": "renal"})
    html = response.content.decode()
    assert html.index("venous extension") < html.index("Cavitating")


def test_library_search_never_shows_drafts_to_learners(client, library, draft_case):
    response = client.get(reverse("cases:library"), {"q": "draft"})
    assert "Draft case" not in response.content.decode()
    assert response.context["total"] == 0


def test_library_search_shows_drafts_to_staff(client, staff, library, draft_case):
    client.force_login(staff)
    response = client.get(reverse("cases:library"), {"q": "draft"})
    assert "<mark>Draft</mark> case" in response.content.decode()


def test_library_pages_hold_twenty_five_cases(client, db):
    for i in range(30):
        Case.objects.create(slug=f"c{i}", title=f"Pneumothorax {i:02d}", status="published")
    first = client.get(reverse("cases:library"), {"q": "pneumothorax", "sort": "title"})
    assert len(first.context["items"]) == 25
    assert "page=2" in first.content.decode()
    second = client.get(reverse("cases:library"), {"q": "pneumothorax", "sort": "title", "page": 2})
    assert [item["case"].title for item in second.context["items"]] == [
        f"Pneumothorax {i:02d}" for i in range(25, 30)
    ]


def test_library_rejects_post(client, db):
    assert client.post(reverse("cases:library")).status_code == 405


def test_mode_unknown_is_a_separate_index(library):
    # The diagnosis is in the article index and never in unknown mode's.
    assert _slugs(search_ranked(Case.objects.all(), query="abscess")) == ["brain"]
    assert _slugs(search_ranked(Case.objects.all(), query="abscess", mode=Mode.UNKNOWN)) == []


def test_a_search_sent_with_the_default_sort_is_ranked_by_relevance(client, library):
    # The form always sends its sort select; its first, default choice is the best match.
    response = client.get(reverse("cases:library"), {"q": "renal", "sort": ""})
    html = response.content.decode()
    assert html.index("venous extension") < html.index("Cavitating")
    assert '<option value="" selected>Best match</option>' in html
    fresh = client.get(reverse("cases:library")).content.decode()
    assert '<option value="" selected>Library order</option>' in fresh


@pytest.mark.parametrize(("query", "unknown_query"), [("", ""), ("renal", "haematuria")])
def test_a_case_returned_to_draft_leaves_another_workers_cached_results(
    client, library, monkeypatch, query, unknown_query
):
    # Without Redis each worker keeps its own library version: a worker that did not see the
    # change keeps its counts and results for a while, but must not show a hidden case.
    monkeypatch.setattr("cases.library.facets.library_version", lambda: "another-worker")
    url = reverse("cases:library")
    assert "venous extension" in client.get(url, {"q": query}).content.decode()
    Case.objects.filter(slug="kidney").update(status=Case.Status.DRAFT)
    html = client.get(url, {"q": query}).content.decode()
    assert "venous extension" not in html and "Cavitating lesion" in html
    unknown = reverse("cases:unknown_library")
    kidney = Case.objects.get(slug="kidney")
    Case.objects.filter(pk=kidney.pk).update(status=Case.Status.PUBLISHED)
    assert kidney.public_id in client.get(unknown, {"q": unknown_query}).content.decode()
    Case.objects.filter(pk=kidney.pk).update(status=Case.Status.DRAFT)
    assert kidney.public_id not in client.get(unknown, {"q": unknown_query}).content.decode()
