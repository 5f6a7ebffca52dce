"""The figure viewer's pages and the rendered images behind them.

``viewer_context`` is the one way to put a viewer on a page: the article's figure page here,
and unknown mode's figure pages (which pass their own ``base_url`` and caption).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache

from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import parse_etags
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from cases.models import Case, Figure, Slice
from cases.viewstate import RENDER_SIZES, ViewState, window_param

from .render import (
    FORMATS,
    annotations_digest,
    annotations_for_slice,
    render_cache_get,
    render_etag,
    render_key,
    slice_render,
    slice_render_key,
)

# Rendered images never change under their URL (the token names an immutable file and every
# parameter is in the query string), so browsers may keep them for a year.
IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"
_TOKEN = re.compile(r"[0-9a-f]{32}")
# What a rendering reads: a narrow row keeps the query cheap.
_RENDER_FIELDS = (
    "figure_id", "position", "token", "image", "kind", "inverted",
    "figure__window_width", "figure__window_center", "figure__case__status",
)  # fmt: skip
_DIGEST = re.compile(r"[0-9a-f]{10}")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_figure_for_user(request: HttpRequest, slug: str, number: int) -> Figure:
    figures = Figure.objects.select_related("case").prefetch_related("slices", "annotations")
    figure = get_object_or_404(figures, case__slug=slug, number=number)
    if not _case_visible(request, figure.case):
        raise Http404("No such case")
    return figure


def _get_slice_for_user(request: HttpRequest, token: str) -> Slice:
    """The slice behind an image URL, with its figure and case, in one query."""
    image = _slice_read(token)
    if image is None or not _case_visible(request, image.figure.case):
        raise Http404("No such image")
    return image


def _slice_read(token: str, **filters) -> Slice | None:
    """The slice named ``token`` (one indexed query, on its unique token), or None.

    Read for every image request, never remembered between requests: whether its case is
    published is the database's answer of the moment, so a case returned to draft stops
    serving its images at once, on every worker and every app server.
    """
    if not _TOKEN.fullmatch(token):
        return None
    images = Slice.objects.select_related("figure__case").only(*_RENDER_FIELDS)
    return images.filter(token=token, **filters).first()


def _case_visible(request: HttpRequest, case: Case) -> bool:
    # Drafts are for staff only; an anonymous request without a session costs no query here.
    return case.is_published or (request.user.is_authenticated and request.user.is_staff)


def viewer_context(
    request_or_query: HttpRequest | Mapping[str, str],
    *,
    figure: Figure,
    base_url: str,
    caption: str,
    annotations_allowed: bool,
    alt_text: str | None = None,
) -> dict:
    """The context for ``"cases/figure.html#viewer"``, standalone or through ``{% include %}``.

    ``request_or_query`` is the request (its GET) or a query mapping holding the view state
    (``slice ww wc zoom cx cy invert ann at``, see ``cases.viewstate``). ``base_url`` is the
    page that re-renders this figure's viewer in the current mode (``/cases/<slug>/figures/
    <n>/`` or ``/u/<public_id>/figures/<n>/``): every link, form action and hx-get in the
    viewer is built on it, so nothing in the output names the case. ``caption`` is the text
    shown under the figure (the caller decides full or spoiler-free; Markdown inline). With
    ``annotations_allowed=False`` no annotation markup, toggle or annotated image URL
    appears. The alt text is ``figure.alt_text`` unless ``alt_text`` is given (e.g. masked).
    Prefetch ``slices`` and ``annotations`` on the figure to keep the query count flat.

    The returned dict is ``{"item": {"figure": figure, "view": ViewState}}``; the partial
    reads ``item``, as the article page's loop does. For htmx requests render the partial
    alone; the viewer's script puts ``view.url()`` in the address bar after each swap.
    """
    query = request_or_query.GET if isinstance(request_or_query, HttpRequest) else request_or_query
    view = ViewState.from_query(
        figure,
        query,
        base_url=base_url,
        caption=caption,
        alt_text=alt_text,
        annotations_allowed=annotations_allowed,
    )
    return {"item": {"figure": figure, "view": view}}


@require_GET
@vary_on_headers("HX-Request")
def figure(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """One figure at the view in the query string: a link to an exact view."""
    figure = _get_figure_for_user(request, slug, number)
    context = viewer_context(
        request,
        figure=figure,
        base_url=reverse("cases:figure", args=[slug, number]),
        caption=figure.caption,
        annotations_allowed=True,
    )
    view: ViewState = context["item"]["view"]
    if not request.htmx and ("at" in request.GET or "at.x" in request.GET):
        # A click on the image without JavaScript: show the magnified view at its own URL.
        return HttpResponseRedirect(view.url())
    if request.htmx:
        return render(request, "cases/figure.html#viewer", context)
    return render(request, "cases/figure.html", context | {"case": figure.case})


@require_GET
def slice_image(request: HttpRequest, token: str, fmt: str = "png") -> HttpResponse:
    """A slice rendered at the window, zoom, annotations and size in the query string.

    When the URL names its window (as the viewer's URLs do), a matching ``If-None-Match``
    gets 304 without a database query; otherwise one query finds the slice, its figure and
    case. Unreadable parameters are a 400, out-of-range ones are clamped.
    """
    params = _render_params(request.GET)
    if params is None:
        return HttpResponseBadRequest("Bad image parameters.")
    client_etags = _client_etags(request)
    if (key := _key_named(token, fmt, params)) and (etag := render_etag(key)) in client_etags:
        return _not_modified(etag)
    render_args = {k: v for k, v in params.items() if k != "annotations"}
    image = _get_slice_for_user(request, token)
    annotations = []
    if params["annotations"]:
        # Drawn only for the digest of the current annotations, which a page may print only
        # where they may be shown: a made-up ``ann`` does not reveal them (unknown mode).
        drawn = annotations_for_slice(image.figure.annotations.all(), image)
        if annotations_digest(drawn) == params["annotations"]:
            annotations = drawn
    etag = render_etag(slice_render_key(image, annotations=annotations, fmt=fmt, **render_args))
    if etag in client_etags or "*" in client_etags:
        return _not_modified(etag)
    data = slice_render(image, annotations=annotations, fmt=fmt, **render_args)
    return _image_response(data, fmt, etag)


def published_image(request: HttpRequest, token: str, fmt: str) -> HttpResponse | None:
    """``slice_image``'s answer when it does not need the visitor, else None.

    That is, for a URL naming its window: a 304 (no query), or a rendering of a slice whose
    case is published now (one query). ``cases.imaging.middleware`` asks this before
    sessions, CSRF and authentication run, as whitenoise does for static files.
    """
    params = _render_params(request.GET)
    if params is None:
        return None
    key = _key_named(token, fmt, params)
    if key is None:
        return None  # the figure's own window: the view reads the figure
    etag = render_etag(key)
    if etag in _client_etags(request):
        # Only a browser holding this very rendering can name its ETag; a 304 gives it
        # nothing it has not got (and it keeps an image for a year without asking).
        return _not_modified(etag)
    if (data := render_cache_get(key)) is not None:
        return _image_response(data, fmt, etag) if _published(token) else None
    if params["annotations"]:
        return None  # drawn only after the view's check of the digest
    image = _slice_read(token, figure__case__status=Case.Status.PUBLISHED)
    if image is None:
        return None  # a draft (staff may see it) or no such image: the view decides
    render_args = {k: v for k, v in params.items() if k != "annotations"}
    return _image_response(slice_render(image, fmt=fmt, **render_args), fmt, etag)


def _published(token: str) -> bool:
    """Whether the slice named ``token`` belongs to a published case, asked of the database.

    Asked for every stored rendering served before sessions, so a case returned to draft
    stops serving at once on every worker and app server. The SQL is written out (one
    lookup on the unique token, two primary-key joins): compiling the same question through
    the ORM costs several times the lookup and more than reading the stored rendering.
    """
    with connection.cursor() as cursor:
        cursor.execute(_published_sql(), [token, Case.Status.PUBLISHED.value])
        return cursor.fetchone() is not None


@cache
def _published_sql() -> str:
    def column(model, name: str) -> str:
        return f"{model._meta.db_table}.{model._meta.get_field(name).column}"

    return (
        f"SELECT 1 FROM {Slice._meta.db_table}"
        f" JOIN {Figure._meta.db_table} ON {column(Figure, 'id')} = {column(Slice, 'figure')}"
        f" JOIN {Case._meta.db_table} ON {column(Case, 'id')} = {column(Figure, 'case')}"
        f" WHERE {column(Slice, 'token')} = %s AND {column(Case, 'status')} = %s"
    )


def _client_etags(request: HttpRequest) -> set[str]:
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x". Read from META:
    # ``request.headers`` would first sort out every header a browser sent.
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    return {t.removeprefix("W/") for t in parse_etags(header)}


def _key_named(token: str, fmt: str, params: dict) -> str | None:
    """The rendering's key when the URL names all of it (its window too), else None."""
    if params["window_width"] is None or not _TOKEN.fullmatch(token):
        return None
    return render_key(token, fmt=fmt, **params)


def _image_response(data: bytes, fmt: str, etag: str) -> HttpResponse:
    response = HttpResponse(data, content_type=FORMATS[fmt])
    # Served ahead of CommonMiddleware, which would set it: without it an HTTP/1.1 answer
    # is chunked (a write more, and no size for the browser to show progress by).
    response["Content-Length"] = len(data)
    response["ETag"] = etag
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


def _not_modified(etag: str) -> HttpResponse:
    response = HttpResponseNotModified()
    response["ETag"] = etag
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


def _render_params(query: Mapping[str, str]) -> dict | None:
    """Keyword arguments for ``render_key`` from an image URL, or None if unreadable."""
    for name in ("ww", "wc", "zoom", "cx", "cy", "size"):
        value = query.get(name)
        if value is not None and not _is_number(value):
            return None
    width, center = window_param(query)
    size = int(float(query.get("size") or 0))
    if size and size not in RENDER_SIZES:
        return None
    digest = query.get("ann", "")
    if digest and not _DIGEST.fullmatch(digest):
        return None
    return {
        "window_width": width,
        "window_center": center,
        "invert": query.get("invert") == "1",
        "max_size": size or None,
        "zoom": float(query.get("zoom") or 1),
        "cx": float(query.get("cx") or 0.5),
        "cy": float(query.get("cy") or 0.5),
        "annotations": digest,
    }


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
