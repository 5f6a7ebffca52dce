"""Case pages: the library and the full article (the figure viewer is in imaging/views.py)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .discussion.models import comment_count_subquery
from .models import Case, Figure, TableRow, Tag
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


@require_GET
def library(request: HttpRequest) -> HttpResponse:
    cases = (
        _cases_for_user(request)
        .annotate(
            figure_count=Count("figures", distinct=True), comment_count=comment_count_subquery()
        )
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
