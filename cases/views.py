"""Case pages: the library, the full article and its figures, and rendered images."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .imaging.render import slice_render, slice_render_key
from .models import Case, Figure, Slice, TableRow, Tag
from .viewstate import ViewState


def _cases_for_user(request: HttpRequest) -> QuerySet[Case]:
    return Case.objects.visible_to(request.user)


def _get_case_for_user(request: HttpRequest, slug: str, *, full: bool = False) -> Case:
    cases = _cases_for_user(request)
    if full:
        cases = cases.prefetch_related(
            "authors",
            "affiliations",
            "keywords",
            "abbreviations",
            "references",
            "tags",
            Prefetch(
                "figures",
                queryset=Figure.objects.prefetch_related("slices", "annotations"),
            ),
            Prefetch("tables__rows", queryset=TableRow.objects.order_by("order", "id")),
        )
    return get_object_or_404(cases, slug=slug)


def _get_figure_for_user(request: HttpRequest, slug: str, number: int) -> Figure:
    figures = Figure.objects.select_related("case").prefetch_related("slices")
    figure = get_object_or_404(figures, case__slug=slug, number=number)
    if not _cases_for_user(request).filter(pk=figure.case_id).exists():
        raise Http404("No such case")
    return figure


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    cases = (
        _cases_for_user(request)
        .annotate(figure_count=Count("figures", distinct=True))
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("kind", "name")))
        .order_by("is_sample", "-year", "title")
    )
    return render(request, "cases/library.html", {"cases": cases})


@require_GET
def article(request: HttpRequest, slug: str) -> HttpResponse:
    case = _get_case_for_user(request, slug, full=True)
    figures = [
        {"figure": figure, "view": ViewState.for_figure(figure)} for figure in case.figures.all()
    ]
    affiliations = {str(a.number): a for a in case.affiliations.all()}
    return render(
        request,
        "cases/article.html",
        {"case": case, "figures": figures, "affiliations": affiliations},
    )


@require_GET
@vary_on_headers("HX-Request")
def figure(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """One figure with its viewer state from the query string (a link to an exact view)."""
    figure = _get_figure_for_user(request, slug, number)
    view = ViewState.from_query(figure, request.GET)
    context = {"case": figure.case, "item": {"figure": figure, "view": view}}
    template = "cases/figure.html#viewer" if request.htmx else "cases/figure.html"
    return render(request, template, context)


@require_GET
def slice_image(request: HttpRequest, token: str) -> HttpResponse:
    """A slice rendered with the window, inversion and size in the query string."""
    image = get_object_or_404(Slice.objects.select_related("figure__case"), token=token)
    if not _cases_for_user(request).filter(pk=image.figure.case_id).exists():
        raise Http404("No such image")
    params = ViewState.render_params(image.figure, request.GET)
    etag = f'"{slice_render_key(image, **params)}"'
    cache_control = "private, max-age=31536000, immutable"
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(slice_render(image, **params), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response
