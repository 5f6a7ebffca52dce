"""Importers print a progress line per item on stderr and a summary on stdout."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db


def test_import_dicom_prints_a_line_per_file_then_the_summary():
    from cases.models import Case

    Case.objects.create(slug="head-ct", title="Head CT", status=Case.Status.PUBLISHED)
    out, err = StringIO(), StringIO()
    call_command(
        "import_dicom", str(DEMO_DIR / "dicom" / "ct-head-ge.zip"), "--case", "head-ct",
        stdout=out, stderr=err,
    )  # fmt: skip
    lines = err.getvalue().splitlines()
    assert len(lines) == 28
    assert lines[0].startswith("[1/28] ") and lines[-1].startswith("[28/28] ")
    assert "Imported 28 slices" in out.getvalue()


def test_import_medpix_prints_a_line_per_case_then_the_summary():
    medpix = DEMO_DIR / "medpix"
    out, err = StringIO(), StringIO()
    call_command(
        "import_medpix", str(medpix / "Case_topic.json"),
        "--descriptions", str(medpix / "Descriptions.json"), "--images", str(medpix / "images"),
        stdout=out, stderr=err,
    )  # fmt: skip
    progress = [line for line in err.getvalue().splitlines() if line.startswith("[")]
    assert progress[0].startswith("[1/") and progress[-1].startswith(f"[{len(progress)}/")
    assert len(progress) >= 2
    assert out.getvalue().startswith(f"Imported {len(progress)} cases")
