"""The main pages at 1440, 1024 and 390 px (screenshots in test-artifacts/layouts/), nothing
wider than a 390-px phone; the themes: dark by default, light a click away and remembered,
applied before the first paint; the article's print layout."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.browser.a11y import horizontal_overflow

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (1440, 1024, 390)


@pytest.fixture
def demo(db):
    from cases.conference import services
    from cases.models import Case

    call_command("load_demo", verbosity=0)
    seed = Case.objects.get(external_id="doi:10.3941/jrcr.v5i6.626")
    staff = seed.__class__._meta.apps.get_model("auth", "User").objects.get(username="admin")
    conference = services.conference_create(title="Friday", presenter=staff, cases=[seed])
    services.conference_start(conference)
    return seed, Case.objects.get(slug="sample-head-ct-series"), conference


def test_main_pages_fit_every_width_and_are_photographed(
    browser, live_server, demo, screenshot_dir
):
    seed, head_ct, conference = demo
    base = live_server.url
    pages = {
        "library": f"{base}/",
        "article": f"{base}{seed.get_absolute_url()}",
        "viewer": f"{base}{head_ct.get_absolute_url()}figures/1/",
        "unknown-library": f"{base}/u/",
        "unknown-step-1": f"{base}/u/{seed.public_id}/",
        "unknown-step-2": f"{base}/u/{seed.public_id}/2/",
        "conference-audience": f"{base}/c/{conference.code}/",
        "login": f"{base}/accounts/login/",
    }
    folder = screenshot_dir / "layouts"
    folder.mkdir(exist_ok=True)
    overflowing = {}
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            for name, url in pages.items():
                assert page.goto(url).ok, url
                path = folder / f"{name}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                assert path.stat().st_size > 5_000, path
                if width == 390 and (wide := horizontal_overflow(page)):
                    overflowing[name] = wide
        finally:
            context.close()
    assert not overflowing, overflowing


def test_dark_by_default_light_a_click_away_and_remembered(browser, live_server, demo):
    seed, _, _ = demo
    context = browser.new_context()
    # Note the theme at the moment <body> is parsed, before anything in it can be painted.
    context.add_init_script(
        """new MutationObserver((_, observer) => {
            if (document.body) {
                window.__themeAtBody = document.documentElement.getAttribute('data-theme');
                observer.disconnect();
            }
        }).observe(document, {childList: true, subtree: true});"""
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}{seed.get_absolute_url()}")
        html = page.locator("html")
        assert html.get_attribute("data-theme") == "dark"
        dark_bg = html.evaluate("el => getComputedStyle(el).backgroundColor")
        toggle = page.get_by_role("button", name="Light theme")
        assert toggle.get_attribute("aria-pressed") == "false"
        toggle.click()
        assert html.get_attribute("data-theme") == "light"
        assert toggle.get_attribute("aria-pressed") == "true"
        light_bg = html.evaluate("el => getComputedStyle(el).backgroundColor")
        assert light_bg != dark_bg and light_bg == "rgb(246, 246, 244)"

        # Remembered across pages, and on <html> as the server sends the page: no script has
        # to run before the first paint, so none in <head> blocks the parser.
        page.goto(f"{live_server.url}/")
        assert html.get_attribute("data-theme") == "light"
        seen_at_body = page.evaluate("() => window.__themeAtBody")
        assert seen_at_body == "light"
        for script in page.locator("head script[src]").all():
            assert script.get_attribute("defer") is not None, script.get_attribute("src")
        response = page.request.get(f"{live_server.url}/")
        assert '<html lang="en" data-theme="light">' in response.text()

        page.get_by_role("button", name="Light theme").click()
        page.reload()
        assert html.get_attribute("data-theme") == "dark"
    finally:
        context.close()


def test_a_theme_remembered_before_the_cookie_is_kept(browser, live_server, demo):
    """A reader whose light theme was kept in localStorage only (before the cookie) keeps it."""
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('caseviewer-theme', 'light')")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        assert page.locator("html").get_attribute("data-theme") == "light"
        assert {"name": "theme", "value": "light"}.items() <= next(
            c for c in context.cookies() if c["name"] == "theme"
        ).items()
        assert 'data-theme="light"' in page.request.get(f"{live_server.url}/u/").text()
    finally:
        context.close()


def test_without_javascript_the_theme_toggle_is_not_offered(browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        assert page.locator("html").get_attribute("data-theme") == "dark"
        assert not page.locator(".theme-toggle").is_visible()
    finally:
        context.close()


def test_article_prints_whole_figures_and_link_addresses(page, live_server, demo, screenshot_dir):
    seed, _, _ = demo
    page.goto(f"{live_server.url}{seed.get_absolute_url()}")
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible()
    assert not page.locator(".viewer-controls").first.is_visible()
    figure = page.locator(".case-figure").first
    assert figure.evaluate("el => getComputedStyle(el).breakInside") == "avoid"
    assert (
        page.locator(".case-table").first.evaluate("el => getComputedStyle(el).breakInside")
        == "avoid"
    )
    external = page.locator(".references a[href^='http']").first
    after = external.evaluate("el => getComputedStyle(el, '::after').content")
    assert external.get_attribute("href") in after
    assert page.locator("html").evaluate("el => getComputedStyle(el).backgroundColor") in (
        "rgb(255, 255, 255)",
    )
    pdf = screenshot_dir / "article.pdf"
    page.pdf(path=str(pdf))
    assert pdf.stat().st_size > 20_000
