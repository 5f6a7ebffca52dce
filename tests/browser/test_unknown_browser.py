from __future__ import annotations

import pytest

from tests.conftest import SEED_ARTICLE

pytestmark = pytest.mark.django_db(transaction=True)


def test_walk_an_unknown_case_with_the_keyboard_and_the_back_button(
    live_server, page, screenshot_dir
):
    from cases.importers.article import article_import

    case = article_import(path=SEED_ARTICLE, unknown_title="52-year-old woman with a lump")
    case.diagnosis_synonyms = "Metastatic leiomyosarcoma"
    case.save()
    base = f"{live_server.url}/u/{case.public_id}"
    page.goto(f"{live_server.url}/u/")
    page.get_by_role("link", name="52-year-old woman with a lump").click()
    page.wait_for_load_state()
    assert page.url == f"{base}/"
    page.evaluate("window.__marker = 'same page'")

    def current_step() -> str:
        return page.locator(".steps li[aria-current=step]").inner_text()

    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/2/")
    assert current_step().endswith("Images")
    assert page.evaluate("window.__marker") == "same page", "reloaded at step 2"
    assert (
        page.locator("#figure-4 figcaption").inner_text().startswith("Figure 4: Chest x-ray shows")
    )
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/3/")
    assert "She was readmitted" in page.locator("#findings-h + *").inner_text()
    assert page.evaluate("window.__marker") == "same page", "reloaded at step 3"
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/4/")
    assert page.evaluate("window.__marker") == "same page"  # swapped in place, no reload

    # Focus moves to what the step revealed, for keyboard and screen-reader users.
    page.wait_for_function("document.activeElement.id === 'ddx-h'")
    # Typing in the form must not step; commit with the keyboard alone.
    page.get_by_label("1. Most likely").focus()
    page.keyboard.type("Metastatic leiomyosarcoma")
    page.keyboard.press("ArrowLeft")
    assert page.url == f"{base}/4/"
    page.keyboard.press("Enter")
    page.wait_for_selector("text=The author's differential")
    page.screenshot(path=str(screenshot_dir / "unknown-differential.png"), full_page=True)
    page.locator("body").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"{base}/5/")
    assert "Your first choice was right." in page.locator("#unknown-step").inner_text()
    page.screenshot(path=str(screenshot_dir / "unknown-diagnosis.png"), full_page=True)

    page.go_back()
    page.wait_for_url(f"{base}/4/")
    assert current_step().endswith("Differential")
    page.go_back()
    page.wait_for_url(f"{base}/3/")
    assert current_step().endswith("Findings")
    page.go_forward()
    page.wait_for_url(f"{base}/4/")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"{base}/3/")


def test_stack_viewer_in_unknown_mode_keeps_the_step_address(live_server, page, screenshot_dir):
    from cases.importers.dicom import dicom_import
    from cases.models import Case
    from tests.conftest import DEMO_DIR

    case = Case.objects.create(
        slug="head-ct-quiz",
        title="Head CT quiz",
        unknown_title="70-year-old man, fell at home",
        status=Case.Status.PUBLISHED,
        history="Fell at home.",
        diagnosis="Chronic infarct",
    )
    dicom_import(case=case, source=DEMO_DIR / "dicom" / "ct-head-ge.zip", caption="Head CT.")
    step = f"{live_server.url}/u/{case.public_id}/2/"
    page.goto(f"{live_server.url}/u/{case.public_id}/")
    page.goto(step)
    viewer = page.locator("#viewer-1")
    assert "Slice 15 of 28" in viewer.locator("label").inner_text()
    viewer.focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('#viewer-1 output').textContent === '16'")
    assert page.url == step
    assert case.slug not in page.content()
    page.screenshot(path=str(screenshot_dir / "unknown-images-stack.png"))
