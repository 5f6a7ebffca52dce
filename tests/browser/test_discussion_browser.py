"""A member signs in, previews and posts a comment with a script payload, and replies in place."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

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


def test_report_with_errors_stays_beside_the_comment_and_a_corrected_one_is_saved(
    live_server, browser, screenshot_dir
):
    from cases.discussion.models import Report
    from cases.discussion.services import comment_create
    from tests.browser.test_conference_browser import _login

    case = case_build(slug="report-case", title="Report case")
    author = member_build("author1")
    reader = member_build("reader")
    comment = comment_create(case=case, author=author, body="Patient name: J. Smith")[0]
    context = _login(browser, live_server, reader, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    # Chromium's network log of the expected 422 is not a script's error: everything else is.
    expected_422 = "the server responded with a status of 422"
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type in ("error", "warning") and expected_422 not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server.url}/t/{case.public_id}/")
        page.wait_for_function("window.htmx !== undefined")
        page.evaluate("window.__marker = 'same page'")

        # The preview, without a console error from its disabled-while-sending button.
        form = page.locator("#comment-form")
        form.get_by_label("Add a comment").fill("A *preview*")
        form.get_by_role("button", name="Preview").click()
        page.locator("#comment-form-preview .preview-box em").wait_for()

        article = page.locator(f"#c-{comment.pk}")
        article.get_by_role("link", name="Report").click()
        report = article.locator("form.report-form")
        report.wait_for()
        assert report.get_by_role("radio").count() == 5  # no blank choice
        # Sent with no reason (as a browser without validation would): the errors come back
        # beside the comment, which stays.
        report.evaluate("(form) => { form.noValidate = true; }")
        report.get_by_label("Anything to add?").fill("It names the patient")
        report.get_by_role("button", name="Send to the moderators").click()
        expect(article.locator(".report-form .errors")).to_have_text(
            "Choose what is wrong with this comment."
        )
        expect(article.locator(".comment-body")).to_have_text("Patient name: J. Smith")
        assert article.get_by_label("Anything to add?").input_value() == "It names the patient"
        article.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "discussion-report-error-1440.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        article.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "discussion-report-error-390.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

        # Corrected, it is saved and the comment says thank you.
        article.get_by_label("Identifiable patient information").check()
        article.get_by_role("button", name="Send to the moderators").click()
        expect(article.get_by_role("status")).to_contain_text("The moderators will look")
        assert page.evaluate("window.__marker") == "same page"
        report_saved = Report.objects.get()
        assert (report_saved.reason, report_saved.note) == ("patient", "It names the patient")
        assert errors == []
    finally:
        context.close()
