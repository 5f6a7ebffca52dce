"""A figure's page is its picture first: asked for ahead of everything, and no script is
fetched or run until the page (the picture) has loaded; then the viewer works as ever."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_viewer_browser import head_ct as head_ct  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)

# At the picture's load event: is any script of ours running yet?
AT_PICTURE_LOAD = """
window.__atPicture = null;
document.addEventListener('load', (event) => {
    if (window.__atPicture === null && event.target.matches
        && event.target.matches('img.viewer-image')) {
        window.__atPicture = {htmx: typeof window.htmx, at: performance.now()};
    }
}, true);
"""


def test_the_figure_page_runs_its_scripts_after_its_picture(live_server, page, head_ct):
    page.context.add_init_script(AT_PICTURE_LOAD)
    page.goto(f"{live_server.url}/cases/head-ct/figures/1/?slice=3")
    timings = page.evaluate(
        """() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const entries = performance.getEntriesByType('resource');
            const scripts = entries.filter(e => e.initiatorType === 'script'
                                             || new URL(e.name).pathname.endsWith('.js'));
            const picture = entries.find(e => new URL(e.name).pathname.startsWith('/img/'));
            return {
                load: nav.loadEventStart,
                picture: picture.startTime,
                firstScript: Math.min(...scripts.filter(e => !e.name.includes('after_load'))
                                               .map(e => e.startTime)),
                stylesheet: Math.min(...entries.filter(e => e.name.endsWith('.css'))
                                               .map(e => e.startTime)),
            };
        }"""
    )
    at_picture = page.evaluate("window.__atPicture")
    assert at_picture["htmx"] == "undefined"
    # The picture is asked for first; the page's scripts only once it has loaded.
    assert timings["picture"] <= timings["stylesheet"], timings
    assert timings["firstScript"] >= timings["load"], timings
    # And then the viewer is the viewer: its tools are there and a key steps a slice.
    expect(page.get_by_role("toolbar", name="Tools for Figure 1")).to_be_visible()
    page.focus("#viewer-1")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#viewer-1-position output")).to_have_text("4")


def test_the_article_runs_its_scripts_as_usual(live_server, page, head_ct):
    """Pages that are more than one picture keep their deferred scripts."""
    page.goto(f"{live_server.url}{head_ct.get_absolute_url()}")
    assert page.locator("#scripts-after-load").count() == 0
    assert page.evaluate("typeof window.htmx") == "object"


def test_the_picture_does_not_move_when_the_tools_appear(live_server, browser, head_ct):
    """The tools appear once the scripts run, after the picture: their place is kept."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(
        AT_PICTURE_LOAD.replace(
            "window.__atPicture = {htmx: typeof window.htmx, at: performance.now()};",
            # Its first frame: the stylesheets may arrive after the picture, and no frame
            # is drawn before they do.
            "window.__atPicture = {}; const img = event.target; requestAnimationFrame("
            "() => { window.__atPicture.top = img.getBoundingClientRect().top; });",
        )
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/cases/head-ct/figures/1/")
        expect(page.get_by_role("toolbar", name="Tools for Figure 1")).to_be_visible()
        before = page.evaluate("window.__atPicture.top")
        after = page.evaluate(
            "document.querySelector('#viewer-1 img.viewer-image').getBoundingClientRect().top"
        )
        assert after == before
    finally:
        context.close()
