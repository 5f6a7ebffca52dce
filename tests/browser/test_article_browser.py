from __future__ import annotations

import pytest

from tests.conftest import SEED_ARTICLE

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_article_shows_figures_and_both_tables(live_server, page, screenshot_dir):
    from cases.importers.article import article_import

    case = article_import(path=SEED_ARTICLE)
    page.goto(live_server.url + case.get_absolute_url())

    assert page.get_by_role("heading", level=1).inner_text().startswith("Local recurrence")
    figures = page.locator("figure.case-figure")
    assert figures.count() == 12
    for index in (0, 11):
        assert figures.nth(index).is_visible()
    assert page.locator("#figure-11 figcaption").inner_text().startswith("Figure 11:")
    tables = page.locator("table.case-table")
    assert tables.count() == 2
    page.locator("#table-2").scroll_into_view_if_needed()
    assert tables.nth(0).is_visible() and tables.nth(1).is_visible()
    # Bullet lists in the differential grid survive as real lists.
    assert page.locator("#table-1 td li").count() >= 15
    assert page.locator("#table-2 tbody tr").count() == 8
    page.screenshot(path=str(screenshot_dir / "article-seed.png"), full_page=True)


def test_stack_figure_scrolls_without_reload(live_server, page, screenshot_dir):
    from cases.importers.dicom import dicom_import
    from cases.models import Case
    from tests.conftest import DEMO_DIR

    case = Case.objects.create(slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip")
    page.goto(live_server.url + case.get_absolute_url())
    figure = page.locator("#figure-1")
    assert "Slice 15 of 28" in figure.locator("label").inner_text()
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__marker = 'same page'")
    figure.locator("a[rel=next]").click()
    page.wait_for_function("document.querySelector('#figure-1 output').textContent === '16'")
    assert page.evaluate("window.__marker") == "same page"
    page.locator("#figure-1 img.viewer-image").scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('#figure-1 img').complete")
    # Rendered for the box it is drawn in (contained: the smaller side), never below it.
    natural, width, height = page.evaluate(
        "[document.querySelector('#figure-1 img').naturalWidth,"
        " document.querySelector('#figure-1 img').clientWidth,"
        " document.querySelector('#figure-1 img').clientHeight]"
    )
    assert natural >= min(width, height)
    page.screenshot(path=str(screenshot_dir / "article-head-ct.png"), full_page=False)
