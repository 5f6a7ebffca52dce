"""Library filters and facets: what the URL asks for, and how many cases each choice has.

Choices within one facet widen the results (CT or MRI); facets narrow each other (CT and
chest). Each facet's counts are taken with every other facet applied but not itself, so a
count is what ticking that box would add. A handful of grouped queries whatever the size of
the library.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.http import QueryDict

from cases.models import Case, Tag

from .models import Difficulty
from .search import Mode, library_version, search_filter

UNRATED = "0"
COUNTS_CACHE_SECONDS = 120
KEYWORD_FACET_SIZE = 15
SORTS = {
    "": "Best match",  # with a query; "Library order" without
    "newest": "Newest article",
    "title": "Title",
    "added": "Recently added",
}


@dataclass
class LibraryFilters:
    query: str = ""
    modality: list[str] = field(default_factory=list)
    system: list[str] = field(default_factory=list)
    keyword: list[str] = field(default_factory=list)
    difficulty: list[str] = field(default_factory=list)
    sort: str = ""

    FACETS = ("modality", "system", "keyword", "difficulty")

    @classmethod
    def from_query(cls, params: QueryDict, *, mode: Mode = Mode.ARTICLE) -> LibraryFilters:
        def values(name: str) -> list[str]:
            return sorted({v.strip() for v in params.getlist(name) if v.strip()})[:20]

        levels = {UNRATED, *(str(level) for level in Difficulty.values)}
        filters = cls(
            query=params.get("q", "").strip()[:200],
            modality=values("modality"),
            system=values("system"),
            # Keywords can name the diagnosis: unknown mode neither shows nor takes them.
            keyword=values("keyword") if mode == Mode.ARTICLE else [],
            difficulty=[v for v in values("difficulty") if v in levels],
        )
        sort = params.get("sort", "")
        filters.sort = sort if sort in SORTS else ""
        return filters

    @property
    def active(self) -> bool:
        return bool(self.query or any(getattr(self, name) for name in self.FACETS))


def filters_apply(
    cases: QuerySet[Case],
    filters: LibraryFilters,
    *,
    mode: Mode,
    skip: str = "",
    search: bool = True,
) -> QuerySet[Case]:
    """``cases`` narrowed by the search (unless not ``search``) and every facet but ``skip``."""
    if search:
        cases = search_filter(cases, query=filters.query, mode=mode)
    through_tags = Case.tags.through.objects
    for kind, slugs in (("modality", filters.modality), ("system", filters.system)):
        if slugs and skip != kind:
            tagged = through_tags.filter(tag__kind=kind, tag__slug__in=slugs)
            cases = cases.filter(pk__in=tagged.values("case_id"))
    if filters.keyword and skip != "keyword":
        tagged = Case.keywords.through.objects.filter(keyword__name__in=filters.keyword)
        cases = cases.filter(pk__in=tagged.values("case_id"))
    if filters.difficulty and skip != "difficulty":
        levels = [int(v) for v in filters.difficulty if v != UNRATED]
        condition = Q(difficulty__level__in=levels)
        if UNRATED in filters.difficulty:
            condition |= Q(difficulty__isnull=True)
        cases = cases.filter(condition)
    return cases


@dataclass
class FacetChoice:
    value: str
    label: str
    count: int
    selected: bool


@dataclass
class Facet:
    name: str
    label: str
    choices: list[FacetChoice]


def facets_count(
    cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode = Mode.ARTICLE
) -> list[Facet]:
    """Every facet with its choices and their counts among ``cases`` and the other filters."""
    facets = []
    for kind, label in ((Tag.Kind.MODALITY, "Modality"), (Tag.Kind.SYSTEM, "Body system")):
        within = filters_apply(cases, filters, mode=mode, skip=kind)
        rows = (
            Case.tags.through.objects.filter(case_id__in=within.values("pk"), tag__kind=kind)
            .values("tag__slug", "tag__name")
            .annotate(n=Count("case_id"))
            .order_by("tag__name")
        )
        selected = getattr(filters, kind)
        choices = [
            FacetChoice(r["tag__slug"], r["tag__name"], r["n"], r["tag__slug"] in selected)
            for r in rows
        ]
        facets.append(Facet(str(kind), label, choices))
    if mode == Mode.ARTICLE:
        facets.append(_keyword_facet(cases, filters, mode=mode))
    within = filters_apply(cases, filters, mode=mode, skip="difficulty")
    counts = {
        row["difficulty__level"]: row["n"]
        for row in within.order_by().values("difficulty__level").annotate(n=Count("pk"))
    }
    choices = [
        FacetChoice(str(level), str(name), counts.get(level, 0), str(level) in filters.difficulty)
        for level, name in Difficulty.choices
    ]
    choices.append(
        FacetChoice(UNRATED, "Not rated", counts.get(None, 0), UNRATED in filters.difficulty)
    )
    facets.append(Facet("difficulty", "Difficulty", [c for c in choices if c.count or c.selected]))
    return facets


def _keyword_facet(cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode) -> Facet:
    """The most frequent keywords among the results, and any the user has chosen."""
    within = filters_apply(cases, filters, mode=mode, skip="keyword")
    rows = (
        Case.keywords.through.objects.filter(case_id__in=within.values("pk"))
        .values("keyword__name")
        .annotate(n=Count("case_id"))
        .order_by("-n", "keyword__name")
    )
    top = list(rows[:KEYWORD_FACET_SIZE])
    shown = {row["keyword__name"] for row in top}
    missing = [name for name in filters.keyword if name not in shown]
    if missing:
        top += list(rows.filter(keyword__name__in=missing))
        shown |= {row["keyword__name"] for row in top}
        top += [{"keyword__name": name, "n": 0} for name in missing if name not in shown]
    choices = [
        FacetChoice(
            r["keyword__name"], r["keyword__name"], r["n"], r["keyword__name"] in filters.keyword
        )
        for r in sorted(top, key=lambda r: (-r["n"], r["keyword__name"].lower()))
    ]
    return Facet("keyword", "Keyword", choices)


# -- cached counts ----------------------------------------------------------------------------


def library_counts(
    cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode, audience: str
) -> tuple[int, list[Facet]]:
    """The number of results and the facets, cached until the library changes.

    Counting facets reads every matching case, so it is the one part of a library page whose
    cost grows with the library; the page itself reads only its 25 cases. The key holds the
    library's version (bumped by every index update, see cases.library.signals) and the
    number of published cases (which the admin's bulk publish changes without signals);
    ``audience`` tells apart who sees drafts.
    """
    published = Case.objects.filter(status=Case.Status.PUBLISHED).count()
    state = json.dumps([str(mode), audience, published, asdict(filters)], sort_keys=True)
    key = f"library:counts:{library_version()}:{hashlib.sha256(state.encode()).hexdigest()}"
    counts = cache.get(key)
    if counts is None:
        total = filters_apply(cases, filters, mode=mode).count()
        counts = (total, facets_count(cases, filters, mode=mode))
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts
