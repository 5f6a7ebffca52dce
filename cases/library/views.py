"""The library page (known and unknown mode): search, facets, sorting and pages."""

from __future__ import annotations

from collections.abc import Callable

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cases.models import Case

from .facets import SORTS, LibraryFilters, facets_count, filters_apply
from .search import Mode, search_highlights, search_ranked

PAGE_SIZE = 25
_ORDER = {
    Mode.ARTICLE: {
        "": ("is_sample", "-year", "title", "pk"),
        "newest": ("-year", "title", "pk"),
        "title": ("title", "pk"),
        "added": ("-created", "pk"),
    },
    Mode.UNKNOWN: {
        "": ("unknown_title", "public_id"),
        "title": ("unknown_title", "public_id"),
        "added": ("-created", "pk"),
    },
}


def _results(cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode) -> QuerySet[Case]:
    if filters.query and filters.sort == "relevance":
        narrowed = filters_apply(cases, filters, mode=mode, search=False)
        return search_ranked(narrowed, query=filters.query, mode=mode)
    order = _ORDER[mode].get(filters.sort, _ORDER[mode][""])
    return filters_apply(cases, filters, mode=mode).order_by(*order)


def library_page(
    request: HttpRequest,
    *,
    cases: QuerySet[Case],
    mode: Mode,
    template: str,
    cards: Callable[[QuerySet[Case]], QuerySet[Case]],
    extra: dict | None = None,
) -> HttpResponse:
    """One page of the library: ``cases`` searched, filtered, sorted, counted by facet.

    ``cards`` adds what each result card shows (counts, tags) to the page's cases only, so
    the cost of a card does not grow with the library. An htmx request (typing in the search
    box, ticking a facet) gets the results region alone.
    """
    filters = LibraryFilters.from_query(request.GET, mode=mode)
    results = _results(cases, filters, mode=mode)
    paginator = Paginator(results.values_list("pk", flat=True), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    ids = list(page.object_list)
    by_id = {case.pk: case for case in cards(Case.objects.filter(pk__in=ids))}
    highlights = search_highlights(case_ids=ids, query=filters.query, mode=mode)
    items = [{"case": by_id[pk], "highlight": highlights.get(pk)} for pk in ids if pk in by_id]
    sorts = {
        key: label for key, label in SORTS.items() if key in _ORDER[mode] or key == "relevance"
    }
    if not filters.query:
        sorts.pop("relevance")
    context = {
        "filters": filters,
        "facets": facets_count(cases, filters, mode=mode),
        "page": page,
        "items": items,
        "sorts": sorts,
        "total": paginator.count,
        **(extra or {}),
    }
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)
