"""Coronal and sagittal reformats of a stack (cases.imaging.reformat), through the image URL."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.params import RenderParams
from cases.imaging.reformat import figure_slices, stack_geometry_problem
from cases.models import Case, Figure

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
WIDTH, CENTER = 80.0, 40.0


def series() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]


@pytest.fixture
def ct_figure() -> Figure:
    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, window_width=WIDTH, window_center=CENTER)
    for position, (name, data) in enumerate(series()):
        slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    return figure


def png(response) -> np.ndarray:
    assert response.status_code == 200, response.content[:200]
    return np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.float64)


def window(values: np.ndarray) -> np.ndarray:
    scaled = ((values - (CENTER - 0.5)) / (WIDTH - 1) + 0.5) * 255
    return np.floor(np.clip(scaled, 0, 255) + 0.5)


def truth(plane: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The plane resampled independently: each output pixel as a point in patient space.

    For every point: its distance to each acquired slice's plane, the two slices either side,
    the point's pixel coordinates in each (from that slice's own position), bilinear in each
    and linear between them. Returns the values and a mask of points inside both slices.
    """
    headers = [pydicom.dcmread(io.BytesIO(data)) for _name, data in series()]
    volume = [np.asarray(apply_modality_lut(h.pixel_array, h), dtype=np.float64) for h in headers]
    positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
    cosines = np.array([float(v) for v in headers[0].ImageOrientationPatient])
    r, c = cosines[:3], cosines[3:]
    n = np.cross(r, c)
    dy, dx = (float(v) for v in headers[0].PixelSpacing)
    rows, columns = volume[0].shape
    order = np.argsort(positions @ n)
    positions, volume = positions[order], [volume[k] for k in order]
    heights = positions @ n
    step = dx if plane == "coronal" else dy
    tops = heights[-1] - np.arange(int((heights[-1] - heights[0]) / step) + 1) * step
    across = np.arange(columns if plane == "coronal" else rows)
    height_grid, across_grid = np.meshgrid(tops, across, indexing="ij")
    origin = positions[0]
    if plane == "coronal":
        points = origin + across_grid[..., None] * dx * r + index * dy * c
    else:
        points = origin + index * dx * r + across_grid[..., None] * dy * c
    points = points + (height_grid - heights[0])[..., None] * n

    def sample(k: int) -> tuple[np.ndarray, np.ndarray]:
        relative = points - positions[k]
        x, y = relative @ r / dx, relative @ c / dy
        inside = (x >= 0) & (x <= columns - 1) & (y >= 0) & (y <= rows - 1)
        x, y = np.clip(x, 0, columns - 1.001), np.clip(y, 0, rows - 1.001)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = x - x0, y - y0
        image = volume[k]
        value = (image[y0, x0] * (1 - fx) * (1 - fy) + image[y0, x0 + 1] * fx * (1 - fy)
                 + image[y0 + 1, x0] * (1 - fx) * fy + image[y0 + 1, x0 + 1] * fx * fy)  # fmt: skip
        return value, inside

    height = (points - positions[0]) @ n + heights[0]
    upper = np.clip(np.searchsorted(heights, height), 1, len(heights) - 1)
    lower = upper - 1
    weight = np.clip((height - heights[lower]) / (heights[upper] - heights[lower]), 0, 1)
    values = np.zeros(height.shape)
    mask = np.ones(height.shape, bool)
    for k in range(len(heights)):
        below, inside_below = sample(k)
        chosen_lower, chosen_upper = lower == k, upper == k
        values += np.where(chosen_lower, below * (1 - weight), 0)
        values += np.where(chosen_upper, below * weight, 0)
        mask &= ~((chosen_lower | chosen_upper) & ~inside_below)
    return values, mask


@pytest.mark.parametrize(("plane", "index"), [("coronal", 300), ("sagittal", 200)])
def test_reformat_matches_an_independent_resampling_of_the_tilted_ct(client, ct_figure, plane,
                                                                     index):  # fmt: skip
    first = ct_figure.slices.first()
    params = RenderParams(first.token, window_width=WIDTH, window_center=CENTER, plane=plane,
                          plane_index=index)  # fmt: skip
    shown = png(client.get(params.url()))
    expected, mask = truth(plane, index)
    assert shown.shape == expected.shape  # square pixels: rows one pixel spacing apart in mm
    assert mask.mean() > 0.5
    difference = np.abs(shown - window(expected))[mask]
    assert difference.mean() < 3
    # Not a blank image: the window shows brain and bone.
    assert shown[mask].std() > 20


