"""Keyboard only, no mouse: an unknown case, the stack viewer and posting a comment.

Every move is a key press; focus is reached with Tab and must be visible where it lands.
"""

from __future__ import annotations

import pytest

from tests.browser.a11y import login_context
from tests.conftest import SEED_ARTICLE, member_build

pytestmark = pytest.mark.django_db(transaction=True)


def _tab_to(page, locator, *, limit: int = 80, shift: bool = False) -> None:
    """Press Tab until ``locator`` has the focus, and check the focus is visible there."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if shift else "Tab")
        if locator.evaluate("el => el === document.activeElement"):
            outline = locator.evaluate(
                "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
            )
            assert outline[0] != "none" and outline[1] != "0px", f"focus not visible: {outline}"
            return
    raise AssertionError(f"Tab never reached {locator}")


def test_unknown_case_from_the_library_to_the_diagnosis_by_keyboard(live_server, page):
    from cases.importers.article import article_import

    case = article_import(path=SEED_ARTICLE, unknown_title="52-year-old woman with a lump")
    case.diagnosis_synonyms = "Metastatic leiomyosarcoma"
    case.save()
    base = f"{live_server.url}/u/{case.public_id}"
    page.goto(f"{live_server.url}/u/")

    # The first Tab lands on the skip link, which takes the focus past the site header.
    page.keyboard.press("Tab")
    assert page.locator(".skip").evaluate("el => el === document.activeElement")
    _tab_to(page, page.get_by_role("link", name="52-year-old woman with a lump"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    _tab_to(page, page.get_by_role("link", name="Next →"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/2/")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/3/")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/4/")
    field = page.get_by_label("1. Most likely")
    _tab_to(page, field)
    page.keyboard.type("Metastatic leiomyosarcoma")
    page.keyboard.press("Enter")
    page.get_by_text("The author's differential").first.wait_for()
    _tab_to(page, page.get_by_role("link", name="Next →"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/5/")
    assert "Your first choice was right." in page.locator("#unknown-step").inner_text()


def test_stack_viewer_by_keyboard(live_server, page):
    from cases.importers.dicom import dicom_import
    from cases.models import Case
    from tests.conftest import DEMO_DIR

    case = Case.objects.create(
        slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED, history="Fell."
    )
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip", caption="Head CT.")
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/")
    overlay = page.locator(".viewer-overlay")
    assert "Im 15/28" in overlay.inner_text()  # the middle slice first

    _tab_to(page, page.locator("#viewer-1"))
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.locator(".viewer-overlay", has_text="Im 18/28").wait_for()
    page.keyboard.press("End")
    page.locator(".viewer-overlay", has_text="Im 28/28").wait_for()
    page.keyboard.press("i")
    page.locator(".viewer-overlay", has_text="Inverted").wait_for()
    assert page.get_by_role("link", name="Invert").get_attribute("aria-current") == "true"
    zoom = page.locator(".zoom-level").inner_text()
    page.keyboard.press("+")
    page.locator(".zoom-level").filter(has_not_text=zoom).wait_for()

    # The slice slider is a plain form control: arrows on it move one slice too.
    _tab_to(page, page.locator("[data-slider]"), shift=True)
    page.keyboard.press("Home")
    page.locator(".viewer-overlay", has_text="Im 1/28").wait_for()


def test_post_a_comment_by_keyboard(browser, live_server):
    from tests.conftest import case_build

    case = case_build(slug="thread-case", title="Thread case")
    member = member_build("reader")
    context = login_context(browser, live_server, member)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}{case.get_absolute_url()}")
        box = page.get_by_label("Add a comment")
        _tab_to(page, box)
        page.keyboard.type("Keyboard only: **no mouse** was used.")
        _tab_to(page, page.get_by_role("button", name="Post comment"))
        page.keyboard.press("Enter")
        comment = page.locator("#thread article.comment").first
        comment.wait_for()
        assert comment.locator(".comment-body strong").inner_text() == "no mouse"
        assert page.locator("#thread-h").inner_text() == "Comments (1)"
    finally:
        context.close()
