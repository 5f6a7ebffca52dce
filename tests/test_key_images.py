"""Key images: ticked on the figure's admin page, shown first by the viewer."""

from __future__ import annotations

import re

import pytest

from cases.models import Slice
from tests.test_admin_synonyms import admin_form_data

pytestmark = pytest.mark.django_db


def _stack(case, count=9):
    figure = case.figures.get(number=1)
    figure.slices.all().delete()
    for position in range(count):
        Slice.objects.create(
            figure=figure, position=position, image=f"slices/k{position}.png", width=8, height=8
        )
    return figure


def test_key_images_are_ticked_on_the_figure_page(client, staff, published_case):
    figure = _stack(published_case)
    client.force_login(staff)
    url = f"/admin/cases/figure/{figure.pk}/change/"
    data = admin_form_data(client.get(url).content.decode())
    assert "slices-6-is_key" not in data  # a checkbox per slice, none ticked
    data["slices-6-is_key"] = ["on"]
    data["slices-2-is_key"] = ["on"]
    response = client.post(url, data)
    assert response.status_code == 302
    assert list(figure.slices.filter(is_key=True).values_list("position", flat=True)) == [2, 6]


def test_the_viewer_opens_on_the_first_key_image(client, published_case):
    figure = _stack(published_case)
    figure.slices.filter(position__in=[6, 2]).update(is_key=True)
    page = client.get(published_case.get_absolute_url()).content.decode()
    stage = re.search(r'id="viewer-1-stage"[^>]*data-slice="(\d+)"', page)
    assert stage.group(1) == "3"  # position 2 is slice 3, not the middle (5)


def test_the_article_lists_key_images_before_the_stack(client, published_case):
    figure = _stack(published_case)
    figure.slices.filter(position__in=[6, 2]).update(is_key=True)
    page = client.get(published_case.get_absolute_url()).content.decode()
    strip = page.index('id="viewer-1-keys-strip"')
    assert strip < page.index('id="viewer-1-stage"')
    links = re.findall(r'<a href="([^"]+)"[^>]*><img [^>]*alt="Slice (\d+)"', page[strip:])
    assert [number for _, number in links] == ["3", "7"]
    assert "slice=7" in links[1][0]


def test_without_key_images_the_viewer_opens_mid_stack_and_shows_no_strip(client, published_case):
    _stack(published_case)
    page = client.get(published_case.get_absolute_url()).content.decode()
    assert re.search(r'id="viewer-1-stage"[^>]*data-slice="5"', page)
    assert "keys-strip" not in page
