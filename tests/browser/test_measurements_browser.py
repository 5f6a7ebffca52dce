"""Measurements and the HU readout as a reader sees them, at desktop and phone widths."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

CT_ZIP = Path(__file__).resolve().parents[2] / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
MEASURED = "line:100,400,420,380;ellipse:256,200,40,30;point:400,100"


@pytest.fixture
def ct_url(live_server) -> str:
    from cases.imaging.ingest import slice_create_from_bytes
    from cases.models import Case, Figure

    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, window_width=80, window_center=40)
    with zipfile.ZipFile(CT_ZIP) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".dcm"))[13:16]
        for position, name in enumerate(names):
            slice_create_from_bytes(
                figure=figure, name=name, data=archive.read(name), position=position
            )
    return f"{live_server.url}/cases/ct/figures/1/"


@pytest.mark.parametrize("width", [1440, 390])
def test_a_shared_link_shows_its_measurements_and_the_pointer_reads_hu(
    page, ct_url, screenshot_dir, width
):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{ct_url}?slice=2&m={MEASURED}")
    items = page.locator(".viewer-measurements li")
    assert items.count() == 3
    assert items.nth(0).locator("data").inner_text().endswith(" mm")
    assert "HU" in items.nth(1).inner_text()
    page.screenshot(path=screenshot_dir / f"measurements-{width}.png", full_page=True)
    image = page.locator(".viewer-image")
    box = image.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.4)
    page.mouse.move(box["x"] + box["width"] * 0.5 + 1, box["y"] + box["height"] * 0.4)
    readout = page.locator("[data-value-readout]")
    readout.wait_for(state="visible")
    assert readout.inner_text().startswith("X 25")
    assert readout.inner_text().endswith(" HU")
    page.screenshot(path=screenshot_dir / f"readout-{width}.png")
