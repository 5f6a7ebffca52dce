"""Measurements in the view state (``m``): values from the stored pixels, drawn and listed."""

from __future__ import annotations

import html
import io
import math
import re
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pydicom
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cases.discussion.viewlinks import ViewLinkError, view_link_parse
from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.measure import (
    MEASUREMENTS_MAX,
    Measurement,
    MeasurementError,
    measurements_compute,
    measurements_format,
    measurements_parse,
)
from cases.imaging.params import RenderParams
from cases.imaging.render import slice_pixels, slice_render
from cases.imaging.viewstate import ViewState
from cases.models import Case, Figure, Slice

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
CT_ZIP = ROOT / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
ARTIFACTS = ROOT / "test-artifacts"
PAGE = "/cases/ct/figures/1/"


def ct_files() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".dcm"))
        return [(n, archive.read(n)) for n in names[12:15]]


def hu_array(data: bytes) -> np.ndarray:
    """The HU of a CT file, computed here from the header (not through the app)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


@pytest.fixture
def ct() -> Figure:
    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, window_width=80, window_center=40)
    for position, (name, data) in enumerate(ct_files()):
        slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    return figure


def middle(figure: Figure) -> tuple[Slice, bytes]:
    return figure.slices.all()[1], ct_files()[1][1]


def compute(image: Slice, measurements):
    return measurements_compute(image, measurements, decoded=slice_pixels(image))


def page(client, query: str, **headers):
    return client.get(f"{PAGE}?{query}", headers=headers)


# --- values against an independent computation -------------------------------------------------


def test_line_length_is_in_mm_from_pixel_spacing(ct):
    image, data = middle(ct)
    row, column = (float(v) for v in pydicom.dcmread(io.BytesIO(data)).PixelSpacing)
    [result] = compute(image, measurements_parse("line:100.5,80,420,391.5"))
    expected = math.sqrt(((420 - 100.5) * column) ** 2 + ((391.5 - 80) * row) ** 2)
    assert result.values[0].value == pytest.approx(expected, abs=1e-3)
    assert result.values[0].unit == "mm"
    assert result.label == f"{expected:.1f} mm"
    assert result.note == ""


def test_ellipse_statistics_match_the_hu_array(ct):
    image, data = middle(ct)
    hu = hu_array(data)
    cx, cy, rx, ry = 256.0, 210.0, 40.5, 25.0
    rows, columns = np.mgrid[0 : hu.shape[0], 0 : hu.shape[1]]
    inside = ((columns + 0.5 - cx) / rx) ** 2 + ((rows + 0.5 - cy) / ry) ** 2 <= 1
    [result] = compute(image, [Measurement("ellipse", (cx, cy, rx, ry))])
    values = {v.name: v.value for v in result.values}
    spacing = [float(v) for v in pydicom.dcmread(io.BytesIO(data)).PixelSpacing]
    assert values["area"] == pytest.approx(math.pi * rx * ry * spacing[0] * spacing[1], abs=1e-3)
    assert values["mean"] == pytest.approx(hu[inside].mean(), abs=1e-3)
    assert values["sd"] == pytest.approx(hu[inside].std(), abs=1e-3)
    assert values["min"] == hu[inside].min()
    assert values["max"] == hu[inside].max()
    assert {v.unit for v in result.values} == {"mm²", "HU"}


def test_point_is_the_hu_of_the_pixel_under_it(ct):
    image, data = middle(ct)
    hu = hu_array(data)
    [result] = compute(image, measurements_parse("point:300.7,128.2"))
    assert result.values[0].value == hu[128, 300]
    assert result.label == f"{hu[128, 300]:.0f} HU"


def test_angle_is_at_the_middle_point_and_counts_anisotropic_spacing(ct):
    image, _ = middle(ct)
    arms = "angle:100,100,200,200,300,100"  # a right angle in pixels
    [square] = compute(image, measurements_parse(arms))
    assert square.values[0].value == pytest.approx(90.0)
    # Rows twice as far apart as columns: each arm is steeper, the angle narrower.
    image.pixel_spacing_row, image.pixel_spacing_column = 1.0, 0.5
    [result] = compute(image, measurements_parse(arms))
    a, b = np.array([-100 * 0.5, -100 * 1.0]), np.array([100 * 0.5, -100 * 1.0])
    expected = math.degrees(math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert result.values[0].value == pytest.approx(expected, abs=1e-3)
    assert expected < 90


def test_without_spacing_lengths_are_in_pixels_and_say_so(ct):
    image, _ = middle(ct)
    image.pixel_spacing_row = image.pixel_spacing_column = None
    image.spacing_source = ""
    line, ellipse = compute(image, measurements_parse("line:0,0,30,40;ellipse:9,9,2,2"))
    assert (line.values[0].value, line.values[0].unit, line.label) == (50.0, "px", "50.0 px")
    assert "no pixel spacing" in line.note
    assert ellipse.values[0].unit == "px²"


def test_imager_pixel_spacing_is_named_where_it_is_the_source(ct):
    image, _ = middle(ct)
    image.spacing_source = Slice.SpacingSource.IMAGER
    [line] = compute(image, measurements_parse("line:0,0,0,100"))
    assert line.values[0].unit == "mm"
    assert "ImagerPixelSpacing" in line.note


# --- parsing: clamped, or refused with 400, never 500 ---------------------------------------


def test_measurements_round_trip_through_their_canonical_text():
    text = "point:1,2;line:1.25,2,3,4;angle@3:1,2,3,4,5,6;ellipse:10,10,5,2.5"
    parsed = measurements_parse(text)
    assert [m.kind for m in parsed] == ["point", "line", "angle", "ellipse"]
    assert parsed[2].slice == 3
    assert (
        measurements_format(parsed)
        == "point:1,2;line:1.2,2,3,4;angle@3:1,2,3,4,5,6;ellipse:10,10,5,2.5"
    )
    assert measurements_parse(measurements_format(parsed)) == measurements_parse(
        measurements_format(parsed)
    )


@pytest.mark.parametrize(
    "bad",
    ["bogus", "line:1,2,3", "line:1,2,3,x", "point:nan,1", "point:inf,2", "circle:1,2,3",
     "line@0:1,2,3,4", "point:1e300,1", "point:1,2,3", ";".join(["point:1,1"] * 21)],
)  # fmt: skip
def test_unreadable_measurements_are_refused_with_400(client, ct, bad):
    with pytest.raises(MeasurementError):
        measurements_parse(bad)
    assert page(client, f"m={bad}").status_code == 400
    assert page(client, f"m={bad}", HX_Request="true").status_code == 400
    image = ct.slices.all()[0]
    assert client.get(f"/img/{image.token}.png?m={bad}").status_code == 400


def test_more_than_the_cap_is_400_and_the_cap_itself_is_fine(client, ct):
    assert page(client, "m=" + ";".join(["point:5,5"] * MEASUREMENTS_MAX)).status_code == 200
    many = ";".join(["point:5,5"] * (MEASUREMENTS_MAX + 1))
    assert page(client, f"m={many}").status_code == 400


def test_coordinates_outside_the_image_are_clamped_to_it(client, ct):
    response = page(client, "slice=2&m=line:-50,10,900,10;ellipse:-5,600,20,9999")
    assert response.status_code == 200
    view: ViewState = response.context["item"]["view"]
    assert view.measurements_param == "line:0,10,512,10;ellipse:0,512,20,512"
    assert '<data value="250.0" data-name="length" data-unit="mm">' in response.content.decode()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(alphabet="pointlineangelipsx@:;,.-+e0123456789 nafI", max_size=60)
    | st.lists(
        st.tuples(
            st.sampled_from(["point", "line", "angle", "ellipse"]),
            st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=7),
        ),
        max_size=4,
    ).map(lambda items: ";".join(f"{k}:{','.join(map(str, c))}" for k, c in items))
)
def test_any_m_is_answered_200_or_400_never_500(client, ct, text):
    for url in (f"{PAGE}?slice=2&m=", f"/img/{ct.slices.all()[1].token}.png?ww=80&wc=40&m="):
        response = client.get(url, {"m": text})
        assert response.status_code in (200, 400), (url, text)


# --- the page and its links ---------------------------------------------------------------


def test_the_figure_page_lists_measurement_values_without_javascript(client, ct):
    image, data = middle(ct)
    hu = hu_array(data)
    response = page(client, "slice=2&m=point:300,128;line:0,0,0,100")
    body = response.content.decode()
    spacing = float(pydicom.dcmread(io.BytesIO(data)).PixelSpacing[0])
    assert (
        f'<data value="{hu[128, 300]}" data-name="HU" data-unit="HU">{hu[128, 300]:.0f} HU</data>'
        in body
    )
    assert f'data-name="length" data-unit="mm">{100 * spacing:.1f} mm</data>' in body
    assert "Clear measurements" in body
    # The rendered image draws the same measurements.
    src = html.unescape(re.search(r'class="viewer-image" src="([^"]+)"', body)[1])
    assert parse_qs(urlsplit(src).query)["m"] == ["point:300,128;line:0,0,0,100"]
    assert client.get(src).status_code == 200


def test_links_keep_measurements_on_their_slice(client, ct):
    view = page(client, "slice=2&m=line:1,2,3,4").context["item"]["view"]
    assert "m=line@2:1,2,3,4" in view.next_url
    assert "m=line:1,2,3,4" in view.presets[1]["url"]  # same slice: untagged
    assert "m=line:1,2,3,4" in view.zoom_in_url
    # Back on slice 2 the measurement is drawn and untagged again; on slice 3 it is not drawn.
    on_three = page(client, urlsplit(view.next_url).query).context["item"]["view"]
    assert on_three.measurement_rows == []
    assert on_three.measurements_elsewhere == [
        {"number": 2, "count": 1, "url": on_three.slice_url(1)}
    ]
    assert "m=line:1,2,3,4" in on_three.previous_url
    assert "m=" not in on_three.image_url()
    assert "m=line:1,2,3,4" in on_three.image_url(index=1)


def test_the_slice_form_names_the_slice_of_every_measurement(client, ct):
    view = page(client, "slice=2&m=line:1,2,3,4").context["item"]["view"]
    assert ("m", "line@2:1,2,3,4") in view.slice_fields
    assert ("m", "line:1,2,3,4") in view.window_fields


def test_remove_and_clear_links_drop_only_what_they_say(client, ct):
    view = page(client, "slice=2&m=point:5,5;line:1,2,3,4;point@3:9,9").context["item"]["view"]
    first, _ = view.measurement_rows
    assert "m=line:1,2,3,4;point@3:9,9" in first["remove_url"]
    assert "m=point@3:9,9" in view.measurements_clear_url


def test_the_overlay_shows_the_slice_position_and_thickness(client, ct):
    image = ct.slices.all()[1]
    body = page(client, "slice=2").content.decode()
    assert f"Loc {image.slice_location:.1f} mm" in body
    assert f"Thk {image.slice_thickness:g} mm" in body
    assert f'data-value-url="/img/{image.token}/value"' in body


def test_a_comment_view_chip_keeps_the_measurements(ct):
    link = view_link_parse("1:slice=2&m=line:1,2,3,4;point:5,6", figure_numbers={1})
    assert link.query == "slice=2&m=line:1,2,3,4;point:5,6"
    assert link.label == "Figure 1 · slice 2 · 2 measurements"
    assert "m=line:1,2,3,4;point:5,6" in link.url(ct.case)
    with pytest.raises(ViewLinkError):
        view_link_parse("1:m=line:1,2", figure_numbers={1})


# --- the rendered image -------------------------------------------------------------------


def test_measurements_are_drawn_on_the_rendered_image(ct):
    image = ct.slices.all()[1]
    plain = RenderParams(image.token, window_width=80, window_center=40, size=512)
    measured = RenderParams(
        image.token, window_width=80, window_center=40, size=512,
        measurements="line:100,400,400,400;ellipse:256,200,40,30;angle:100,300,200,250,300,300;point:400,100",
    )  # fmt: skip
    assert plain.key() != measured.key()
    before = np.asarray(Image.open(io.BytesIO(slice_render(image, plain))).convert("RGB"))
    data = slice_render(image, measured)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "measurements.png").write_bytes(data)
    after = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    # The line runs along row 400 of the source (a 512-pixel image is drawn at its size).
    row = after[400, 120:380].astype(int)
    assert (row[:, 1] > 200).all() and (row[:, 0] < 120).all()
    assert (before[400, 120:380, 0] == before[400, 120:380, 1]).all()  # grey before
    # Outside the drawings nothing changed.
    assert (after[470:, :80] == before[470:, :80]).all()


def test_the_value_readout_answers_json_and_repeats_without_a_query(client, ct):
    image, data = middle(ct)
    hu = hu_array(data)
    url = f"/img/{image.token}/value"
    response = client.get(url, {"x": "300.4", "y": "128.9"})
    assert response.json() == {
        "x": 300, "y": 128, "value": hu[128, 300], "unit": "HU", "text": f"{hu[128, 300]:.0f} HU"
    }  # fmt: skip
    assert "immutable" in response["Cache-Control"]
    with CaptureQueriesContext(connection) as queries:
        again = client.get(
            url, {"x": "300.9", "y": "128"}, headers={"If-None-Match": response["ETag"]}
        )
    assert again.status_code == 304 and len(queries) == 0
    clamped = client.get(url, {"x": "-40", "y": "9999"}).json()
    assert (clamped["x"], clamped["y"]) == (0, 511)
    assert client.get(url, {"x": "nan", "y": "1"}).status_code == 400
    assert client.get(url, {"x": "1"}).status_code == 400


def test_the_value_readout_of_a_draft_is_for_staff_only(client, staff, ct):
    Case.objects.filter(pk=ct.case.pk).update(status=Case.Status.DRAFT)
    url = f"/img/{ct.slices.all()[0].token}/value?x=1&y=1"
    assert client.get(url).status_code == 404
    client.force_login(staff)
    assert client.get(url).status_code == 200
