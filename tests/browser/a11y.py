"""Helpers for the accessibility, keyboard and layout browser tests.

axe-core comes from the npm registry (`make test` installs it into .cache/node); it is
injected into a context created with bypass_csp, because the site's policy rightly refuses
scripts it did not serve.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_PREFIX = ROOT / ".cache" / "node"
AXE = NODE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_path() -> Path:
    """The axe-core script, installed from npm on first use when `make test` has not."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("axe-core is missing and npm is not installed: run `make test`")
        subprocess.run(
            [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix",
             str(NODE_PREFIX), "axe-core@4"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return AXE


def axe_run(page) -> list[dict]:
    """Serious and critical axe violations on the page as it is now (WCAG 2.x A and AA)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_path()))
    # Measure what a reader sees: a reveal fading in is not yet its final colour.
    page.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished))")
    result = page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                {"target": n["target"], "summary": n.get("failureSummary", "")}
                for n in v["nodes"][:5]
            ],
        }
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def describe(violations: list[dict]) -> str:
    return json.dumps(violations, indent=1)


def login_context(browser, live_server, user, **options):
    """A browser context signed in as ``user`` (a session made on the server side)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    context = browser.new_context(**options)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
          "url": live_server.url}]
    )  # fmt: skip
    return context


def horizontal_overflow(page) -> list[str]:
    """Elements wider than the viewport (nothing may make a 390-px page scroll sideways)."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const wide = [];
            if (document.documentElement.scrollWidth > width) {
                for (const el of document.body.querySelectorAll('*')) {
                    const box = el.getBoundingClientRect();
                    if (box.right > width + 1 && box.width > 0 && !el.closest('.table-scroll')) {
                        wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
                                  `.${[...el.classList].join('.')} right=${Math.round(box.right)}`);
                    }
                }
                wide.unshift(`scrollWidth ${document.documentElement.scrollWidth} > ${width}`);
            }
            return wide.slice(0, 12);
        }"""
    )
