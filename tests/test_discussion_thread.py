"""The thread under each case: who reads and posts, replies, pages, permalinks and counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.discussion.models import Comment, Follow
from cases.discussion.services import comment_create

from .conftest import case_build, member_build

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    """These tests post a lot; the limit has its own tests in test_discussion_safety.py."""
    settings.DISCUSSION_POSTS_PER_MINUTE = 10_000
    settings.DISCUSSION_POSTS_PER_HOUR = 10_000


def thread_url(case) -> str:
    return f"/t/{case.public_id}/"


def post_url(case) -> str:
    return f"/t/{case.public_id}/comments/"


def comment_add(case, author, body="A comment", **kwargs) -> Comment:
    comment, _ = comment_create(case=case, author=author, body=body, **kwargs)
    return comment


@pytest.mark.django_db
def test_anonymous_reader_is_sent_to_log_in(client, published_case):
    response = client.get(thread_url(published_case))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/t/")


@pytest.mark.django_db
def test_anonymous_reader_reads_when_the_setting_allows(client, settings, published_case, member):
    settings.DISCUSSION_REQUIRES_LOGIN = False
    comment_add(published_case, member, "Visible to *all*")
    response = client.get(thread_url(published_case))
    assert response.status_code == 200
    assert b"Visible to <em>all</em>" in response.content
    assert b'name="body"' not in response.content  # reading, not posting
    assert b"to comment" in response.content


@pytest.mark.django_db
def test_article_shows_a_log_in_prompt_instead_of_comments_to_anonymous(
    client, published_case, member
):
    comment_add(published_case, member, "Members only text")
    response = client.get(published_case.get_absolute_url())
    assert response.status_code == 200
    assert b"Members only text" not in response.content
    assert b"The discussion is for members" in response.content
    assert b'href="#thread">1 comment</a>' in response.content


@pytest.mark.django_db
def test_article_page_shows_the_thread_to_a_member(client, published_case, member):
    comment_add(published_case, member, "On the article page")
    client.force_login(member)
    response = client.get(published_case.get_absolute_url())
    assert b"On the article page" in response.content
    assert b'id="comment-form"' in response.content


@pytest.mark.django_db
def test_draft_case_thread_is_404_for_members_and_200_for_staff(client, draft_case, member, staff):
    client.force_login(member)
    assert client.get(thread_url(draft_case)).status_code == 404
    assert client.post(post_url(draft_case), {"body": "x"}).status_code == 404
    client.force_login(staff)
    assert client.get(thread_url(draft_case)).status_code == 200


@pytest.mark.django_db
def test_unknown_thread_is_404(client, member):
    client.force_login(member)
    assert client.get("/t/000000000000/").status_code == 404


@pytest.mark.django_db
def test_thread_page_never_names_the_case_when_opened_from_unknown_mode(client, seed_case, member):
    client.force_login(member)
    comment_add(seed_case, member, "Nice case")
    response = client.get(thread_url(seed_case) + "?from=unknown")
    html = response.content.decode()
    assert response.status_code == 200
    assert seed_case.title not in html
    assert seed_case.slug not in html
    assert "leiomyosarcoma" not in html.lower()
    title = re.search(r"<title>(.*?)</title>", html, re.S)[1]
    assert title.strip() == "Discussion · CaseViewer"


@pytest.mark.django_db
def test_thread_urls_use_the_public_id_not_the_slug(client, published_case, member):
    client.force_login(member)
    comment_add(published_case, member)
    response = client.get(thread_url(published_case), **HX)
    html = response.content.decode()
    for url in re.findall(r'(?:href|action|hx-get|hx-post)="([^"]+)"', html):
        if url.startswith("/t/") or url.startswith("/cases/"):
            assert published_case.slug not in url, url


@pytest.mark.django_db
def test_member_posts_without_javascript_and_is_redirected_to_the_comment(
    client, published_case, member
):
    client.force_login(member)
    response = client.post(
        post_url(published_case), {"body": "**Bold** idea", "key": "a" * 32, "next": ""}
    )
    comment = Comment.objects.get()
    assert response.status_code == 303
    assert (
        response["Location"]
        == f"/t/{published_case.public_id}/comments/{comment.pk}/#c-{comment.pk}"
    )
    assert comment.body_html == "<p><strong>Bold</strong> idea</p>\n"
    assert comment.author == member


@pytest.mark.django_db
def test_no_js_post_returns_to_the_page_it_came_from(client, published_case, member):
    client.force_login(member)
    article = published_case.get_absolute_url()
    response = client.post(post_url(published_case), {"body": "Hi", "next": article})
    comment = Comment.objects.get()
    assert response["Location"] == f"{article}#c-{comment.pk}"


@pytest.mark.django_db
def test_no_js_post_refuses_an_offsite_next(client, published_case, member):
    client.force_login(member)
    response = client.post(
        post_url(published_case), {"body": "Hi", "next": "https://evil.example/"}
    )
    assert "evil" not in response["Location"]


@pytest.mark.django_db
def test_member_posts_with_htmx_and_gets_the_refreshed_thread(client, published_case, member):
    client.force_login(member)
    response = client.post(post_url(published_case), {"body": "Via htmx", "key": "b" * 32}, **HX)
    html = response.content.decode()
    assert response.status_code == 201
    assert html.lstrip().startswith('<section class="discussion" id="thread"')
    assert "Via htmx" in html
    assert "<html" not in html
    # A fresh, empty form with a new key for the next comment.
    assert re.search(r'<textarea name="body"[^>]*></textarea>', html)
    assert 'name="key" value="' + "b" * 32 not in html


@pytest.mark.django_db
def test_invalid_post_keeps_the_text_and_says_why(client, published_case, member):
    client.force_login(member)
    response = client.post(post_url(published_case), {"body": "   ", "view": "9:slice=1"})
    assert response.status_code == 422
    assert b"Write something first." in response.content
    assert b"this case has no figure 9" in response.content
    htmx = client.post(post_url(published_case), {"body": "kept", "view": "bad"}, **HX)
    assert htmx.status_code == 422  # swapped all the same: the htmx-config meta says so
    assert b"kept</textarea>" in htmx.content
    assert Comment.objects.count() == 0


@pytest.mark.django_db
def test_anonymous_post_is_sent_to_log_in_and_saves_nothing(client, published_case):
    response = client.post(post_url(published_case), {"body": "spam"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    htmx = client.post(
        post_url(published_case),
        {"body": "spam"},
        HTTP_HX_CURRENT_URL=f"http://testserver{published_case.get_absolute_url()}",
        **HX,
    )
    assert htmx.status_code == 204
    assert htmx["HX-Redirect"].startswith("/accounts/login/?next=/cases/published-case/")
    assert Comment.objects.count() == 0


@pytest.mark.django_db
def test_get_on_post_only_views_is_405(client, published_case, member):
    client.force_login(member)
    comment = comment_add(published_case, member)
    base = f"/t/{published_case.public_id}"
    for url in [
        f"{base}/comments/",
        f"{base}/preview/",
        f"{base}/follow/",
        f"{base}/comments/{comment.pk}/delete/",
    ]:
        assert client.get(url).status_code == 405, url
    assert client.post(thread_url(published_case)).status_code == 405
    assert client.put(f"{base}/comments/{comment.pk}/edit/").status_code == 405


@pytest.mark.django_db
def test_reply_form_appears_in_place_with_htmx_and_on_a_page_without(
    client, published_case, member, other_member
):
    comment = comment_add(published_case, other_member, "Parent")
    client.force_login(member)
    url = f"/t/{published_case.public_id}/comments/{comment.pk}/reply/"
    fragment = client.get(url, **HX)
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert f'name="parent" value="{comment.pk}"'.encode() in fragment.content
    assert b'id="reply-' in fragment.content
    page = client.get(url)
    assert b"<html" in page.content
    assert b"Parent" in page.content
    assert f'name="parent" value="{comment.pk}"'.encode() in page.content


@pytest.mark.django_db
def test_replies_stay_one_level_deep_and_bump_the_conversation(
    client, published_case, member, other_member
):
    older = comment_add(published_case, member, "Older conversation")
    root = comment_add(published_case, member, "Root")
    Comment.objects.filter(pk=root.pk).update(last_activity=timezone.now() - timedelta(days=2))
    Comment.objects.filter(pk=older.pk).update(last_activity=timezone.now() - timedelta(days=1))
    first_reply = comment_add(published_case, other_member, "First reply", parent=root)
    client.force_login(member)
    client.post(post_url(published_case), {"body": "Reply to reply", "parent": first_reply.pk})
    nested = Comment.objects.get(body="Reply to reply")
    assert nested.parent == root
    html = client.get(thread_url(published_case)).content.decode()
    # Newest activity first: the conversation that just got replies is on top.
    assert html.index("Root") < html.index("Older conversation")
    assert html.index("First reply") < html.index("Reply to reply")


@pytest.mark.django_db
def test_thread_pages_after_fifty_conversations(client, published_case, member):
    now = timezone.now()
    Comment.objects.bulk_create(
        Comment(
            case=published_case,
            author=member,
            body=f"Comment number {i}",
            body_html=f"<p>Comment number {i}</p>",
            created=now - timedelta(minutes=i),
            last_activity=now - timedelta(minutes=i),
        )
        for i in range(55)
    )
    client.force_login(member)
    first = client.get(thread_url(published_case)).content.decode()
    assert first.count('class="comment') >= 50
    assert "Comment number 0<" in first and "Comment number 49<" in first
    assert "Comment number 50<" not in first
    assert "Page 1 of 2" in first
    second = client.get(thread_url(published_case) + "?page=2", **HX).content.decode()
    assert "Comment number 54<" in second and "Comment number 49<" not in second
    assert "<html" not in second
    assert "(55)" in second  # the count covers every page


@pytest.mark.django_db
def test_thread_query_count_does_not_grow_with_comments(
    client, published_case, member, other_member, django_assert_max_num_queries
):
    client.force_login(member)
    for i in range(3):
        root = comment_add(published_case, member, f"c{i}")
        comment_add(published_case, other_member, f"r{i}", parent=root)
    with django_assert_max_num_queries(12) as few:
        client.get(thread_url(published_case))
    for i in range(20):
        root = comment_add(published_case, member, f"more{i}")
        comment_add(published_case, other_member, f"reply{i}", parent=root)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(thread_url(published_case))


@pytest.mark.django_db
def test_permalink_shows_the_conversation_with_the_comment(
    client, published_case, member, other_member
):
    root = comment_add(published_case, member, "The root")
    reply = comment_add(published_case, other_member, "The reply", parent=root)
    comment_add(published_case, member, "Unrelated")
    client.force_login(member)
    response = client.get(reply.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert reply.get_absolute_url() == f"/t/{published_case.public_id}/comments/{reply.pk}/"
    assert f'id="c-{reply.pk}"' in html and "The root" in html
    assert "Unrelated" not in html
    assert published_case.title not in html
    other_case = case_build(slug="other")
    assert client.get(f"/t/{other_case.public_id}/comments/{reply.pk}/").status_code == 404


@pytest.mark.django_db
def test_library_counts_visible_comments_in_constant_queries(client, published_case, member):
    for i in range(3):
        comment_add(published_case, member, f"c{i}")
    hidden = comment_add(published_case, member, "hidden")
    Comment.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    second = case_build(slug="second")
    response = client.get("/")
    html = response.content.decode()
    assert "3 comments" in html and "0 comments" in html
    # The same number of queries with more cases and comments.
    with CaptureQueriesContext(connection) as before:
        client.get("/")
    for i in range(5):
        comment_add(second, member, f"s{i}")
    case_build(slug="third")
    client.get("/")  # the library caches its counts until an edit: warm it, as "before" was
    with CaptureQueriesContext(connection) as after:
        client.get("/")
    assert len(after.captured_queries) == len(before.captured_queries)


@pytest.mark.django_db
def test_posting_follows_the_thread_and_unfollow_sticks(client, published_case, member):
    client.force_login(member)
    client.post(post_url(published_case), {"body": "one"})
    assert Follow.objects.get(case=published_case, user=member).active
    response = client.post(f"/t/{published_case.public_id}/follow/", {"following": "0"}, **HX)
    assert b"Follow this discussion" in response.content
    assert b"<html" not in response.content
    client.post(post_url(published_case), {"body": "two"})
    assert not Follow.objects.get(case=published_case, user=member).active
    response = client.post(f"/t/{published_case.public_id}/follow/", {"following": "1"})
    assert response.status_code == 303
    assert Follow.objects.get(case=published_case, user=member).active


@pytest.mark.django_db
def test_csrf_is_enforced_on_posting(published_case, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    refused = client.post(post_url(published_case), {"body": "no token"})
    assert refused.status_code == 403
    page = client.get(thread_url(published_case))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)[1].decode()
    accepted = client.post(
        post_url(published_case), {"body": "with token", "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code == 303
    # htmx sends the token in a header, from hx-headers on <body>.
    header_token = re.search(rb'"X-CSRFToken": "([^"]+)"', page.content)[1].decode()
    via_header = client.post(
        post_url(published_case), {"body": "by htmx"}, HTTP_X_CSRFTOKEN=header_token, **HX
    )
    assert via_header.status_code == 201
    assert list(Comment.objects.values_list("body", flat=True).order_by("pk")) == [
        "with token",
        "by htmx",
    ]


@pytest.mark.django_db
def test_a_member_who_left_shows_as_former_member(client, published_case, member):
    leaver = member_build("leaver")
    comment_add(published_case, leaver, "Before leaving")
    leaver.delete()
    client.force_login(member)
    html = client.get(thread_url(published_case)).content.decode()
    assert "Before leaving" in html and "former member" in html


@pytest.mark.django_db
def test_other_pages_include_the_thread_with_thread_context(rf, seed_case, member):
    """The interface unknown mode uses: no case title, slug or diagnosis in the fragment."""
    from django.template import engines

    from cases.discussion.context import thread_context

    comment_add(seed_case, member, "Seen at the discussion step")
    request = rf.get("/u/whatever/6/")
    request.user = member
    request.htmx = False
    template = engines["django"].from_string('{% include "cases/discussion/thread.html#thread" %}')
    html = template.render(thread_context(request, seed_case), request)
    assert "Seen at the discussion step" in html
    assert f'action="/t/{seed_case.public_id}/comments/"' in html
    assert 'name="next" value="/u/whatever/6/"' in html
    assert seed_case.title not in html and seed_case.slug not in html
    assert "leiomyosarcoma" not in html.lower()
