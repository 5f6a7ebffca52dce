"""A page that is one picture asks for that picture first, at high priority, ahead of its
stylesheets and scripts; no page has a script that holds up its first paint."""

from __future__ import annotations

import re

import pytest

from .conftest import case_build
from .test_unknown_reveal import _walk

pytestmark = pytest.mark.django_db

MAIN_IMAGE = re.compile(r'<img class="viewer-image"[^>]*>')
PRELOAD = re.compile(r'<link rel="preload" as="image"[^>]*>')


def _attribute(tag: str, name: str) -> str:
    return re.search(rf' {name}="([^"]*)"', tag).group(1)


def _preloads_its_picture_first(html: str) -> None:
    """The preload is the head's first request, for the very URLs the picture picks from."""
    (image,) = MAIN_IMAGE.findall(html)
    (preload,) = PRELOAD.findall(html)
    head = html[: html.index("</head>")]
    assert head.index(preload) < min(head.index('<link rel="stylesheet"'), head.index("<script"))
    assert _attribute(preload, "href") == _attribute(image, "src")
    assert _attribute(preload, "imagesrcset") == _attribute(image, "srcset")
    assert _attribute(preload, "imagesizes") == _attribute(image, "sizes")
    assert 'fetchpriority="high"' in preload


def test_the_figure_page_asks_for_its_picture_at_high_priority(client, published_case):
    html = client.get(f"{published_case.get_absolute_url()}figures/1/").content.decode()
    images = MAIN_IMAGE.findall(html)
    assert len(images) == 1 and 'fetchpriority="high"' in images[0]
    _preloads_its_picture_first(html)


def test_an_article_with_many_figures_does_not_rush_them_all(client):
    case = case_build(slug="many-figures", size=3)
    html = client.get(case.get_absolute_url()).content.decode()
    assert len(MAIN_IMAGE.findall(html)) == 3
    assert "fetchpriority" not in html
    assert not PRELOAD.findall(html)


def test_the_unknown_figure_page_asks_for_its_picture_at_high_priority(client):
    case = case_build(slug="unknown-figure", size=1)
    case.unknown_title = "A man with a cough"
    case.save()
    _walk(client, case, upto=2)
    html = client.get(f"/u/{case.public_id}/figures/1/").content.decode()
    images = MAIN_IMAGE.findall(html)
    assert len(images) == 1 and 'fetchpriority="high"' in images[0]
    _preloads_its_picture_first(html)


def test_a_figure_page_at_a_chosen_size_preloads_that_one_picture(client, published_case):
    """Once the page says its size (the viewer's own requests), the one URL, no srcset."""
    html = client.get(f"{published_case.get_absolute_url()}figures/1/?size=1024").content.decode()
    (preload,) = PRELOAD.findall(html)
    assert "imagesrcset" not in preload
    assert _attribute(preload, "href") == _attribute(MAIN_IMAGE.findall(html)[0], "src")


@pytest.mark.parametrize(
    ("cookie", "theme"), [(None, "dark"), ("light", "light"), ("dark", "dark"), ("<b>", "dark")]
)
def test_the_page_arrives_in_the_readers_theme(client, cookie, theme):
    """The theme is on <html> as the server sends it, and no script in <head> blocks."""
    if cookie:
        client.cookies["theme"] = cookie
    html = client.get("/").content.decode()
    assert f'<html lang="en" data-theme="{theme}">' in html
    head = html[: html.index("</head>")]
    for script in re.findall(r"<script [^>]*>", head):
        assert " defer" in script or " async" in script, script
