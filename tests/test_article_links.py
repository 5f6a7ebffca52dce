"""The article links itself: "(Fig. 5)" and "[1]" to the page's anchors; abbreviations explained."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

from cases.markdown import ArticleLinks, markdown_render
from cases.models import Abbreviation, Case, Figure, Reference, RevealStep
from cases.unknown.reveal import case_steps
from tests.conftest import case_build

pytestmark = pytest.mark.django_db


class _Page(HTMLParser):
    """Every element id, every in-page href, and each <abbr>'s title, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.abbrs: list[tuple[str, str | None]] = []
        self._abbr: str | None = None
        self._in_abbr = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and (attrs.get("href") or "").startswith("#"):
            self.hrefs.append(attrs["href"])
        if tag == "abbr":
            self._in_abbr, self._abbr = True, attrs.get("title")

    def handle_data(self, data):
        if self._in_abbr:
            self.abbrs.append((data, self._abbr))

    def handle_endtag(self, tag):
        if tag == "abbr":
            self._in_abbr = False


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def linked_numbers(hrefs: list[str], prefix: str) -> set[int]:
    return {int(h.removeprefix(f"#{prefix}-")) for h in hrefs if h.startswith(f"#{prefix}-")}


# --- the seed article -----------------------------------------------------------------------


def test_every_cross_link_in_the_seed_article_has_its_anchor(client, seed_case):
    page = parse(client.get(seed_case.get_absolute_url()).content.decode())
    assert any(h.startswith("#figure-") for h in page.hrefs), "the article links no figure"
    missing = [href for href in page.hrefs if href[1:] not in page.ids]
    assert missing == []


def test_the_seed_articles_figures_and_references_are_all_linked(client, seed_case):
    """Every figure 1-12 and reference 1-16 is cited: linked itself, or inside a linked range
    ("Fig. 9-12", "[6-16]": the range's ends are links, as the journal prints them)."""
    html = client.get(seed_case.get_absolute_url()).content.decode()
    page = parse(html)
    figures = linked_numbers(page.hrefs, "figure")
    references = linked_numbers(page.hrefs, "ref")
    assert {1, 2, 3, 4, 5, 7, 8, 9, 12} <= figures
    assert {1, 2, 3, 4, 5, 6, 8, 13, 14, 15, 16} <= references
    # The ranges: both ends linked, so every number between them is reached.
    assert (
        'Fig. <a href="#figure-9" class="xref" aria-label="Figure 9">9</a>-<a href="#figure-12"'
        in html
    )
    assert '<a href="#ref-6" class="xref" aria-label="Reference 6">6</a>-<a href="#ref-16"' in html
    covered_figures = figures | set(range(5, 8)) | set(range(9, 13))
    covered_references = references | set(range(6, 17))
    assert covered_figures >= set(range(1, 13)) and covered_references >= set(range(1, 17))
    assert {f.number for f in seed_case.figures.all()} >= figures


def test_an_abbreviation_is_explained_at_its_first_use_only(client, seed_case):
    page = parse(client.get(seed_case.get_absolute_url()).content.decode())
    titled = [(text, title) for text, title in page.abbrs if title]
    assert ("CT", "Computed tomography") in titled
    assert ("IVC", "Inferior vena cava") in titled
    assert [text for text, _ in titled].count("CT") == 1
    html = client.get(seed_case.get_absolute_url()).content.decode()
    assert html.count(">CT</abbr>") == 1  # later uses are plain text
    assert html.count(" CT ") > 3


# --- the rules ------------------------------------------------------------------------------


def test_only_numbers_with_an_anchor_on_the_page_are_linked():
    links = ArticleLinks(figures={1, 2}, references={1})
    html = links.link(markdown_render("(Fig. 2, 3) [1, 2] Figure 2a and Figs. 1 and 2"))
    page = parse(html)
    assert page.hrefs == ["#figure-2", "#ref-1", "#figure-2", "#figure-1", "#figure-2"]
    assert "3)" in html and ", 2]" in html


def test_existing_links_and_code_are_left_alone():
    links = ArticleLinks(figures={1}, references={1}, abbreviations={"CT": "Computed tomography"})
    html = links.link(markdown_render("[see Fig. 1](https://example.org) `[1]`\n\n```\nCT\n```"))
    assert parse(html).hrefs == [] and "<abbr" not in html


def test_an_expansion_is_escaped():
    links = ArticleLinks(abbreviations={"XR": '"><script>alert(1)</script>'})
    html = links.link(markdown_render("An XR."))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_article_without_figures_or_references_links_nothing(client):
    case = case_build(slug="plain", title="Plain")
    Case.objects.filter(pk=case.pk).update(findings="As in Fig. 7 and [9].")
    page = parse(client.get(case.get_absolute_url()).content.decode())
    assert not [h for h in page.hrefs if h.startswith(("#figure-", "#ref-"))]


# --- unknown mode: nothing not yet on the page ----------------------------------------------


@pytest.fixture
def unknown_case(db) -> Case:
    case = case_build(slug="lung", title="Lung adenocarcinoma case", size=2)
    Case.objects.filter(pk=case.pk).update(
        unknown_title="60-year-old smoker",
        history="Cough. A CT was done (Fig. 1, 2) [1].",
        findings="A mass (Fig. 1) and a node (Fig. 2); LAC suspected.",
        discussion="Typical [1, 2]. See Fig. 2.",
    )
    Figure.objects.filter(case=case, number=2).update(reveal_step=RevealStep.DIAGNOSIS)
    Abbreviation.objects.create(case=case, abbreviation="CT", expansion="Computed tomography")
    Abbreviation.objects.create(case=case, abbreviation="LAC", expansion="Lung adenocarcinoma")
    Reference.objects.filter(case=case).delete()
    for order in (1, 2):
        Reference.objects.create(case=case, order=order, text=f"Reference {order}.")
    case.refresh_from_db()
    return case


def _step(client: Client, case: Case, step: int) -> str:
    for earlier in case_steps(case):
        if earlier > step:
            break
        response = client.get(f"/u/{case.public_id}/{earlier}/")
        assert response.status_code == 200
        if earlier == RevealStep.DIFFERENTIAL and step > earlier:
            client.post(f"/u/{case.public_id}/differential/", {"skip": "1"})
    return response.content.decode()


def test_unknown_mode_links_only_the_figures_already_shown(client, unknown_case):
    images = parse(_step(client, unknown_case, RevealStep.IMAGES))
    assert "#figure-1" in images.hrefs and "#figure-1" not in images.hrefs[:0]
    assert "#figure-2" not in images.hrefs  # figure 2 comes with the diagnosis
    assert not [h for h in images.hrefs if h.startswith("#ref-")]  # references: discussion
    assert all(h[1:] in images.ids for h in images.hrefs)


def test_unknown_mode_links_references_from_the_discussion_on(client, unknown_case):
    page = parse(_step(client, unknown_case, RevealStep.DISCUSSION))
    assert {"#figure-1", "#figure-2", "#ref-1", "#ref-2"} <= set(page.hrefs)
    assert all(h[1:] in page.ids for h in page.hrefs)


def test_unknown_mode_keeps_an_abbreviation_that_names_the_diagnosis_unexplained(
    client, unknown_case
):
    findings = _step(client, unknown_case, RevealStep.FINDINGS)
    assert 'title="Computed tomography"' in findings
    assert "Lung adenocarcinoma" not in findings and 'title="Lung' not in findings
    discussion = _step(client, unknown_case, RevealStep.DISCUSSION)
    assert 'title="Lung adenocarcinoma"' in discussion
