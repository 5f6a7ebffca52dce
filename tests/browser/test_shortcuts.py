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
