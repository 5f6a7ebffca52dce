"""Chromium enforces the Content Security Policy: the article, an unknown step, the admin's
change form, a discussion and a live conference work under it and report no violation."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import SEED_ARTICLE

pytestmark = pytest.mark.django_db(transaction=True)

LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber} (${document.location.pathname})`);
});
"""


@pytest.fixture
def violations(page) -> list[str]:
    """Every CSP violation on any page this test opens, from the DOM event and the console."""
    seen: list[str] = []
    page.expose_function("cspViolation", lambda text: seen.append(text))
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda message: (
            seen.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return seen


def test_pages_and_the_admin_work_under_the_policy(live_server, page, violations, staff):
    from cases.imaging.ingest import slice_create_from_bytes
    from cases.importers.article import article_import
    from cases.models import Figure

    case = article_import(path=SEED_ARTICLE, unknown_title="52-year-old woman with a lump")
    figure = Figure.objects.create(case=case, number=20, caption="A real image", reveal_step=2)
    for position in range(3):
        buffer = io.BytesIO()
        Image.new("L", (64, 64), 40 * position).save(buffer, format="PNG")
        slice_create_from_bytes(
            figure=figure, name=f"s{position}.png", data=buffer.getvalue(), position=position
        )

    # The article, with the viewer working: a slice image loads and scrolls.
    page.goto(f"{live_server.url}/cases/{case.slug}/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Local recurrence")
    page.goto(f"{live_server.url}/cases/{case.slug}/figures/20/")
    page.wait_for_function(
        "[...document.images].some((img) => img.complete && img.naturalWidth > 0)"
    )
    page.evaluate("window.marker = 'same page'")
    page.focus("#viewer-20")
    page.keyboard.press("End")  # viewer.js and htmx swap in the last slice
    page.wait_for_function("new URLSearchParams(location.search).get('slice') === '3'")
    assert page.evaluate("window.marker") == "same page", "the viewer reloaded the page"

    # An unknown case: step 1, then htmx swaps in step 2 (scripts and htmx run).
    page.goto(f"{live_server.url}/u/{case.public_id}/")
    page.evaluate("window.marker = 'same page'")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{live_server.url}/u/{case.public_id}/2/")
    assert page.evaluate("window.marker") == "same page", "htmx did not swap the step"

    # The admin: log in through its form, open the case's change form, add an inline row.
    page.goto(f"{live_server.url}/admin/login/?next=/admin/cases/case/{case.pk}/change/")
    page.get_by_label("Username").fill("author")
    page.get_by_label("Password").fill("author-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/admin/cases/case/{case.pk}/change/")
    page.wait_for_load_state("networkidle")
    rows = page.locator(".dynamic-authors").count()
    page.locator("#authors-group .add-row a").click()
    assert page.locator(".dynamic-authors").count() == rows + 1, "admin inline JS did not run"
    page.goto(f"{live_server.url}/admin/cases/figure/{figure.pk}/change/")
    page.wait_for_load_state("networkidle")

    assert violations == []

    # The listener itself works: an injected inline script is blocked and reported.
    page.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        "document.body.append(s);"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None
    assert any("script-src" in v for v in violations), violations


def _textarea_resize(page, selector: str) -> None:
    """Drag a textarea's corner, as a reader does: Chromium writes its new height in a style
    attribute, which an htmx swap must not copy onto the fresh textarea (the CSP forbids it)."""
    box = page.locator(selector).bounding_box()
    corner_x, corner_y = box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
    page.mouse.move(corner_x, corner_y)
    page.mouse.down()
    page.mouse.move(corner_x, corner_y + 80)
    page.mouse.up()
    assert "height" in (page.locator(selector).get_attribute("style") or "")


def test_discussion_and_conference_pages_work_under_the_policy(
    live_server, browser, django_user_model
):
    from cases.conference import services
    from cases.discussion.services import comment_create
    from tests.browser.test_conference_browser import _login
    from tests.conftest import case_build, member_build

    case = case_build(slug="csp-case", title="CSP case", unknown_title="A cough")
    comment = comment_create(case=case, author=member_build("author1"), body="First")[0]
    presenter = django_user_model.objects.create_user("presenter", is_staff=True)
    conference = services.conference_create(title="Friday", presenter=presenter, cases=[case])
    seen: list[str] = []

    def watched(user):
        context = _login(browser, live_server, user, viewport={"width": 1280, "height": 900})
        context.expose_function("cspViolation", lambda text: seen.append(text))
        context.add_init_script(LISTEN)
        context.on(
            "console",
            lambda m: (
                seen.append(f"console: {m.text}") if "Content Security Policy" in m.text else None
            ),
        )
        return context, context.new_page()

    # The thread: a resized comment box through a refused post, a preview, a post, a report.
    context, page = watched(member_build("reader"))
    try:
        page.goto(f"{live_server.url}/t/{case.public_id}/")
        page.wait_for_load_state("networkidle")
        _textarea_resize(page, "#comment-form-body")
        form = page.locator("#comment-form")
        form.evaluate("(form) => { form.noValidate = true; }")
        form.get_by_role("button", name="Post comment").click()
        page.locator("#comment-form .errors").wait_for()
        form = page.locator("#comment-form")
        form.locator("textarea").fill("A **second** comment")
        form.get_by_role("button", name="Preview").click()
        page.locator("#comment-form-preview .preview-box").wait_for()
        form.get_by_role("button", name="Post comment").click()
        page.locator("#thread-h", has_text="(2)").wait_for()
        page.locator(f"#c-{comment.pk}").get_by_role("link", name="Report").click()
        page.locator(f"#c-{comment.pk} .report-form").wait_for()
        page.wait_for_load_state("networkidle")
    finally:
        context.close()

    # The presenter's console and the room.
    context, page = watched(presenter)
    try:
        page.goto(f"{live_server.url}/conference/")
        page.goto(f"{live_server.url}/conference/{conference.code}/")
        page.get_by_role("button", name="Start").click()
        page.locator("[data-status=live]").wait_for()
        _textarea_resize(page, "#poll-options")
        page.locator("#poll-options").fill("Pneumonia\nCancer")
        page.get_by_role("button", name="Open poll").click()
        page.get_by_role("button", name="Show results to the room").wait_for()
        room = context.new_page()
        room.goto(f"{live_server.url}/c/{conference.code}/")
        room.get_by_role("button", name="Pneumonia").wait_for()
        room.wait_for_timeout(1500)  # a round of live polling
        page.goto(f"{live_server.url}/conference/{conference.code}/summary/")
        page.wait_for_load_state("networkidle")
    finally:
        context.close()

    assert seen == []