def test_the_truth_sees_the_tilt(client, ct_figure, monkeypatch):
    """Stacking the slices unshifted (ignoring the tilt) is far from the truth."""
    from cases.imaging import reformat

    reformat._volume_cached.cache_clear()
    monkeypatch.setattr(reformat, "_shifted", lambda pixels, dx, dy, fill: pixels)
    first = ct_figure.slices.first()
    params = RenderParams(first.token, window_width=WIDTH, window_center=CENTER,
                          plane="sagittal", plane_index=256)  # fmt: skip
    shown = png(client.get(params.url()))
    reformat._volume_cached.cache_clear()
    expected, mask = truth("sagittal", 256)
    assert np.abs(shown - window(expected))[mask].mean() > 10


def test_reformat_url_names_its_plane_and_index():
    params = RenderParams("a" * 32, plane="coronal", plane_index=12)
    assert "plane=coronal" in params.url() and "i=12" in params.url()
    assert params.key() != RenderParams("a" * 32, plane="sagittal", plane_index=12).key()
    assert params.key() != RenderParams("a" * 32, plane="coronal", plane_index=13).key()
    assert RenderParams.from_query("a" * 32, {"plane": "coronal", "i": "12"}) == params
    assert RenderParams.from_query("a" * 32, {"plane": "oblique"}) is None
    assert RenderParams.from_query("a" * 32, {"plane": "coronal", "i": "-1"}) is None
    # The keys of axial renderings are what they were before planes.
    assert "coronal" not in RenderParams("a" * 32).key()


def test_a_stack_too_short_says_why_instead_of_drawing(client, ct_figure):
    ct_figure.slices.filter(position__gte=5).delete()
    first = ct_figure.slices.first()
    response = client.get(RenderParams(first.token, plane="coronal", plane_index=10).url())
    assert response.status_code == 400
    assert b"at least 8 slices" in response.content


def test_mixed_orientations_are_refused(ct_figure):
    odd = ct_figure.slices.last()
    odd.image_orientation = [0, 1, 0, 0, 0, -1]
    odd.save()
    problem = stack_geometry_problem(figure_slices(ct_figure.id))
    assert problem and "orientation" in problem


def test_the_viewer_offers_planes_and_a_coronal_view_keeps_its_plane(client, ct_figure):
    page = client.get("/cases/ct/figures/1/?plane=coronal&slice=40&ww=80&wc=40")
    html = page.content.decode()
    assert page.status_code == 200
    # 512 rows, every 4th: 128 coronal slices; slice 40 is row 156.
    assert 'data-count="128"' in html
    assert "plane=coronal" in html and "i=156" in html
    # Every link of the view keeps its plane; the plane links switch it.
    assert "/cases/ct/figures/1/?slice=41&amp;plane=coronal" in html
    assert "Sagittal" in html and "plane=sagittal" in html
    # True aspect: rows one pixel spacing apart (144 mm along the normal, 0.49 mm pixels).
    assert re.search(r"data-width=\"512\" data-height=\"29[0-9]\"", html)


def test_a_stack_that_cannot_be_reformatted_says_why_in_the_viewer(client, ct_figure):
    ct_figure.slices.filter(position__gte=5).delete()
    page = client.get("/cases/ct/figures/1/?plane=coronal")
    html = page.content.decode()
    assert "at least 8 slices" in html
    assert "plane=coronal" not in html.split("Planes of")[0]  # the image is an axial slice


def test_a_stack_that_cannot_be_reformatted_offers_no_plane_link(client, ct_figure):
    ct_figure.slices.filter(position__gte=5).delete()
    html = client.get("/cases/ct/figures/1/").content.decode()
    assert "plane=coronal" not in html and "plane=sagittal" not in html
    assert 'class="plane-off" title="Reformats need a stack of at least 8 slices."' in html
