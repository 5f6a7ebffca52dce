"""Case pages: the library and the full article (the figure viewer is in imaging/views.py)."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .discussion.models import comment_count_subquery
from .imaging.viewstate import ViewState
from .library.search import Mode
from .library.views import library_page
from .markdown import ArticleLinks
from .models import Case, Figure, TableRow, Tag
from .preview import case_preview_urls


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


def _library_cards(cases: QuerySet[Case]) -> QuerySet[Case]:
    """What a library card shows: the citation, counts, difficulty and tags."""
    figures = Figure.objects.filter(case=OuterRef("pk")).order_by().values("case")
    return (
        cases.only(
            "slug",
            "title",
            "status",
            "is_sample",
            "journal",
            "year",
            "volume",
            "issue",
            "pages",
            "difficulty__level",
        )  # fmt: skip
        .select_related("difficulty")
        .annotate(
            figure_count=Coalesce(Subquery(figures.annotate(n=Count("pk")).values("n")), 0),
            comment_count=comment_count_subquery(),
        )
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("kind", "name")))
        .order_by()
    )


@require_GET
@vary_on_headers("HX-Request")
def library(request: HttpRequest) -> HttpResponse:
    """Search, filters and pages: cases.library.views does the work for both libraries."""
    return library_page(
        request,
        cases=_cases_for_user(request),
        mode=Mode.ARTICLE,
        template="cases/library.html",
        cards=_library_cards,
    )


@require_GET
def article(request: HttpRequest, slug: str) -> HttpResponse:
    case = _get_case_for_user(request, slug, full=True)
    figures = [
        {"figure": figure, "view": ViewState.for_figure(figure)} for figure in case.figures.all()
    ]
    affiliations = {str(a.number): a for a in case.affiliations.all()}
    links = ArticleLinks(
        figures={f.number for f in case.figures.all()},
        references={r.order for r in case.references.all()},
        abbreviations={a.abbreviation: a.expansion for a in case.abbreviations.all()},
    )
    context = {"case": case, "figures": figures, "affiliations": affiliations, "links": links}
    if request.user.is_authenticated and request.user.is_staff:
        context["preview_urls"] = case_preview_urls(case)
    return render(request, "cases/article.html", context)
