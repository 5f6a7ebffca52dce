"""Measurements on a coronal or sagittal reformat: mm at the plane's spacing, HU of the volume."""

from __future__ import annotations

import io
import math
import re
from html import unescape

import numpy as np
import pydicom
import pytest

from cases.imaging.measure import measurements_compute, measurements_parse
from cases.imaging.params import RenderParams
from cases.imaging.render import reformat_measured

from .test_reformat import ct_figure as ct_figure  # the fixture: the whole head CT
from .test_reformat import png, series, truth

pytestmark = pytest.mark.django_db

# Coronal row 300 of the 512-row CT is the viewer's coronal slice 76 (every 4th row).
PLANE, ROW, SLICE = "coronal", 300, 76


def spacing() -> tuple[float, float]:
    """(rows, columns) of PixelSpacing, read here from the first file's header."""
    header = pydicom.dcmread(io.BytesIO(series()[0][1]))
    return tuple(float(v) for v in header.PixelSpacing)


def test_a_line_on_a_coronal_is_in_mm_at_true_aspect(ct_figure):
    _, column = spacing()
    image, decoded = reformat_measured(ct_figure.slices.first(), PLANE, ROW)
    height, width = decoded.pixels.shape
    # Rows one column spacing apart: the picture spans the stack's extent along the normal.
    expected_rows, _ = truth(PLANE, ROW)[0].shape
    assert (height, width) == (expected_rows, 512)
    [result] = measurements_compute(
        image, measurements_parse("line:100,20.5,400,250"), decoded=decoded
    )
    expected = math.hypot((400 - 100) * column, (250 - 20.5) * column)
    assert result.values[0].value == pytest.approx(expected, abs=1e-3)
    assert result.values[0].unit == "mm" and result.note == ""


def test_hu_on_a_coronal_match_an_independent_resampling(ct_figure):
    values, mask = truth(PLANE, ROW)
    image, decoded = reformat_measured(ct_figure.slices.first(), PLANE, ROW)
    cx, cy, rx, ry = 256.0, 120.0, 40.0, 12.0
    rows, columns = np.mgrid[0 : values.shape[0], 0 : values.shape[1]]
    inside = ((columns + 0.5 - cx) / rx) ** 2 + ((rows + 0.5 - cy) / ry) ** 2 <= 1
    assert mask[inside].all()
    [ellipse, point] = measurements_compute(
        image, measurements_parse(f"ellipse:{cx},{cy},{rx},{ry};point:256.5,120.5"), decoded=decoded
    )
    found = {v.name: v.value for v in ellipse.values}
    assert found["mean"] == pytest.approx(values[inside].mean(), abs=1.5)
    assert found["sd"] == pytest.approx(values[inside].std(), abs=2)
    _, column = spacing()
    assert found["area"] == pytest.approx(math.pi * rx * ry * column * column, abs=1e-3)
    assert {v.unit for v in ellipse.values} == {"mm²", "HU"}
    assert point.values[0].value == pytest.approx(values[120, 256], abs=3)
    # Brain, not air or bone: the values are those of the head.
    assert 0 < found["mean"] < 80


def test_the_coronal_viewer_lists_its_measurements_and_draws_them(client, ct_figure):
    url = f"/cases/ct/figures/1/?plane=coronal&slice={SLICE}&ww=80&wc=40&m=line:100,20.5,400,250"
    html = client.get(url).content.decode()
    _, column = spacing()
    expected = math.hypot(300 * column, 229.5 * column)
    value = re.search(r'<data value="([^"]+)" data-name="length"', html)
    assert value and float(value[1]) == pytest.approx(expected, abs=0.01)
    # The image URL draws it; switching plane leaves the measurement on its plane.
    src = unescape(re.search(r'class="viewer-image" src="([^"]+)"', html)[1])
    assert "plane=coronal" in src and "m=line:100,20.5,400,250" in src
    drawn = png(client.get(src.replace(".jpg", ".png")))
    plain = png(client.get(src.replace(".jpg", ".png").replace("&m=line:100,20.5,400,250", "")))
    assert plain.ndim == 2  # grey, and the measurement drawn in colour on it
    assert (drawn.max(axis=2) - drawn.min(axis=2)).max() > 100
    sagittal = unescape(re.search(r'<a href="([^"]+)">Sagittal</a>', html)[1])
    assert "plane=sagittal" in sagittal and "m=" not in sagittal


def test_a_reformat_image_url_may_carry_measurements():
    params = RenderParams.from_query("a" * 32, {"plane": "coronal", "i": "12", "m": "point:5,5"})
    assert params is not None and params.measurements == "point:5,5"
    assert params.key() != RenderParams("a" * 32, plane="coronal", plane_index=12).key()
