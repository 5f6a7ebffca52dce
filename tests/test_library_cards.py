"""Library result cards and the facets aside: what they show follows every change at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.discussion.models import Comment
from cases.library.models import CaseDifficulty, Difficulty
from cases.models import Case, Figure, Tag
from tests.conftest import case_build

pytestmark = pytest.mark.django_db

LIBRARY = reverse("cases:library")
UNKNOWN = reverse("cases:unknown_library")


@pytest.fixture
def case(db) -> Case:
    return case_build(
        slug="lung-case",
        title="Lung adenocarcinoma in a smoker",
        unknown_title="40-year-old man with a cough",
        journal="J Radiol Case Rep",
        year=2011,
    )


def _card(response, case: Case) -> str:
    """The HTML of ``case``'s card on a library page."""
    html = response.content.decode()
    anchor = html.index(f'href="{reverse("cases:article", args=[case.slug])}"')
    return html[html.rindex("<li", 0, anchor) : html.index("</li>", anchor)]


def _aside(url: str, client, **params) -> str:
    """The HTML of the facets aside on a library page."""
    html = client.get(url, params).content.decode()
    return html[html.index('<aside class="facets"') : html.index("</aside>")]


def test_the_facets_aside_shows_the_page_s_own_counts_choices_and_sort(client, case):
    ct = '<span class="facet-label">CT</span> <span class="count">{}</span>'
    assert ct.format(1) in _aside(LIBRARY, client)
    case_build(slug="second-case")
    assert ct.format(2) in _aside(LIBRARY, client)
    assert "checked" in _aside(LIBRARY, client, modality="ct")
    assert '<option value="title" selected>' in _aside(LIBRARY, client, sort="title")
    assert f'hx-get="{UNKNOWN}"' in _aside(UNKNOWN, client)  # its own address and sorts


def test_an_edited_case_shows_its_new_card_at_once(client, case):
    client.get(LIBRARY)
    case.journal = "Radiology"
    case.save()
    card = _card(client.get(LIBRARY), case)
    assert "Radiology 2011" in card
    assert "J Radiol Case Rep" not in card


def test_a_status_changed_without_signals_shows_at_once(client, case, staff):
    client.force_login(staff)  # staff see drafts, with a badge
    assert "Draft" not in _card(client.get(LIBRARY), case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.DRAFT)  # the admin's bulk action
    assert "Draft" in _card(client.get(LIBRARY), case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.PUBLISHED)
    assert "Draft" not in _card(client.get(LIBRARY), case)


def test_comments_figures_tags_and_difficulty_show_at_once(client, case, member):
    assert "0 comments" in _card(client.get(LIBRARY), case)
    comment = Comment.objects.create(case=case, author=member, body="Nice", body_html="Nice")
    assert "1 comment<" in _card(client.get(LIBRARY), case)
    Comment.objects.filter(pk=comment.pk).update(hidden_at="2024-01-01T00:00Z")  # moderated
    assert "0 comments" in _card(client.get(LIBRARY), case)

    assert "1 figure<" in _card(client.get(LIBRARY), case)
    Figure.objects.create(case=case, number=2, caption="Another")
    assert "2 figures" in _card(client.get(LIBRARY), case)

    case.tags.add(Tag.objects.create(kind=Tag.Kind.SYSTEM, name="Chest"))
    assert "tag-system" in _card(client.get(LIBRARY), case)
    Tag.objects.filter(name="Chest").update(name="Thorax")  # renamed without signals
    assert ">Thorax<" in _card(client.get(LIBRARY), case)

    difficulty = CaseDifficulty.objects.create(case=case, level=Difficulty.STUDENT)
    assert ">Student<" in _card(client.get(LIBRARY), case)
    CaseDifficulty.objects.filter(pk=difficulty.pk).update(level=Difficulty.FELLOW)
    assert ">Fellow / specialist<" in _card(client.get(LIBRARY), case)


def test_unknown_cards_never_show_what_the_article_cards_do(client, case):
    for params in [{}, {"q": "cough"}]:
        html = client.get(UNKNOWN, params).content.decode()
        assert "40-year-old man with a cough" in html or "<mark>cough</mark>" in html
        for telling in ["adenocarcinoma", "Adenocarcinoma", "lung-case", "J Radiol Case Rep"]:
            assert telling not in html


def test_card_values_are_escaped(client, case):
    Case.objects.filter(pk=case.pk).update(journal="<script>alert(1)</script>")
    card = _card(client.get(LIBRARY), case)
    assert "<script>" not in card
    assert "&lt;script&gt;" in card


def test_a_page_of_many_cards_takes_as_many_queries_as_a_page_of_one(client, case):
    for i in range(30):
        case_build(slug=f"more-{i}", title=f"More {i}")

    def queries(**params) -> tuple[int, int]:
        client.get(LIBRARY, params)  # counts cached, as after the first visit
        with CaptureQueriesContext(connection) as captured:
            response = client.get(LIBRARY, params)
        return len(response.context["items"]), len(captured)

    one, few = queries(q="smoker")
    many, full = queries(q="cough")  # every case
    assert (one, many) == (1, 25)
    assert few == full
