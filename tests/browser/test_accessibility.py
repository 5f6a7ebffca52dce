"""axe-core finds no serious or critical WCAG 2.x A/AA violation on any page, in either theme.

PAGES below is the list of every page checked; each is checked in the dark (default) and the
light theme, so colour contrast is measured in both. The report of every run is written to
test-artifacts/axe.json.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser.a11y import axe_run, describe, login_context
from tests.conftest import member_build

pytestmark = pytest.mark.django_db(transaction=True)

# (name, who is signed in, how to get there). Unknown steps are opened in order, as the
# session gating requires; step 4 is checked before and after committing a differential.
PAGES = [
    "library",
    "library search results",
    "article",
    "article figure viewer (image)",
    "viewer (28-slice head CT stack)",
    "study view (axial and coronal)",
    "unknown-case library",
    "unknown step 1 presentation",
    "unknown step 2 images",
    "unknown figure viewer",
    "unknown step 3 findings",
    "unknown step 4 differential (form)",
    "unknown step 4 differential (committed)",
    "unknown step 5 diagnosis",
    "unknown step 6 discussion",
    "discussion (article thread, signed in)",
    "discussion (thread page)",
    "log-in page",
    "conference join page",
    "conference audience page",
    "admin change form of a case",
]


@pytest.fixture
def demo(django_user_model):
    from cases.conference import services as conference_services
    from cases.discussion.services import comment_create
    from cases.models import Case

    call_command("load_demo", verbosity=0)
    seed = Case.objects.get(external_id="doi:10.3941/jrcr.v5i6.626")
    head_ct = Case.objects.get(slug="sample-head-ct-series")
    member = member_build("reader")
    comment_create(case=seed, author=member, body="Note the **bone window** on slice 2.")
    staff = django_user_model.objects.get(username="admin")
    conference = conference_services.conference_create(
        title="Friday conference", presenter=staff, cases=[seed]
    )
    conference_services.conference_start(conference)
    return {
        "seed": seed, "head_ct": head_ct, "member": member, "staff": staff,
        "conference": conference,
    }  # fmt: skip


def _visits(demo, live_server):
    """(page name, context key, action) in the order a person would meet them."""
    seed, head_ct, conference = demo["seed"], demo["head_ct"], demo["conference"]
    base = live_server.url
    article = f"{base}{seed.get_absolute_url()}"
    stack = f"{base}{head_ct.get_absolute_url()}figures/1/?slice=14"
    study = f"{base}{head_ct.get_absolute_url()}study/?layout=2&v2=1:plane%3Dcoronal"
    admin = f"{base}/admin/cases/case/{seed.pk}/change/"
    unknown = f"{base}/u/{seed.public_id}"

    def goto(url):
        def visit(page):
            response = page.goto(url)
            assert response.ok, f"{url}: {response.status}"

        return visit

    def unknown_figure(page):
        page.goto(f"{unknown}/2/")
        number = page.locator(".case-figure").first.get_attribute("id").removeprefix("figure-")
        goto(f"{unknown}/figures/{number}/")(page)

    def commit(page):
        page.goto(f"{unknown}/4/")
        page.get_by_label("1. Most likely").fill("Metastatic leiomyosarcoma")
        page.get_by_role("button", name="Commit").first.click()
        page.get_by_text("The author's differential").first.wait_for()

    return [
        ("library", "anonymous", goto(f"{base}/")),
        ("library search results", "anonymous", goto(f"{base}/?q=leiomyosarcoma")),
        ("article", "anonymous", goto(article)),
        ("article figure viewer (image)", "anonymous", goto(f"{article}figures/1/")),
        ("viewer (28-slice head CT stack)", "anonymous", goto(stack)),
        ("study view (axial and coronal)", "anonymous", goto(study)),
        ("unknown-case library", "anonymous", goto(f"{base}/u/")),
        ("unknown step 1 presentation", "anonymous", goto(f"{unknown}/")),
        ("unknown step 2 images", "anonymous", goto(f"{unknown}/2/")),
        ("unknown figure viewer", "anonymous", unknown_figure),
        ("unknown step 3 findings", "anonymous", goto(f"{unknown}/3/")),
        ("unknown step 4 differential (form)", "anonymous", goto(f"{unknown}/4/")),
        ("unknown step 4 differential (committed)", "anonymous", commit),
        ("unknown step 5 diagnosis", "anonymous", goto(f"{unknown}/5/")),
        ("unknown step 6 discussion", "anonymous", goto(f"{unknown}/6/")),
        ("discussion (article thread, signed in)", "member", goto(f"{article}#thread")),
        ("discussion (thread page)", "member", goto(f"{base}/t/{seed.public_id}/")),
        ("log-in page", "anonymous", goto(f"{base}/accounts/login/")),
        ("conference join page", "anonymous", goto(f"{base}/c/")),
        ("conference audience page", "anonymous", goto(f"{base}/c/{conference.code}/")),
        ("admin change form of a case", "staff", goto(admin)),
    ]  # fmt: skip


def test_no_serious_or_critical_axe_violations_in_either_theme(
    browser, live_server, demo, screenshot_dir
):
    options = {"bypass_csp": True, "viewport": {"width": 1280, "height": 900}}
    contexts = {
        "anonymous": browser.new_context(**options),
        "member": login_context(browser, live_server, demo["member"], **options),
        "staff": login_context(browser, live_server, demo["staff"], **options),
    }
    pages = {key: context.new_page() for key, context in contexts.items()}
    visits = _visits(demo, live_server)
    assert [name for name, _, _ in visits] == PAGES
    report: dict[str, dict[str, list]] = {}
    try:
        for name, who, action in visits:
            page = pages[who]
            action(page)
            page.wait_for_load_state("load")
            if who == "staff":  # the admin's widgets are named once its scripts built them
                expect(
                    page.locator(".select2-selection[role=combobox]:not([aria-label])")
                ).to_have_count(0)
            assert page.locator("main, #content").first.is_visible(), name
            report[name] = {}
            for theme in ("dark", "light"):
                page.evaluate("t => document.documentElement.setAttribute('data-theme', t)", theme)
                report[name][theme] = axe_run(page)
            page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
    finally:
        for context in contexts.values():
            context.close()
        (screenshot_dir / "axe.json").write_text(json.dumps(report, indent=1))
    assert set(report) == set(PAGES)
    failing = {
        f"{name} [{theme}]": violations
        for name, themes in report.items()
        for theme, violations in themes.items()
        if violations
    }
    assert not failing, describe(failing)
