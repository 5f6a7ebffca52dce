"""Comments that link to an exact viewer state: parsing, chips, the pre-filled form."""

from __future__ import annotations

import pytest

from cases.discussion.models import Comment
from cases.discussion.services import comment_create
from cases.discussion.viewlinks import (
    ViewLinkError,
    comment_form_url,
    view_link_parse,
    view_query_clean,
)

from .conftest import case_build


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("slice=14&ww=2500&wc=480", "slice=14&ww=2500&wc=480"),
        ("wc=-600&ww=1500.0&slice=3", "slice=3&ww=1500&wc=-600"),
        ("zoom=2&cx=0.25&cy=0.75&invert=1", "zoom=2&cx=0.25&cy=0.75&invert=1"),
        ("center=0.5,0.5&ann=0", "center=0.5,0.5&ann=0"),
    ],
)
def test_view_query_is_checked_and_made_canonical(query, canonical):
    assert view_query_clean(query) == canonical


@pytest.mark.parametrize(
    "query",
    [
        "slice=abc",
        "slice=0",
        "ww=nan&wc=1",
        "ww=inf&wc=1",
        "zoom=1000",
        "invert=yes",
        "slice=1&slice=2",
        "script=alert(1)",
        "slice=1&x=<b>",
        "center=1",
        "a" * 400,
        "slice",
    ],
)
def test_malformed_view_queries_are_refused(query):
    with pytest.raises(ViewLinkError):
        view_query_clean(query)


def test_view_link_needs_an_existing_figure():
    assert str(view_link_parse("2:slice=4", figure_numbers={1, 2})) == "2:slice=4"
    for bad in ["3:slice=4", "x:slice=4", "slice=4", "-1:", "99999:"]:
        with pytest.raises(ViewLinkError):
            view_link_parse(bad, figure_numbers={1, 2})


@pytest.mark.django_db
def test_comment_with_a_view_shows_a_chip_that_opens_the_figure(client, published_case, member):
    client.force_login(member)
    client.post(
        f"/t/{published_case.public_id}/comments/",
        {"body": "See the mass", "view": "2:slice=3&ww=400&wc=40&zoom=2"},
    )
    comment = Comment.objects.get()
    assert (comment.view_figure, comment.view_query) == (2, "slice=3&ww=400&wc=40&zoom=2")
    html = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert (
        '<a class="view-chip" href="/cases/published-case/figures/2/?slice=3&amp;ww=400&amp;wc=40'
        '&amp;zoom=2" title="Open this view">'
    ) in html
    assert "Figure 2 · slice 3 · W 400 / L 40 · 2×" in html


@pytest.mark.django_db
def test_links_in_the_text_become_chips_or_plain_text(published_case, member):
    other = case_build(slug="other-case")
    body = (
        "[same](/cases/published-case/figures/1/?slice=2&ww=400&wc=40) "
        "[absolute](https://cv.example.org/cases/published-case/figures/2/) "
        "[other case](/cases/other-case/figures/1/?slice=2) "
        "[broken](/cases/published-case/figures/1/?slice=abc) "
        "[no such figure](/cases/published-case/figures/7/) "
        "[ordinary](https://radiopaedia.org/)"
    )
    comment, _ = comment_create(case=published_case, author=member, body=body)
    html = comment.body_html
    assert html.count('class="view-chip"') == 2
    assert 'href="/cases/published-case/figures/1/?slice=2&amp;ww=400&amp;wc=40"' in html
    assert 'href="/cases/published-case/figures/2/"' in html
    assert "other-case" not in html and " other case " in html
    assert "?slice=abc" not in html and " broken " in html
    assert "figures/7" not in html and "no such figure" in html
    assert 'href="https://radiopaedia.org/"' in html
    assert other.slug not in html


@pytest.mark.django_db
def test_viewer_button_link_prefills_the_form(client, published_case, member):
    url = comment_form_url(published_case, figure=1, query="slice=2&ww=400&wc=40")
    assert url == (
        f"/t/{published_case.public_id}/?view=1%3Aslice%3D2%26ww%3D400%26wc%3D40#comment-form"
    )
    client.force_login(member)
    html = client.get(url.split("#")[0]).content.decode()
    assert 'name="view" id="comment-form-view" value="1:slice=2&amp;ww=400&amp;wc=40"' in html
    assert 'Linked view: <a class="view-chip"' in html
    # A malformed pre-fill shows no chip, and posting it is refused with a message.
    bad = client.get(f"/t/{published_case.public_id}/?view=1:evil=1").content.decode()
    assert "Linked view: <a" not in bad
    refused = client.post(
        f"/t/{published_case.public_id}/comments/", {"body": "x", "view": "1:evil=1"}
    )
    assert refused.status_code == 422 and b"unknown setting" in refused.content


@pytest.mark.django_db
def test_preview_shows_the_chip_and_saves_nothing(client, published_case, member):
    client.force_login(member)
    data = {"body": "**Preview me**", "view": "1:slice=2"}
    htmx = client.post(f"/t/{published_case.public_id}/preview/", data, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and b"<html" not in htmx.content
    assert b"<strong>Preview me</strong>" in htmx.content and b"view-chip" in htmx.content
    page = client.post(f"/t/{published_case.public_id}/preview/", data)
    assert b"<html" in page.content and b"<strong>Preview me</strong>" in page.content
    assert b"**Preview me**</textarea>" in page.content
    empty = client.post(
        f"/t/{published_case.public_id}/preview/", {"body": ""}, HTTP_HX_REQUEST="true"
    )
    assert b"Write something first." in empty.content
    assert Comment.objects.count() == 0


@pytest.mark.django_db
def test_a_view_with_the_viewers_twenty_measurements_fits_in_a_comment(
    client, published_case, member
):
    ellipses = ";".join(f"ellipse:{100 + i}.5,{200 + i}.5,{30 + i}.5,{20 + i}.5" for i in range(20))
    view = f"2:slice=14&ww=400&wc=40&zoom=2.5&cx=0.4321&cy=0.5678&m={ellipses}"
    client.force_login(member)
    response = client.post(
        f"/t/{published_case.public_id}/comments/", {"body": "All of them", "view": view}
    )
    assert response.status_code == 303
    comment = Comment.objects.get()
    assert comment.view_query.count("ellipse:") == 20
    html = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert "20 measurements" in html
    assert 'maxlength="1010"' in html
