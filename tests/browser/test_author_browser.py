"""An author uploads a DICOM zip with a progress bar, ticks key images and previews the case."""

from __future__ import annotations

import pytest

from cases.models import Case, Figure
from tests.browser.a11y import horizontal_overflow, login_context
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def test_author_uploads_a_zip_marks_key_images_and_previews(
    browser, live_server, staff, screenshot_dir
):
    case = Case.objects.create(
        slug="head-ct", title="Head CT", status=Case.Status.DRAFT, diagnosis="Normal head",
        history="A 30-year-old with a headache.", unknown_title="30-year-old with a headache",
    )  # fmt: skip
    figure = Figure.objects.create(case=case, number=1, caption="Axial CT")
    context = login_context(browser, live_server, staff, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    admin = f"{live_server.url}/admin/cases/figure/{figure.pk}/change/"
    page.goto(admin)
    page.set_input_files("input[name=upload]", str(DEMO_DIR / "dicom" / "ct-head-ge.zip"))
    page.click("input[name=_continue]")
    # The progress panel shows, then the script opens the saved page with its message.
    page.wait_for_selector(".messagelist .success", timeout=60_000)
    assert "28 images added." in page.inner_text(".messagelist")
    assert page.input_value("#id_technique") == "GE HiSpeed Dual, 120 kV, 360 mAs, 4 mm"
    page.check("input[name=slices-9-is_key]")
    page.check("input[name=slices-15-is_key]")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    page.screenshot(path=str(screenshot_dir / "author-figure-admin-1440.png"))
    assert page.is_checked("input[name=slices-9-is_key]")
    page.locator("#slices-group table").screenshot(
        path=str(screenshot_dir / "author-figure-slices-1440.png")
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshot_dir / "author-figure-admin-390.png"))

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    page.click("text=Preview article as a learner")
    page.wait_for_selector(".preview-banner")
    assert "Preview as a learner — draft" in page.inner_text(".preview-banner")
    # The viewer opens on the first key image, under a strip of both.
    assert page.get_attribute("#viewer-1-stage", "data-slice") == "10"
    assert page.locator("#viewer-1-keys-strip a").count() == 2
    page.screenshot(path=str(screenshot_dir / "author-preview-article-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    assert horizontal_overflow(page) == []
    page.screenshot(path=str(screenshot_dir / "author-preview-article-390.png"))
    page.goto(f"{live_server.url}/preview/u/{case.public_id}/2/")
    page.screenshot(path=str(screenshot_dir / "author-preview-unknown-390.png"))
    context.close()
    # Anyone else: the draft is not there.
    anonymous = browser.new_page()
    assert anonymous.goto(f"{live_server.url}/preview/cases/head-ct/").status == 404
    anonymous.close()
