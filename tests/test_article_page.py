from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case

from .conftest import case_build

pytestmark = pytest.mark.django_db


def test_library_lists_published_cases_with_tags(client, published_case, draft_case):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Published case" in body
    assert 'class="tag tag-modality">CT<' in body
    assert "Draft case" not in body


def test_library_shows_drafts_to_staff(client, staff, draft_case):
    client.force_login(staff)
    body = client.get("/").content.decode()
    assert "Draft case" in body
    assert "badge draft" in body


def test_draft_article_is_404_for_anonymous_and_learners(client, learner, draft_case):
    assert client.get(draft_case.get_absolute_url()).status_code == 404
    client.force_login(learner)
    assert client.get(draft_case.get_absolute_url()).status_code == 404


def test_draft_article_is_visible_to_staff(client, staff, draft_case):
    client.force_login(staff)
    response = client.get(draft_case.get_absolute_url())
    assert response.status_code == 200
    assert "Draft: visible to staff only" in response.content.decode()


def test_draft_images_and_figures_are_404_for_others(client, draft_case):
    slice_ = draft_case.figures.first().slices.first()
    assert client.get(f"/img/{slice_.token}.png").status_code == 404
    assert client.get(f"{draft_case.get_absolute_url()}figures/1/").status_code == 404


def test_article_rejects_post(client, published_case):
    assert client.post(published_case.get_absolute_url()).status_code == 405


def test_unknown_article_is_404(client, db):
    assert client.get("/cases/no-such-case/").status_code == 404


def test_article_query_count_does_not_grow_with_case_size(client, db):
    small = case_build(slug="small", size=1)
    big = case_build(slug="big", size=25)
    counts = []
    for case in (small, big):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(case.get_absolute_url())
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    body = response.content.decode()
    assert body.count('class="case-figure"') == 25
    assert body.count("<table") == 25
    assert body.count('class="ref-link"') == 25


def test_article_escapes_and_sanitises_author_text(client, db):
    case = case_build(slug="xss")
    Case.objects.filter(pk=case.pk).update(
        discussion="<script>alert(1)</script> [x](javascript:alert(1)) **bold**"
    )
    body = client.get(case.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in body
    assert 'href="javascript:' not in body
    assert "<strong>bold</strong>" in body


def test_figure_view_is_a_full_page_without_htmx_and_a_fragment_with_it(client, published_case):
    url = f"{published_case.get_absolute_url()}figures/1/?slice=3"
    page = client.get(url)
    assert page.status_code == 200
    assert b"<html" in page.content
    assert b"Slice <output>3</output> of 3" in page.content
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b"<figure")
    assert fragment["Vary"] and "HX-Request" in fragment["Vary"]


def test_figure_view_clamps_bad_query_values(client, published_case):
    base = f"{published_case.get_absolute_url()}figures/1/"
    for query in ("?slice=999", "?slice=-4", "?slice=abc&ww=nan&wc=inf"):
        response = client.get(base + query)
        assert response.status_code == 200
        assert re.search(rb"Slice <output>[123]</output> of 3", response.content)


def test_article_shows_how_the_diagnosis_was_made_in_its_section(client, published_case):
    Case.objects.filter(pk=published_case.pk).update(
        diagnosis="Arachnoid cyst", diagnosis_by="Imaging & death certificate"
    )
    body = client.get(published_case.get_absolute_url()).content.decode()
    section = body[body.index('id="dx-h"') : body.index("</section>", body.index('id="dx-h"'))]
    assert "<strong>Diagnosis by:</strong> Imaging &amp; death certificate" in section
