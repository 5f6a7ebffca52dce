"""The study view: a case's figures in 1, 2 or 4 viewports, with linked scrolling."""

from __future__ import annotations

import re
import zipfile
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Case, Figure

pytestmark = pytest.mark.django_db

CT_ZIP = Path(__file__).resolve().parent.parent / "cases" / "demo" / "dicom" / "ct-head-ge.zip"


def series() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CT_ZIP) as archive:
        return [(n, archive.read(n)) for n in sorted(archive.namelist()) if n.endswith(".dcm")]


@pytest.fixture
def study_case() -> Case:
    """Two figures from the one head CT: slices 1-20 and slices 9-28."""
    case = Case.objects.create(slug="ct", title="CT", status=Case.Status.PUBLISHED)
    files = series()
    for number, part in ((1, files[:20]), (2, files[8:])):
        figure = Figure.objects.create(case=case, number=number, window_width=80,
                                       window_center=40)  # fmt: skip
        for position, (name, data) in enumerate(part):
            slice_create_from_bytes(figure=figure, name=name, data=data, position=position)
    return case


def section(html: str, number: int) -> str:
    start = html.index(f'id="viewport-{number}"')
    return html[start : html.index("</section>", start)]


def link(html: str, label: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*aria-label="{re.escape(label)}"', html)
    assert match, label
    return unescape(match[1])


def viewports(url: str) -> dict[str, dict[str, str]]:
    query = parse_qs(urlsplit(url).query)
    out = {}
    for name in ("v1", "v2"):
        figure, _, view = query[name][0].partition(":")
        out[name] = {"figure": figure} | {k: v[0] for k, v in parse_qs(view).items()}
    return out


def follow(client, url: str) -> str:
    """A viewport's link without JavaScript: redirected to the study's canonical URL."""
    response = client.get(url)
    assert response.status_code == 302
    return response["Location"]


def test_two_viewports_show_two_figures_with_a_strip(client, study_case):
    html = client.get("/cases/ct/study/?layout=2").content.decode()
    assert 'id="viewport-1"' in html and 'id="viewport-2"' in html
    assert 'aria-label="Viewport 2: Figure 2' in html
    assert html.count('class="study-strip"') == 1 and html.count("<img") >= 4
    # Each viewport is a figure viewer of its own, with its own element ids.
    assert html.count("data-viewer ") == 2
    assert 'id="viewer-s1-stage"' in html and 'id="viewer-s2-stage"' in html


def test_linked_scrolling_moves_the_other_viewport_to_the_same_position(client, study_case):
    # Viewport 1 at slice 15 (file 15); its next is file 16, which is slice 8 of figure 2.
    url = "/cases/ct/study/?layout=2&link=1&v1=1:slice=15&v2=2:slice=1"
    html = client.get(url).content.decode()
    step = link(section(html, 1), "Next slice")
    assert "vp=1" in step and "slice=16" in step
    state = viewports(follow(client, step))
    assert state["v1"]["slice"] == "16"
    assert state["v2"]["slice"] == "8"
    # Unlinked, the other viewport stays where it was.
    html = client.get(url.replace("link=1&", "")).content.decode()
    assert viewports(follow(client, link(section(html, 1), "Next slice")))["v2"]["slice"] == "1"


def test_a_viewport_step_over_htmx_answers_both_linked_viewports(client, study_case):
    url = "/cases/ct/study/?layout=2&link=1&v1=1:slice=15&v2=2:slice=1&vp=1&slice=16"
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the grid alone
    assert 'id="viewer-s1-stage"' in html and 'data-slice="16"' in section(html, 1)
    assert 'data-slice="8"' in section(html, 2)
    # The viewer takes the linked viewport's regions out of band.
    assert "#viewer-s2-stage" in section(html, 1)


def test_a_viewport_switches_to_coronal(client, study_case):
    html = client.get("/cases/ct/study/?layout=2&v2=2:slice=3").content.decode()
    coronal = re.findall(r'<a href="([^"]+)">Coronal</a>', html)
    assert len(coronal) == 2
    html = client.get(follow(client, unescape(coronal[1]))).content.decode()
    images = re.findall(r'class="viewer-image" src="([^"]+)"', html)
    assert "plane=coronal" in images[1] and "plane=coronal" not in images[0]


def test_drafts_are_404(client, study_case):
    study_case.status = Case.Status.DRAFT
    study_case.save()
    assert client.get("/cases/ct/study/").status_code == 404


def test_the_article_opens_each_figure_as_a_study(client, study_case):
    html = client.get("/cases/ct/").content.decode()
    assert html.count(">Open as study</a>") == 2
    page = client.get("/cases/ct/study/?v1=2%3A").content.decode()
    assert 'aria-label="Viewport 1: Figure 2' in page


def test_a_viewports_slice_form_keeps_the_rest_of_the_study(client, study_case):
    html = client.get(
        "/cases/ct/study/?layout=2&link=1&v1=1:slice=15&v2=2:slice=4"
    ).content.decode()
    form = section(html, 2).split('class="slice-form"')[1].split("</form>")[0]
    fields = {
        k: unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }
    assert fields["vp"] == "2" and fields["layout"] == "2" and fields["link"] == "1"
    assert fields["v1"] == "1:slice=15&ww=80&wc=40"
    assert fields["v2"] == "2:"  # the viewer's own fields name viewport 2's view
    # Submitted without JavaScript, the slice lands in viewport 2, and viewport 1 follows:
    # slice 9 of figure 2 is file 17 of the CT, figure 1's slice 17.
    state = viewports(follow(client, f"/cases/ct/study/?{urlencode(fields)}&slice=9"))
    assert state["v2"]["slice"] == "9"
    assert state["v1"]["slice"] == "17"
