"""The figure viewer's pages and the rendered images behind them.

``viewer_context`` is the one way to put a viewer on a page: the article's figure page here,
and unknown mode's figure pages (which pass their own ``base_url`` and caption).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from cases.http import HtmxHttpRequest, client_etags, render_page
from cases.models import Case, Figure, Slice
from cases.preview import sees_drafts

from .measure import value_at
from .params import FORMATS, RenderParams, query_float
from .reformat import ReformatError
from .render import (
    annotations_digest,
    annotations_for_slice,
    render_cache_get,
    render_etag,
    slice_pixels,
    slice_render,
    slice_render_params,
)
from .study import Study
from .viewstate import ViewState

# Rendered images never change under their URL (the token names an immutable file and every
# parameter is in the query string), so browsers may keep them for a year.
IMAGE_CACHE_CONTROL = "private, max-age=31536000, immutable"
_TOKEN = re.compile(r"[0-9a-f]{32}")
# What a rendering reads: a narrow row keeps the query cheap.
_RENDER_FIELDS = (
    "figure_id", "position", "token", "image", "kind", "inverted",
    "figure__window_width", "figure__window_center", "figure__modality", "figure__case__status",
    "width", "height", "pixel_spacing_row", "pixel_spacing_column", "spacing_source",
)  # fmt: skip


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
    return case.is_published or sees_drafts(request.user)


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
    (``slice ww wc zoom cx cy invert ann at``, see ``cases.imaging.viewstate``). ``base_url`` is the
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
    return render_page(
        request, "cases/figure.html", context | {"case": figure.case}, partial="viewer"
    )


def study_context(
    request: HttpRequest,
    *,
    figures: list[Figure],
    base_url: str,
    figure_url: Callable[[Figure], str] | None = None,
    annotations_allowed: bool = True,
) -> dict:
    """The context of ``cases/study.html`` for ``figures`` (those the reader may see)."""
    state = Study.from_query(figures, request.GET, base_url=base_url, figure_url=figure_url,
                             annotations_allowed=annotations_allowed)  # fmt: skip
    strip = []
    for f in figures:
        if f.slices.all():
            first = ViewState.for_figure(f, base_url=base_url,
                                         annotations_allowed=annotations_allowed)  # fmt: skip
            strip.append({"figure": f, "url": state.show_url(1, f),
                          "thumbnail": first.image_url(size=256)})  # fmt: skip
    return {"study": state, "panels": state.panels(), "strip": strip}


def study_response(request: HtmxHttpRequest, context: dict) -> HttpResponse:
    """The study page; a viewport's change (``vp``) without htmx goes to the canonical URL.

    htmx gets the grid and the navigation around it, from which each viewer picks its
    regions (its own, and the linked viewports').
    """
    study: Study = context["study"]
    if study.changed is not None and not request.htmx:
        return HttpResponseRedirect(study.url())
    return render_page(request, "cases/study.html", context, partial="study")


@require_GET
@vary_on_headers("HX-Request")
def study(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The case's figures as a study: a strip of thumbnails and 1, 2 or 4 viewports."""
    case = get_object_or_404(Case, slug=slug)
    if not _case_visible(request, case):
        raise Http404("No such case")
    figures = list(case.figures.prefetch_related("slices", "annotations").order_by("number"))
    context = study_context(request, figures=figures,
                            base_url=reverse("cases:study", args=[slug]))  # fmt: skip
    back = {"url": case.get_absolute_url(), "label": "← Back to the article"}
    return study_response(request, context | {"title": case.title, "back": back})


@require_GET
def slice_image(request: HttpRequest, token: str, fmt: str = "png") -> HttpResponse:
    """A slice rendered at the window, zoom, annotations and size in the query string.

    When the URL names its window (as the viewer's URLs do), a matching ``If-None-Match``
    gets 304 without a database query; otherwise one query finds the slice, its figure and
    case. Unreadable parameters are a 400, out-of-range ones are clamped.
    """
    params = RenderParams.from_query(token, request.GET, fmt=fmt)
    if params is None:
        return HttpResponseBadRequest("Bad image parameters.")
    etags = client_etags(request)
    if (key := _key_named(params)) and (etag := render_etag(key)) in etags:
        return _not_modified(etag)
    image = _get_slice_for_user(request, token)
    annotations = []
    if params.annotations:
        # Drawn only for the digest of the current annotations, which a page may print only
        # where they may be shown: a made-up ``ann`` does not reveal them (unknown mode).
        drawn = annotations_for_slice(image.figure.annotations.all(), image)
        if annotations_digest(drawn) == params.annotations:
            annotations = drawn
    params = slice_render_params(image, params, annotations=annotations)
    etag = render_etag(params.key())
    if etag in etags or "*" in etags:
        return _not_modified(etag)
    try:
        data = slice_render(image, params, annotations=annotations)
    except ReformatError as error:
        return HttpResponseBadRequest(str(error))
    return _image_response(data, fmt, etag)


@require_GET
def slice_value(request: HttpRequest, token: str) -> HttpResponse:
    """The value under the pointer: ``?x=&y=`` in source pixels, answered as JSON.

    ``{"x": column, "y": row, "value": 35.0, "unit": "HU", "text": "35 HU"}`` for the pixel
    under (x, y), clamped into the image; the unit is "" for grey levels (and colour, whose
    ``value`` is the luma and ``text`` the RGB). A value never changes under its URL, so it
    is cached like an image, and a repeat is a 304 without a database query. Drafts answer
    404 but to staff, as their images do. The viewer's ``data-value-url`` names this URL.
    """
    x, y = query_float(request.GET, "x"), query_float(request.GET, "y")
    if x is None or y is None or not _TOKEN.fullmatch(token):
        return HttpResponseBadRequest("x and y must be numbers.")
    # The pixel, before it is clamped: the ETag needs no query (the image's size).
    column, row = math.floor(min(max(x, -1), 1e6)), math.floor(min(max(y, -1), 1e6))
    etag = render_etag(f"slice-value:v1:{token}:{column}:{row}")
    if etag in client_etags(request):
        return _not_modified(etag)
    image = _get_slice_for_user(request, token)
    value = value_at(image, slice_pixels(image), x, y)
    response = JsonResponse(
        {"x": value.column, "y": value.row, "value": value.value, "unit": value.unit,
         "text": value.text}
    )  # fmt: skip
    response["ETag"] = etag
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


def published_image(request: HttpRequest, token: str, fmt: str) -> HttpResponse | None:
    """``slice_image``'s answer when it does not need the visitor, else None.

    That is, for a URL naming its window: a 304 (no query), or a rendering of a slice whose
    case is published now (one query). ``cases.imaging.middleware`` asks this before
    sessions, CSRF and authentication run, as whitenoise does for static files.
    """
    params = RenderParams.from_query(token, request.GET, fmt=fmt)
    if params is None:
        return None
    key = _key_named(params)
    if key is None:
        return None  # the figure's own window: the view reads the figure
    etag = render_etag(key)
    if etag in client_etags(request):
        # Only a browser holding this very rendering can name its ETag; a 304 gives it
        # nothing it has not got (and it keeps an image for a year without asking).
        return _not_modified(etag)
    if (data := render_cache_get(key)) is not None:
        return _image_response(data, params.fmt, etag) if _published(params.token) else None
    if params.annotations or params.plane != "axial":
        # Drawn only after the view's check of the digest; a reformat may be refused in words.
        return None
    image = _slice_read(params.token, figure__case__status=Case.Status.PUBLISHED)
    if image is None:
        return None  # a draft (staff may see it) or no such image: the view decides
    return _image_response(slice_render(image, params), params.fmt, etag)


def _published(token: str) -> bool:
    """Whether the slice named ``token`` belongs to a published case, asked of the database.

    Asked for every stored rendering served before sessions, never remembered, so a case
    returned to draft stops serving at once on every worker and app server.
    """
    published = Slice.objects.filter(token=token, figure__case__status=Case.Status.PUBLISHED)
    return published.exists()


def _key_named(params: RenderParams) -> str | None:
    """The rendering's key when the URL names all of it (its window too), else None."""
    if params.window_width is None or not _TOKEN.fullmatch(params.token):
        return None
    return params.key()


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
