from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_typing_in_the_search_box_updates_the_results_in_place(live_server, page, screenshot_dir):
    from cases.models import Tag
    from tests.conftest import case_build

    neuro = Tag.objects.create(kind=Tag.Kind.SYSTEM, name="Neuro")
    glioma = case_build(slug="glioma", title="Glioblastoma of the corpus callosum")
    glioma.findings = "A butterfly glioma crossing the corpus callosum, with necrosis."
    glioma.save()
    glioma.tags.add(neuro)
    case_build(slug="lung", title="Cavitating lung lesion")
    menin = case_build(slug="menin", title="Meningioma of the falx")
    menin.tags.add(neuro)

    page.goto(live_server.url + "/")
    cards = page.locator(".case-card")
    assert cards.count() == 3
    box = page.locator("#search-q")
    box.click()
    box.press_sequentially("gliob", delay=60)
    page.locator(".case-card h2 mark").first.wait_for()
    assert cards.count() == 1
    assert cards.first.locator("h2").inner_text() == "Glioblastoma of the corpus callosum"
    assert cards.first.locator("h2 mark").inner_text() == "Glioblastoma"
    # The page was not reloaded: the box still has the focus and what was typed.
    assert box.evaluate("el => el === document.activeElement")
    assert box.input_value() == "gliob"
    page.wait_for_url(re.compile(r"\?q=gliob"))
    assert page.locator("select[name=sort]").input_value() == ""  # best match

    # Clearing the box and ticking a facet narrows by body system, with counts.
    box.fill("")
    box.dispatch_event("input")
    page.locator(".case-card").nth(2).wait_for()
    neuro_box = page.locator(".facet-system input[value=neuro]")
    assert page.locator(".facet-system .facet-choice").first.inner_text().split()[-1] == "2"
    neuro_box.check()
    page.wait_for_url(re.compile(r"system=neuro"))
    page.locator(".facet-system input[value=neuro]:checked").wait_for()
    assert cards.count() == 2
    box.press_sequentially("falx", delay=60)
    page.locator(".case-card h2 mark").first.wait_for()
    assert cards.count() == 1
    assert "Meningioma" in cards.first.inner_text()
    page.screenshot(path=str(screenshot_dir / "library-search.png"), full_page=True)
