"""Linked scrolling between two stacks (cases.imaging.linking)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.linking import linked_index, stacks_share_geometry
from cases.models import Case, Figure

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


def series() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]


@pytest.fixture
def two_series() -> tuple[list, list]:
    """Two figures from the one head CT: slices 1-20, and slices 9-28 in reverse order."""
    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    files = series()
    first = Figure.objects.create(case=case, number=1)
    for position, (name, data) in enumerate(files[:20]):
        slice_create_from_bytes(figure=first, name=name, data=data, position=position)
    second = Figure.objects.create(case=case, number=2)
    for position, (name, data) in enumerate(reversed(files[8:])):
        slice_create_from_bytes(figure=second, name=name, data=data, position=position)
    return list(first.slices.all()), list(second.slices.all())


def test_stacks_of_the_same_geometry_link_by_position_in_mm(two_series):
    first, second = two_series
    assert stacks_share_geometry(first, second)
    # Slice 15 of the first (file 15) is file 15 in the second: 28 - 15 = 13, the 14th.
    assert linked_index(source=first, index=14, target=second) == 13
    assert second[13].image_position == first[14].image_position
    # And back; beyond the other stack's range, its nearest end.
    assert linked_index(source=second, index=13, target=first) == 14
    assert linked_index(source=first, index=0, target=second) == len(second) - 1


def test_stacks_of_other_geometry_link_by_relative_index(two_series):
    first, second = two_series
    for image in second:
        image.image_orientation = [0, 1, 0, 0, 0, -1]  # sagittal
    assert not stacks_share_geometry(first, second)
    assert linked_index(source=first, index=0, target=second) == 0
    assert linked_index(source=first, index=19, target=second) == 19
    assert linked_index(source=first, index=10, target=second[:11]) == 5
