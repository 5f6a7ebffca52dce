from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_question_mark_opens_the_shortcut_list_and_escape_closes_it(
    live_server, page, screenshot_dir
):
    page.goto(live_server.url + "/u/")
    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_hidden()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    assert "previous / next slice" in dialog.inner_text()
    page.screenshot(path=str(screenshot_dir / "shortcuts.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts (?)").click()
    expect(dialog).to_be_visible()


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)])
def test_the_last_shortcut_is_not_hidden_by_the_close_button(live_server, browser, viewport):
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/u/")
        page.keyboard.press("?")
        dialog = page.locator("dialog#shortcuts")
        expect(dialog).to_be_visible()
        close = dialog.get_by_role("button", name="Close")
        close.scroll_into_view_if_needed()
        last = dialog.locator("dd").last
        row, button = last.bounding_box(), close.bounding_box()
        # Clear of the button and of its focus ring (3 px outline, 2 px offset).
        assert row["y"] + row["height"] + 5 <= button["y"], (row, button)
        assert last.evaluate(
            "(dd) => { const box = dd.getBoundingClientRect();"
            " return document.elementFromPoint(box.left + 2, box.bottom - 2) === dd; }"
        )
    finally:
        context.close()
