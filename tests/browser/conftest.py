from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium tries Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API refuses to run inside an event loop; Django's async-unsafe
    # check would trip on it too, so allow it for the browser tests only.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        browser.new_context = _contexts_whose_pages_wait_for_scripts(browser.new_context)
        yield browser
        browser.close()


def _wait_for_function_from_outside(page):
    """page.wait_for_function that works under the site's CSP.

    Playwright's own polls with eval inside the page, which the policy (rightly) blocks, so
    a wait that is not already true at once fails. This one asks from outside, through the
    protocol, as page.evaluate does.
    """
    from playwright.sync_api import Error

    def wait_for_function(expression, *, arg=None, timeout=None, polling=None):
        deadline = time.monotonic() + (timeout or 30_000) / 1000
        while True:
            try:
                if value := page.evaluate(expression, arg):
                    return value
            except Error as exc:  # a navigation replaced the page under the evaluation
                if "context was destroyed" not in str(exc):
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"wait_for_function timed out: {expression}")
            time.sleep(polling / 1000 if isinstance(polling, int | float) else 0.05)

    return wait_for_function


# A figure's page runs its scripts after its load event (static/js/after_load.js), when
# page.goto has already returned, and marks its <template> once the last has run.
SCRIPTS_RAN = """() => !document.querySelector('#scripts-after-load:not([data-ran])')"""


def scripts_ran(page) -> None:
    """Wait until a page whose scripts run after its load event has run them."""
    _wait_for_function_from_outside(page)(SCRIPTS_RAN, polling=10, timeout=10_000)


def _goto_waits_for_scripts(page):
    """The page, its goto returning once the page's scripts have run, as it does for deferred
    ones."""
    goto = page.goto

    def wrapped(url, **kwargs):
        response = goto(url, **kwargs)
        if kwargs.get("wait_until") in (None, "load", "networkidle"):
            scripts_ran(page)
        return response

    page.goto = wrapped
    return page


def _contexts_whose_pages_wait_for_scripts(new_context):
    """Every test's context opens pages whose goto waits for their scripts; a context without
    JavaScript has none to wait for."""

    def wrapped(**kwargs):
        context = new_context(**kwargs)
        if kwargs.get("java_script_enabled", True):
            new_page = context.new_page
            context.new_page = lambda: _goto_waits_for_scripts(new_page())
        return context

    return wrapped


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.wait_for_function = _wait_for_function_from_outside(page)
    yield page
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
