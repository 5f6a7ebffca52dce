"""Reset (the Space key and the no-JS link): the author's window, no zoom, no pan, no invert,
on the slice being read."""

from __future__ import annotations

import re
import zipfile
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from cases.imaging.ingest import slice_create_from_bytes
from cases.models import Annotation, Case, Figure
from tests.conftest import DEMO_DIR

pytestmark = pytest.mark.django_db

CT_ZIP = DEMO_DIR / "dicom" / "ct-head-ge.zip"


def ct_case_build(**window) -> Case:
    case = Case.objects.create(slug="ct-case", title="CT case", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1, caption="Head CT", **window)
    with zipfile.ZipFile(CT_ZIP) as archive:
        for position, name in enumerate(["10.dcm", "11.dcm", "12.dcm", "13.dcm", "14.dcm"]):
            slice_create_from_bytes(
                figure=figure, name=name, data=archive.read(name), position=position
            )
    Annotation.objects.create(figure=figure, kind="arrow", x=0.4, y=0.5, slice_index=2)
    return case


def reset_href(html: str) -> str:
    match = re.search(r'<a href="([^"]*)" hx-get="[^"]*" data-key=" "[^>]*>Reset</a>', html)
    return unescape(match.group(1))


def state_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_reset_keeps_the_slice_and_resets_window_zoom_pan_and_invert(client):
    case = ct_case_build(window_width=80, window_center=40)
    url = reverse("cases:figure", args=[case.slug, 1])
    page = client.get(f"{url}?slice=4&ww=1500&wc=-600&zoom=2&cx=0.3&cy=0.6&invert=1&ann=0")
    href = reset_href(page.text)
    assert href.startswith(url)
    # The arrows' on/off is the reader's choice, not a change to the picture: it stays.
    assert state_of(href) == {"slice": "4", "ww": "80", "wc": "40", "ann": "0"}
    # Without JavaScript the link itself is the reset: slice 4, the author's window.
    reset = client.get(href)
    assert "Slice <output>4</output> of 5" in reset.text
    assert state_of(reset_href(reset.text)) == state_of(href)


def test_reset_of_a_figure_without_its_own_window_uses_the_dicom_header_window(client):
    case = ct_case_build()
    url = reverse("cases:figure", args=[case.slug, 1])
    default = client.get(url)
    default_window = {k: v for k, v in state_of(reset_href(default.text)).items() if k != "slice"}
    assert set(default_window) == {"ww", "wc"}
    page = client.get(f"{url}?slice=1&ww=400&wc=40&zoom=3")
    assert state_of(reset_href(page.text)) == {"slice": "1", **default_window}
