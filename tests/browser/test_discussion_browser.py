"""A member signs in, previews and posts a comment with a script payload, and replies in place."""

from __future__ import annotations

import pytest

from tests.conftest import case_build, member_build

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOAD = (
    "**Bold claim** <script>window.__pwned = 1; alert('x')</script> "
    '<img src=x onerror="window.__pwned = 2"> [click me](javascript:window.__pwned=3) '
    "[slice 2](/cases/thread-case/figures/1/?slice=2)"
)


def test_member_posts_with_preview_and_replies_in_place(live_server, page, screenshot_dir):
    case = case_build(slug="thread-case", title="Thread case")
    member_build("reader")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.url}/accounts/login/?next={case.get_absolute_url()}")
    page.get_by_label("Login").fill("reader")
    page.get_by_label("Password").fill("reader-pass-123")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"**{case.get_absolute_url()}")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__marker = 'same page'")

    form = page.locator("#comment-form")
    form.get_by_label("Add a comment").fill(PAYLOAD)
    form.get_by_role("button", name="Preview").click()
    preview = page.locator("#comment-form-preview .preview-box")
    preview.wait_for()
    assert preview.locator("strong").inner_text() == "Bold claim"
    assert preview.locator("a.view-chip").inner_text().endswith("Figure 1 · slice 2")

    form.get_by_role("button", name="Post comment").click()
    comment = page.locator("#thread .conversation article.comment").first
    comment.wait_for()
    assert "Bold claim" in comment.locator(".comment-body").inner_text()
    # The payload is inert: shown as text where it was text, never run.
    assert "<script>" in comment.locator(".comment-body").inner_text()
    assert comment.locator(".comment-body img, .comment-body script").count() == 0
    assert comment.get_by_role("link", name="click me").count() == 0
    assert page.locator("#thread-h").inner_text() == "Comments (1)"
    assert page.locator("#comment-form textarea").input_value() == ""  # a fresh form

    comment.get_by_role("link", name="Reply").click()
    reply_form = page.locator(".reply-slot form")
    reply_form.wait_for()
    reply_form.get_by_label("Your reply").fill("Agreed, *see* slice 2.")
    reply_form.get_by_role("button", name="Post reply").click()
    reply = page.locator("#thread .replies article.comment")
    reply.wait_for()
    assert reply.locator("em").inner_text() == "see"
    assert page.locator("#thread-h").inner_text() == "Comments (2)"

    assert page.evaluate("window.__marker") == "same page"  # all in place, no reload
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    page.locator("#thread").scroll_into_view_if_needed()
    page.locator("#thread").screenshot(path=str(screenshot_dir / "discussion-thread.png"))
