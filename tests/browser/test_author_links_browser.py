"""In the browser: the article's "(Fig. 5)" jumps to figure 5; the presenter drags a target."""

from __future__ import annotations

import pytest

from tests.browser.test_conference_browser import _login, _until, head_ct_conference  # noqa: F401
from tests.conftest import SEED_ARTICLE

pytestmark = pytest.mark.django_db(transaction=True)


def _in_view(page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector).getBoundingClientRect();
            return box.top >= -2 && box.top < window.innerHeight / 2;
        }""",
        selector,
    )


@pytest.mark.parametrize("width", [1440, 390])
def test_a_figure_citation_scrolls_to_its_figure(browser, live_server, screenshot_dir, width):
    from cases.importers.article import article_import

    case = article_import(path=SEED_ARTICLE)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(live_server.url + case.get_absolute_url())
        report = page.locator("section[aria-labelledby=case-report-h]")
        report.screenshot(path=str(screenshot_dir / f"article-links-{width}.png"))
        page.locator("section[aria-labelledby=discussion-h] p").nth(4).screenshot(
            path=str(screenshot_dir / f"article-references-{width}.png")
        )
        page.evaluate("window.scrollTo(0, 0)")
        assert not _in_view(page, "#figure-5")
        citation = page.locator('a.xref[href="#figure-5"]').first
        assert citation.inner_text() == "5"
        citation.click()
        _until(page, "location.hash === '#figure-5'")
        _until(page, "document.querySelector('#figure-5').getBoundingClientRect().top < 200")
        assert _in_view(page, "#figure-5")
        page.screenshot(path=str(screenshot_dir / f"article-figure-5-{width}.png"))
        # An abbreviation explains itself to the keyboard too.
        page.locator('abbr[title="Computed tomography"]').focus()
        after = page.evaluate(
            "getComputedStyle(document.querySelector('abbr[title]:focus'), '::after').content"
        )
        assert "Computed tomography" in after
    finally:
        context.close()


def test_the_presenter_drags_a_target_and_the_results_outline_it(
    browser,
    live_server,
    head_ct_conference,  # noqa: F811
    screenshot_dir,
):
    from cases.conference import services
    from cases.conference.models import Question

    presenter, conference = head_ct_conference
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)
    console_context = _login(
        browser, live_server, presenter, viewport={"width": 1440, "height": 1000}
    )
    console = console_context.new_page()
    rooms = [browser.new_context(viewport={"width": 390, "height": 844}) for _ in range(3)]
    try:
        console.goto(f"{live_server.url}/conference/{conference.code}/")
        console.get_by_role("button", name="Ask to click the finding").click()
        canvas = console.locator("[data-target-canvas]")
        canvas.wait_for()
        _until(console, "document.querySelector('[data-target-image]').naturalWidth > 0")
        box = canvas.bounding_box()
        # Drag across the left half's middle: 10-50% across, 30-70% down.
        console.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.3)
        console.mouse.down()
        console.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        console.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.7)
        console.mouse.up()
        assert console.locator("[data-target-overlay] ellipse").count() == 1
        assert abs(float(console.locator("#target-left").input_value()) - 10) < 1.5
        assert abs(float(console.locator("#target-width").input_value()) - 40) < 1.5
        console.get_by_role("button", name="Add target region").click()
        console.wait_for_selector("text=1 region outlined")
        question = Question.objects.get(kind="click")
        assert len(question.targets) == 1 and question.targets[0]["shape"] == "ellipse"
        for n, (fx, fy) in enumerate([(0.3, 0.5), (0.32, 0.48), (0.8, 0.2)]):
            room = rooms[n].new_page()
            room.goto(f"{live_server.url}/c/{conference.code}/")
            target = room.locator("[data-click-answer]")
            area = target.bounding_box()
            target.click(position={"x": area["width"] * fx, "y": area["height"] * fy})
            room.wait_for_selector("text=Your click is in")
        console.wait_for_selector("#console-panel >> text=67% inside the target", timeout=5000)
        _until(console, "document.querySelector('#console-panel img.heatmap').naturalWidth > 0")
        console.locator("#console-panel").screenshot(
            path=str(screenshot_dir / "conference-target-results.png")
        )
        console.screenshot(path=str(screenshot_dir / "conference-target-console.png"))
    finally:
        console_context.close()
        for context in rooms:
            context.close()
