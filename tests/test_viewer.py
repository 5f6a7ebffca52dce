"""The figure viewer page: view state in the URL, no-JS links and forms, htmx fragments."""

from __future__ import annotations

import re
import zipfile
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.views import viewer_context
from cases.imaging.viewstate import ViewState
from cases.models import Annotation, Case, Figure

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


@pytest.fixture
def ct_case() -> Case:
    """A published case with a 5-slice CT stack (real HU data) and an arrow on slice 3."""
    case = Case.objects.create(slug="ct-case", title="CT case", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(
        case=case, number=1, caption="Full caption", alt_text="Axial CT of the head",
        window_width=80, window_center=40,
    )  # fmt: skip
    with zipfile.ZipFile(CT_ZIP) as archive:
        for position, name in enumerate(["10.dcm", "11.dcm", "12.dcm", "13.dcm", "14.dcm"]):
            slice_create_from_bytes(
                figure=figure, name=name, data=archive.read(name), position=position
            )
    Annotation.objects.create(figure=figure, kind="arrow", x=0.4, y=0.5, slice_index=2)
    return case


def figure_url(case: Case, number: int = 1, query: str = "") -> str:
    url = reverse("cases:figure", args=[case.slug, number])
    return f"{url}?{query}" if query else url


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def state_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def image_src(html: str) -> str:
    return unescape(re.search(r'<img class="viewer-image" src="([^"]+)"', html).group(1))


def test_default_view_is_the_middle_slice_in_the_figures_window(client, ct_case):
    html = client.get(figure_url(ct_case)).content.decode()
    assert "Slice <output>3</output> of 5" in html
    assert re.search(r'aria-current="true">Brain \(figure\) 80/40</a>', html)
    assert 'alt="Axial CT of the head, slice 3 of 5"' in html
    src = image_src(html)
    # The stored 512 pixels; the sizes for larger boxes are in srcset (tests/test_viewer_fit.py).
    assert re.fullmatch(r"/img/[0-9a-f]{32}\.jpg\?ww=80&wc=40&ann=[0-9a-f]{10}", src)


def test_every_control_is_a_link_or_get_form_holding_the_whole_view(client, ct_case):
    query = "slice=2&ww=2500&wc=480&zoom=2&cx=0.4&cy=0.6&invert=1"
    html = client.get(figure_url(ct_case, query=query)).content.decode()
    base = figure_url(ct_case)
    links = {unescape(m[1]): unescape(m[0]) for m in re.findall(
        r'<a href="([^"]+)" hx-get="[^"]+"[^>]*aria-label="([^"]+)"', html)}  # fmt: skip
    assert state_of(links["Next slice"]) == {
        "slice": "3", "ww": "2500", "wc": "480", "zoom": "2", "cx": "0.4", "cy": "0.6",
        "invert": "1",
    }  # fmt: skip
    assert state_of(links["Previous slice"])["slice"] == "1"
    assert state_of(links["Zoom in"])["zoom"] == "3"
    assert state_of(links["Zoom out"])["zoom"] == "1.5"
    assert float(state_of(links["Pan left"])["cx"]) == pytest.approx(0.4 - 0.125)
    # The window form keeps everything but the window; the slider form everything but the slice.
    window_form = html[html.index('class="viewer-group window-form"') :]
    window_form = window_form[: window_form.index("</form>")]
    assert f'action="{base}"' in window_form
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', window_form))
    assert hidden == {"slice": "2", "zoom": "2", "cx": "0.4", "cy": "0.6", "invert": "1"}
    slider = html[html.index('class="slice-form"') : html.index("</form>")]
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', slider))
    assert hidden == {"ww": "2500", "wc": "480", "zoom": "2", "cx": "0.4", "cy": "0.6",
                      "invert": "1"}  # fmt: skip
    assert 'name="slice" min="1" max="5" value="2"' in slider
    # Every link goes to the figure page (or the article): none carries a stray parameter.
    for href in hrefs(html):
        if href.startswith(base):
            assert set(state_of(href)) <= {"slice", "ww", "wc", "zoom", "cx", "cy", "invert",
                                           "ann", "at", "plane"}  # fmt: skip


def test_htmx_gets_the_viewer_fragment_and_targets_only_the_image_area(client, ct_case):
    url = figure_url(ct_case, query="slice=4")
    response = client.get(url, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith("<figure")
    assert "HX-Request" in response["Vary"]
    assert 'hx-target="#viewer-1-stage" hx-select="#viewer-1-stage"' in html
    assert 'hx-select-oob="#viewer-1-controls,#viewer-1-state,#viewer-1-position"' in html
    for element_id in ("viewer-1-stage", "viewer-1-controls", "viewer-1-state",
                       "viewer-1-position"):  # fmt: skip
        assert f'id="{element_id}"' in html
    # The canonical URL of the view, for the address bar.
    assert 'data-url="/cases/ct-case/figures/1/?slice=4&amp;ww=80&amp;wc=40"' in html


def test_full_page_without_htmx_links_back_to_the_article(client, ct_case):
    html = client.get(figure_url(ct_case)).content.decode()
    assert "<html" in html and f'href="{ct_case.get_absolute_url()}#figure-1"' in html
    assert "Full caption" in html


def test_a_click_on_the_image_map_magnifies_there_and_redirects_to_the_view(client, ct_case):
    # Without JavaScript an ismap image appends "?x,y" to the link, in displayed pixels.
    response = client.get(figure_url(ct_case, query="slice=3&ww=80&wc=40&at=?128,384"))
    assert response.status_code == 302
    assert state_of(response["Location"]) == {
        "slice": "3", "ww": "80", "wc": "40", "zoom": "1.5", "cx": "0.3333", "cy": "0.6667",
    }  # fmt: skip
    # The next click on the magnified view is relative to what is shown.
    second = client.get(response["Location"] + "&at=256,256")
    assert state_of(second["Location"])["zoom"] == "2"
    assert float(state_of(second["Location"])["cx"]) == pytest.approx(0.3333, abs=1e-3)
    # With htmx the fragment comes back directly, already magnified.
    fragment = client.get(
        figure_url(ct_case, query="slice=3&at=256,256"), headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "zoom=1.5&amp;cx=0.5&amp;cy=0.5" in fragment.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "slice=999", "slice=-4", "slice=abc", "ww=nan&wc=inf", "ww=-5&wc=40", "ww=1e999&wc=1",
        "zoom=1e9&cx=-3&cy=7", "zoom=abc&cx=nan", "at=abc", "at=?1e999,5", "at.x=3&at.y=x",
        "invert=yes&ann=maybe",
    ],
)  # fmt: skip
def test_bad_query_values_are_clamped_never_an_error(client, ct_case, query):
    response = client.get(figure_url(ct_case, query=query), follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    number = int(re.search(r"Slice <output>(\d+)</output> of 5", html).group(1))
    assert 1 <= number <= 5
    state = state_of(unescape(re.search(r'data-url="([^"]+)"', html).group(1)))
    assert 1 <= float(state.get("zoom", 1)) <= 8
    assert 0 <= float(state.get("cx", 0.5)) <= 1 and 0 <= float(state.get("cy", 0.5)) <= 1
    assert float(state["ww"]) >= 1


def test_window_presets_for_8bit_images_are_brightness_and_contrast(client, published_case):
    from PIL import Image

    figure = published_case.figures.get(number=1)
    figure.slices.all().delete()
    import io

    buffer = io.BytesIO()
    Image.new("L", (16, 16), 100).save(buffer, format="PNG")
    slice_create_from_bytes(figure=figure, name="x.png", data=buffer.getvalue(), position=0)
    html = client.get(figure_url(published_case)).content.decode()
    assert "As stored</a>" in html and "More contrast 160/128" in html
    assert "Soft tissue" not in html and "grey levels" in html
    assert "Slice <output>" not in html  # one image: no stack controls


def test_drafts_are_404_to_learners_and_visible_to_staff(client, learner, staff, draft_case):
    url = figure_url(draft_case)
    assert client.get(url).status_code == 404
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 404
    client.force_login(learner)
    assert client.get(url).status_code == 404
    client.force_login(staff)
    assert client.get(url).status_code == 200


def test_missing_figure_is_404_and_post_is_405(client, ct_case):
    assert client.get(figure_url(ct_case, number=9)).status_code == 404
    assert client.post(figure_url(ct_case)).status_code == 405


def test_annotations_toggle_and_the_annotated_image_url(client, ct_case):
    html = client.get(figure_url(ct_case)).content.decode()  # slice 3 has the arrow
    assert re.search(r"ann=[0-9a-f]{10}", image_src(html))
    toggle = re.search(r'<a href="([^"]+)"[^>]*data-key="a"[^>]*aria-current="true">Arrows', html)
    assert state_of(unescape(toggle.group(1)))["ann"] == "0"
    hidden = client.get(figure_url(ct_case, query="ann=0")).content.decode()
    assert "ann=" not in image_src(hidden)
    # Slice 1 has no annotation: its image URL draws nothing.
    assert "ann=" not in image_src(
        client.get(figure_url(ct_case, query="slice=1")).content.decode()
    )


def test_viewer_context_builds_on_base_url_and_can_leave_out_annotations(rf, ct_case):
    from django.template.loader import render_to_string

    figure = Figure.objects.prefetch_related("slices", "annotations").get(case=ct_case)
    request = rf.get("/u/abc123/figures/1/", {"slice": "3", "zoom": "2"})
    context = viewer_context(
        request,
        figure=figure,
        base_url="/u/abc123/figures/1/",
        caption="Spoiler-free caption",
        annotations_allowed=False,
    )
    assert set(context) == {"item"} and isinstance(context["item"]["view"], ViewState)
    html = render_to_string("cases/figure.html#viewer", context)
    assert "Spoiler-free caption" in html and "Full caption" not in html
    assert ct_case.slug not in html and "/cases/" not in html
    for href in hrefs(html):
        assert href.startswith(("/u/abc123/figures/1/", "/img/")), href
    assert re.findall(r'(?:action|hx-get)="([^"]+)"', html)
    for target in re.findall(r'(?:action|hx-get)="([^"]+)"', html):
        assert unescape(target).startswith("/u/abc123/figures/1/")
    # No arrows at all: no toggle, no annotated image, not even in the preloads.
    assert "ann=" not in html and "Arrows" not in html and 'data-key="a"' not in html
    # The same works from a plain query mapping, and inside the article's include loop.
    again = viewer_context({"slice": "3"}, figure=figure, base_url="/u/abc123/figures/1/",
                           caption="", annotations_allowed=True)  # fmt: skip
    assert "ann=" in render_to_string("cases/figure.html#viewer", again)


def test_the_article_includes_a_viewer_per_figure(client, ct_case):
    html = client.get(ct_case.get_absolute_url()).content.decode()
    assert html.count('class="viewer"') == 1
    assert 'hx-get="/cases/ct-case/figures/1/?slice=4&amp;ww=80&amp;wc=40"' in html


def test_figure_page_query_count_is_flat(client, ct_case):
    client.get(figure_url(ct_case))  # warm the decoded-header cache
    with CaptureQueriesContext(connection) as queries:
        client.get(figure_url(ct_case, query="slice=2&zoom=2"))
    assert len(queries) <= 3  # the figure with its case, the slices, the annotations


def test_a_figure_without_a_caption_shows_its_label_without_a_colon(client, published_case):
    figure = published_case.figures.get(number=2)
    figure.caption = ""
    figure.save(update_fields=["caption"])
    html = client.get(f"/cases/{published_case.slug}/figures/2/").content.decode()
    assert f"<strong>{figure.label}</strong>" in html
    assert f"{figure.label}:</strong>" not in html
    captioned = client.get(f"/cases/{published_case.slug}/figures/1/").content.decode()
    assert f"{published_case.figures.get(number=1).label}:</strong>" in captioned
