"""Linked scrolling between two stacks (cases.imaging.linking)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.linking import linked_number, reference_line, stack_geometry
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


def linked_index(*, source: list, index: int, target: list) -> int | None:
    """The linked slice between two stacks (of two volumes: frames 1 and 2)."""
    return linked_number(stack_geometry(1, source), index, len(source),
                         stack_geometry(2, target), len(target))  # fmt: skip


def test_stacks_of_the_same_geometry_link_by_position_in_mm(two_series):
    first, second = two_series
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
    assert linked_index(source=first, index=0, target=second) == 0
    assert linked_index(source=first, index=19, target=second) == 19
    assert linked_index(source=first, index=10, target=second[:11]) == 5
    # Without geometry (pictures, not DICOM), by relative index too.
    assert linked_number(None, 10, 20, None, 11) == 5


# --- geometry: linked slices and reference lines ---------------------------------------------


def _view(figure, query: str):
    from django.http import QueryDict

    from cases.imaging.viewstate import ViewState

    return ViewState.from_query(figure, QueryDict(query))


def _normal_distances(slices) -> tuple[np.ndarray, np.ndarray]:
    """Each slice's distance along the normal, computed here from the stored header values."""
    iop = np.asarray(slices[0].image_orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return normal, np.array([np.dot(s.image_position, normal) for s in slices])


def test_a_views_geometry_links_by_the_stored_positions(two_series):
    first, second = two_series
    a, b = _view(first[0].figure, ""), _view(second[0].figure, "")
    _, here = _normal_distances(first)
    _, there = _normal_distances(second)
    for index in range(len(first)):
        expected = int(np.argmin(np.abs(there - here[index])))
        assert linked_number(a.geometry, index, a.count, b.geometry, b.count) == expected


def test_an_axial_slice_is_a_horizontal_line_on_the_coronal_of_its_volume(two_series):
    first, _ = two_series
    figure = first[0].figure
    axial, coronal = _view(figure, "slice=5"), _view(figure, "plane=coronal&slice=40")
    width, height = coronal.source_size
    line = reference_line(axial.geometry, 4, coronal.geometry, 39, width, height)
    _, distances = _normal_distances(first)
    spacing = first[0].pixel_spacing_column  # a coronal's rows are this far apart
    # The coronal's top row is the highest slice; slice 5 lies (top - its distance) below.
    y = (distances.max() - distances[4]) / spacing + 0.5
    assert line == pytest.approx((0, y, width, y), abs=0.01)
    # Two axial views of a stack never cross; another figure's volume is not this one.
    assert reference_line(axial.geometry, 4, _view(figure, "slice=9").geometry, 8, 512, 512) is None
    other = _view(two_series[1][0].figure, "plane=coronal")
    assert reference_line(axial.geometry, 4, other.geometry, 0, width, height) is None


def test_a_coronal_is_a_vertical_line_on_the_sagittal_and_the_reverse(two_series):
    figure = two_series[0][0].figure
    coronal, sagittal = (
        _view(figure, "plane=coronal&slice=40"),
        _view(figure, "plane=sagittal&slice=70"),
    )
    width, height = sagittal.source_size
    # Coronal slice 40 is row 39 * 4 of the axial grid (every 4th row); its centre is + 0.5.
    line = reference_line(coronal.geometry, 39, sagittal.geometry, 69, width, height)
    assert line == pytest.approx((156.5, 0, 156.5, height), abs=0.01)
    width, height = coronal.source_size
    line = reference_line(sagittal.geometry, 69, coronal.geometry, 39, width, height)
    assert line == pytest.approx((276.5, 0, 276.5, height), abs=0.01)
    # Crossing planes of one volume do not scroll each other.
    assert (
        linked_number(coronal.geometry, 39, coronal.count, sagittal.geometry, sagittal.count)
        is None
    )


def test_the_study_page_draws_the_reference_line(client, two_series):
    html = client.get(
        "/cases/ct/study/?layout=2&v1=1:slice%3D5&v2=1:plane%3Dcoronal%26slice%3D40"
    ).content.decode()
    second = html[html.index('id="viewport-2"') :]
    assert re.search(r'<line class="refline refline-1" data-from="1" x1="0\.0" y1="[\d.]+"', second)
    assert "data-geometry=" in second


# --- zoom, pan and window follow the viewport that changed ------------------------------------


def test_zoom_and_pan_link_between_viewports(client, two_series):
    from cases.imaging.study import Study

    figures = list(two_series[0][0].figure.case.figures.order_by("number"))
    query = {"layout": "2", "linkzoom": "1", "v1": "1:", "v2": "2:", "vp": "1", "zoom": "2",
             "cx": "0.4", "cy": "0.6"}  # fmt: skip
    study = Study.from_query(figures, query, base_url="/s/")
    first, second = (v.view for v in study.viewports)
    assert (second.zoom, second.cx, second.cy) == (first.zoom, first.cx, first.cy) == (2, 0.4, 0.6)
    unlinked = Study.from_query(figures, query | {"linkzoom": "0"}, base_url="/s/")
    assert unlinked.viewports[1].view.zoom == 1
    assert "linkzoom=1" in study.url() and "linkzoom" not in unlinked.url()


def test_the_window_links_only_between_like_images(client, two_series):
    from cases.imaging.study import Study
    from cases.models import Figure

    figures = list(two_series[0][0].figure.case.figures.order_by("number"))
    query = {"layout": "2", "linkwindow": "1", "v1": "1:", "v2": "2:", "vp": "1",
             "ww": "1500", "wc": "-600"}  # fmt: skip
    second = Study.from_query(figures, query, base_url="/s/").viewports[1].view
    assert (second.window_width, second.window_center) == (1500, -600)
    Figure.objects.filter(pk=figures[1].pk).update(modality=Figure.Modality.MR)
    figures = list(two_series[0][0].figure.case.figures.order_by("number"))
    second = Study.from_query(figures, query, base_url="/s/").viewports[1].view
    assert (second.window_width, second.window_center) != (1500, -600)


def test_a_viewport_change_without_javascript_redirects_to_the_canonical_url(client, two_series):
    response = client.get(
        "/cases/ct/study/?layout=2&linkzoom=1&v1=1:&v2=2:&vp=2&zoom=3&cx=0.5&cy=0.5"
    )
    assert response.status_code == 302
    location = unquote(response["Location"])
    assert "vp=" not in location
    assert location.count("zoom=3") == 2  # both viewports
