"""A page that is one picture asks for that picture at high priority, ahead of its scripts."""

from __future__ import annotations

import re

import pytest

from .conftest import case_build
from .test_unknown_reveal import _walk

pytestmark = pytest.mark.django_db

MAIN_IMAGE = re.compile(r'<img class="viewer-image"[^>]*>')


def test_the_figure_page_asks_for_its_picture_at_high_priority(client, published_case):
    html = client.get(f"{published_case.get_absolute_url()}figures/1/").content.decode()
    images = MAIN_IMAGE.findall(html)
    assert len(images) == 1 and 'fetchpriority="high"' in images[0]


def test_an_article_with_many_figures_does_not_rush_them_all(client):
    case = case_build(slug="many-figures", size=3)
    html = client.get(case.get_absolute_url()).content.decode()
    assert len(MAIN_IMAGE.findall(html)) == 3
    assert "fetchpriority" not in html


def test_the_unknown_figure_page_asks_for_its_picture_at_high_priority(client):
    case = case_build(slug="unknown-figure", size=1)
    case.unknown_title = "A man with a cough"
    case.save()
    _walk(client, case, upto=2)
    html = client.get(f"/u/{case.public_id}/figures/1/").content.decode()
    images = MAIN_IMAGE.findall(html)
    assert len(images) == 1 and 'fetchpriority="high"' in images[0]
