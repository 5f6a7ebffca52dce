"""On a 390-px phone: the library's first result on the first screen (filters folded), wide
tables scrolling in their own box, and the presenter console within the screen with its QR code
whole. Screenshots at 1440 and 390 px in test-artifacts/phone/."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser.test_conference_browser import _login

pytestmark = pytest.mark.django_db(transaction=True)

CT_BOX = '.facets input[name="modality"][value="ct"]'
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}
WIDE_TABLE = "\n".join(
    [
        "| " + " | ".join(f"Measurement column {i}" for i in range(8)) + " |",
        "|" + "---|" * 8,
        "| " + " | ".join(f"value-{i}-abcdefgh" for i in range(8)) + " |",
    ]
)


@pytest.fixture
def demo(db):
    """The demo library (many filters), its seed article with a wide Markdown table added,
    and a live conference."""
    from django.contrib.auth import get_user_model

    from cases.conference import services
    from cases.models import Case

    call_command("load_demo", verbosity=0)
    seed = Case.objects.get(external_id="doi:10.3941/jrcr.v5i6.626")
    seed.findings = f"{seed.findings}\n\n{WIDE_TABLE}"
    seed.save()
    admin = get_user_model().objects.get(username="admin")
    conference = services.conference_create(title="Friday", presenter=admin, cases=[seed])
    services.conference_start(conference)
    return seed, conference, admin


@pytest.fixture
def folder(screenshot_dir):
    path = screenshot_dir / "phone"
    path.mkdir(exist_ok=True)
    return path


def test_library_filters_fold_on_a_phone_so_the_first_result_shows(
    browser, live_server, demo, folder
):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        first = page.locator(".case-card").first
        assert first.bounding_box()["y"] < PHONE["height"] - 100  # its title is on screen
        assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
        ct = page.locator(CT_BOX)
        expect(ct).to_be_hidden()
        page.screenshot(path=str(folder / "library-390.png"))

        # A tap opens them; a ticked filter swaps the results and they stay open.
        page.get_by_text("Filters", exact=True).click()
        expect(ct).to_be_visible()
        ct.check()
        expect(page).to_have_url(f"{live_server.url}/?q=&sort=&modality=ct")
        expect(page.locator(CT_BOX)).to_be_checked()
        expect(page.locator(CT_BOX)).to_be_visible()
        page.screenshot(path=str(folder / "library-390-filters.png"))
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False])
def test_library_filters_are_open_on_a_wide_screen(browser, live_server, demo, folder, javascript):
    context = browser.new_context(viewport=WIDE, java_script_enabled=javascript)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        expect(page.locator(CT_BOX)).to_be_visible()
        expect(page.get_by_text("Filters", exact=True)).to_be_hidden()
        if javascript:
            page.screenshot(path=str(folder / "library-1440.png"))
    finally:
        context.close()


def test_wide_article_tables_scroll_in_their_own_box(browser, live_server, demo, folder):
    seed, _, _ = demo
    for viewport in (PHONE, WIDE):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}{seed.get_absolute_url()}")
            width = viewport["width"]
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width
            boxes = page.locator(".table-scroll")
            assert boxes.count() == 3  # the article's two tables and the Markdown one
            markdown_box = page.locator(".table-scroll:has(table:not(.case-table))")
            assert markdown_box.evaluate("(box) => box.scrollWidth > box.clientWidth")
            markdown_box.scroll_into_view_if_needed()
            page.screenshot(path=str(folder / f"article-table-{width}.png"))
        finally:
            context.close()


def test_presenter_console_fits_a_phone_with_the_whole_qr_code(browser, live_server, demo, folder):
    _, conference, admin = demo
    for viewport in (PHONE, WIDE):
        context = _login(browser, live_server, admin, viewport=viewport)
        page = context.new_page()
        try:
            page.goto(f"{live_server.url}/conference/{conference.code}/")
            width = viewport["width"]
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width
            qr = page.locator(".qr svg").bounding_box()
            assert qr["x"] >= 0 and qr["x"] + qr["width"] <= width, qr
            assert qr["width"] >= 80  # still big enough to scan
            page.screenshot(path=str(folder / f"console-{width}.png"))
        finally:
            context.close()
