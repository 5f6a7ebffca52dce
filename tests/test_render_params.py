"""RenderParams: one rendering's parameters, its render-store key and its image URL."""

from __future__ import annotations

from dataclasses import fields, replace
from urllib.parse import urlsplit

import pytest
from django.http import QueryDict
from django.urls import resolve

from cases.imaging.params import RENDER_VERSION, RenderParams

TOKEN = "0123456789abcdef0123456789abcdef"
VIEW = RenderParams(
    TOKEN,
    window_width=80,
    window_center=40,
    invert=True,
    size=1024,
    zoom=2,
    cx=0.25,
    cy=0.75,
    annotations="0123456789",
    fmt="jpeg",
)
# Another value for every parameter, each of which names another rendering.
CHANGES = {
    "token": "f" * 32,
    "window_width": 81,
    "window_center": 41,
    "invert": False,
    "size": 512,
    "zoom": 3,
    "cx": 0.3,
    "cy": 0.7,
    "annotations": "",
    "fmt": "png",
    "measurements": "line:1,2,3,4",
    "plane": "coronal",
}
# A slice along a reformat's plane: only a reformat has one (an axial view's is always 0).
REFORMAT = replace(VIEW, plane="coronal", plane_index=5)


def parsed(url: str) -> RenderParams | None:
    """What the image view reads from ``url``: the token and format from the path."""
    parts = urlsplit(url)
    match = resolve(parts.path)
    fmt = match.kwargs.get("fmt", "png")
    return RenderParams.from_query(match.kwargs["token"], QueryDict(parts.query), fmt=fmt)


def test_equal_params_have_the_same_key():
    assert replace(VIEW).key() == VIEW.key()
    assert RenderParams(TOKEN).key() == RenderParams(TOKEN).key()


def test_the_key_keeps_the_scheme_of_renders_already_stored():
    assert RenderParams(TOKEN, window_width=80, window_center=40).key() == (
        f"slice-render:v{RENDER_VERSION}:{TOKEN}:80:40:0:0:1:-:png"
    )
    assert VIEW.key() == (
        f"slice-render:v{RENDER_VERSION}:{TOKEN}:80:40:1:1024:2@0.2500,0.7500:0123456789:jpeg"
    )


def test_every_parameter_changes_the_key():
    assert set(CHANGES) | {"plane_index"} == {f.name for f in fields(RenderParams)}
    keys = {name: replace(VIEW, **{name: value}).key() for name, value in CHANGES.items()}
    keys["plane_index"] = REFORMAT.key()
    assert replace(REFORMAT, plane_index=6).key() != REFORMAT.key()
    assert VIEW.key() not in keys.values()
    assert len(set(keys.values())) == len(keys)


def test_an_unmagnified_view_has_one_key_whatever_its_centre():
    assert RenderParams(TOKEN, zoom=1, cx=0.1, cy=0.9) == RenderParams(TOKEN)
    assert RenderParams(TOKEN, zoom=1, cx=0.1).key() == RenderParams(TOKEN).key()
    # The magnified box stays inside the image: a centre at the edge moves in.
    inside = RenderParams(TOKEN, zoom=2, cx=0.25, cy=0.75)
    assert RenderParams(TOKEN, zoom=2, cx=0.0, cy=1.0) == inside


@pytest.mark.parametrize(
    "params",
    [
        VIEW,
        RenderParams(TOKEN),
        RenderParams(TOKEN, fmt="jpeg"),
        RenderParams(TOKEN, window_width=1500, window_center=-600, size=256),
        RenderParams(TOKEN, zoom=8, cx=0.9, cy=0.1, annotations="abcdef0123"),
        RenderParams(TOKEN, zoom=4, cx=0.3141, cy=0.6789),
    ],
)
def test_the_url_reads_back_as_the_same_params(params):
    assert parsed(params.url()) == params


def test_the_url_names_only_the_token():
    url = VIEW.url()
    assert url.startswith(f"/img/{TOKEN}.jpg?")
    assert RenderParams(TOKEN).url() == f"/img/{TOKEN}.png"


def test_a_window_with_more_digits_than_the_url_keeps_its_key():
    params = RenderParams(TOKEN, window_width=1234.56789, window_center=-12.3456789)
    assert parsed(params.url()).key() == params.key()


@pytest.mark.parametrize(
    "query", ["ww=abc&wc=40", "zoom=inf", "cx=", "size=7", "size=big", "ann=ZZZZZZZZZZ"]
)
def test_an_unreadable_query_is_refused(query):
    assert RenderParams.from_query(TOKEN, QueryDict(query)) is None


def test_out_of_range_values_are_clamped():
    params = RenderParams.from_query(TOKEN, QueryDict("ww=0&wc=1e9&zoom=99&cx=2&cy=-1"))
    assert (params.window_width, params.window_center) == (1.0, 100_000.0)
    assert (params.zoom, params.cx, params.cy) == (8.0, 0.9375, 0.0625)
