"""The library page (known and unknown mode): search, facets, sorting and pages."""

from __future__ import annotations

from collections.abc import Callable

from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from cases.models import Case
from cases.preview import sees_drafts

from .citations import case_bibtex, case_ris, references_ris
from .facets import SORTS, LibraryFilters, filters_apply, library_counts
from .models import Collection
from .search import Mode, search_highlights, search_ranked

PAGE_SIZE = 25
BIBTEX = "application/x-bibtex"
RIS = "application/x-research-info-systems"
_NEWEST = F("year").desc(nulls_last=True)  # the same order on SQLite and PostgreSQL
_ORDER = {
    Mode.ARTICLE: {
        "": ("is_sample", _NEWEST, "title", "pk"),
        "newest": (_NEWEST, "title", "pk"),
        "title": ("title", "pk"),
        "added": ("-created", "pk"),
    },
    Mode.UNKNOWN: {
        "": ("unknown_title", "public_id"),
        "title": ("unknown_title", "public_id"),
        "added": ("-created", "pk"),
    },
}


def _results(cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode) -> QuerySet:
    """The results in page order: best match first for a search not sorted otherwise."""
    if filters.query and not filters.sort:
        found = filters_apply(cases, filters.without_query(), mode=mode)
        return search_ranked(found, query=filters.query, mode=mode)
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

    ``cards`` adds to a queryset what each result card shows, read for the page's cases
    only. An htmx request (typing in the search box, ticking a facet) gets the results
    region alone.
    """
    filters = LibraryFilters.from_query(request.GET, mode=mode)
    # Drafts counted (in the counts kept for staff) wherever drafts are listed: a preview too.
    staff = sees_drafts(request.user)
    audience = "staff" if staff else "public"
    total, facets = library_counts(cases, filters, mode=mode, audience=audience)
    # Pages counted from the cached total: the results are read a page at a time.
    page = Paginator(range(total), PAGE_SIZE).get_page(request.GET.get("page"))
    start = (page.number - 1) * PAGE_SIZE
    results = _results(cases, filters, mode=mode).values_list("pk", flat=True)
    ids = list(results[start : start + PAGE_SIZE])
    shown = {case.pk: case for case in cards(cases.filter(pk__in=ids))}
    highlights = search_highlights(case_ids=ids, query=filters.query, mode=mode)
    items = [{"case": shown[pk], "highlight": highlights.get(pk)} for pk in ids if pk in shown]
    sorts = {key: label for key, label in SORTS.items() if key in _ORDER[mode]}
    if not filters.query:
        sorts[""] = "Library order"
    context = {
        "action": request.path,
        "filters": filters,
        "facets": facets,
        "sorts": sorts,
        "page": page,
        "items": items,
        "total": total,
        "my_collections": list(Collection.objects.filter(owner=request.user).only("pk", "title"))
        if request.user.is_authenticated and mode == Mode.ARTICLE
        else [],
        **(extra or {}),
    }
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)


# -- citation downloads -------------------------------------------------------------------


def _get_case_for_user(request: HttpRequest, slug: str) -> Case:
    cases = Case.objects.visible_to(request.user).prefetch_related(
        "authors", "keywords", "references"
    )
    return get_object_or_404(cases, slug=slug)


def _download(text: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def citation_bibtex(request: HttpRequest, slug: str) -> HttpResponse:
    case = _get_case_for_user(request, slug)
    return _download(case_bibtex(case), filename=f"{case.slug}.bib", content_type=BIBTEX)


@require_GET
def citation_ris(request: HttpRequest, slug: str) -> HttpResponse:
    case = _get_case_for_user(request, slug)
    return _download(case_ris(case), filename=f"{case.slug}.ris", content_type=RIS)


@require_GET
def references_ris_download(request: HttpRequest, slug: str) -> HttpResponse:
    case = _get_case_for_user(request, slug)
    if not case.references.all():
        raise Http404("This case lists no references.")
    filename = f"{case.slug}-references.ris"
    return _download(references_ris(case), filename=filename, content_type=RIS)
