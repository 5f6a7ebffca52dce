"""The viewer at the size of its box: ``size`` from the page, srcset without it, the stack."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from PIL import Image

from cases.discussion.viewlinks import view_query_clean
from tests.test_viewer import ct_case, figure_url, image_src, state_of  # noqa: F401

pytestmark = pytest.mark.django_db


def _attr(html: str, name: str) -> str:
    return unescape(re.search(rf'{name}="([^"]*)"', html).group(1))


def test_the_page_size_is_in_every_image_url_but_not_in_the_view(client, ct_case):  # noqa: F811
    html = client.get(figure_url(ct_case, query="slice=2&size=768")).content.decode()
    assert state_of(image_src(html))["size"] == "768"
    assert "srcset=" not in html
    stack = _attr(html, "data-stack").split()
    assert len(stack) == 5 and all(state_of(url)["size"] == "768" for url in stack)
    assert stack[1] == image_src(html)
    # The view's own address, its links and forms say nothing of the screen.
    assert "size" not in state_of(_attr(html, "data-url"))
    # (The picture's preload is the image itself, at the page's size.)
    links = re.sub(r'<link rel="preload" as="image"[^>]*>', "", html)
    assert "size=" not in " ".join(re.findall(r'href="([^"]+)"', links))
    assert 'name="size"' not in html


def test_without_a_size_the_browser_picks_one_from_srcset(client, ct_case):  # noqa: F811
    html = client.get(figure_url(ct_case)).content.decode()
    candidates = [c.split() for c in _attr(html, "srcset").split(", ")]
    assert [(state_of(url)["size"], w) for url, w in candidates] == [
        ("512", "512w"), ("768", "768w"), ("1024", "1024w"), ("1536", "1536w"), ("2048", "2048w")
    ]  # fmt: skip


def test_an_unknown_size_is_ignored_and_zero_is_the_stored_pixels(client, ct_case):  # noqa: F811
    odd = client.get(figure_url(ct_case, query="size=700")).content.decode()
    assert "size" not in state_of(image_src(odd)) and "srcset=" in odd
    stored = client.get(figure_url(ct_case, query="size=0")).content.decode()
    assert "size" not in state_of(image_src(stored)) and "srcset=" not in stored


def test_a_larger_size_is_upscaled_on_the_server(client, ct_case):  # noqa: F811
    html = client.get(figure_url(ct_case, query="size=1536")).content.decode()
    response = client.get(image_src(html))
    assert response.status_code == 200
    picture = Image.open(io.BytesIO(response.content))
    assert picture.size == (1536, 1536)


def test_well_formed_measurements_stay_in_the_view_and_bad_ones_are_refused(client, ct_case):  # noqa: F811
    m = "line:10,20.5,200,220;point:100,100"
    html = client.get(figure_url(ct_case, query=f"slice=2&m={m}")).content.decode()
    assert state_of(_attr(html, "data-url"))["m"] == m
    bad = client.get(figure_url(ct_case, query="slice=2&m=line:1,2;rm -rf"))
    assert bad.status_code == 400


def test_a_linked_view_in_a_comment_may_hold_measurements():
    query = view_query_clean("slice=3&m=line:1,2,3,4;angle:1,2,3,4,5,6")
    assert query == "slice=3&m=line:1,2,3,4;angle:1,2,3,4,5,6"
