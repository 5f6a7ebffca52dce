"""Chromium enforces the Content Security Policy: the article, an unknown step and the admin's
change form work under it and report no violation."""

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
