"""Library filters and facets: what the URL asks for, and how many cases each choice has.

Choices within one facet widen the results (CT or MRI); facets narrow each other (CT and
chest). Each facet's counts are taken with every other facet applied but not itself, so a
count is what ticking that box would add. A handful of grouped queries whatever the size of
the library, each reading the tag, keyword or difficulty table alone (see ``Scope``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db.models import Count, Lookup, Q, QuerySet
from django.db.models.expressions import Col
from django.http import QueryDict

from cases.models import Case, Tag

from .models import CaseDifficulty, Difficulty
from .search import Mode, ids_subquery
from .version import library_version

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
        return bool(self.query or self.faceted)

    @property
    def faceted(self) -> bool:
        return any(getattr(self, name) for name in self.FACETS)


def _facet_conditions(filters: LibraryFilters, *, skip: str, field: str) -> list[Q]:
    """Every facet's choices but ``skip``'s, as conditions on a case id (``field``)."""
    conditions = []
    through_tags = Case.tags.through.objects
    for kind, slugs in (("modality", filters.modality), ("system", filters.system)):
        if slugs and skip != kind:
            tagged = through_tags.filter(tag__kind=kind, tag__slug__in=slugs)
            conditions.append(Q(**{f"{field}__in": tagged.values("case_id")}))
    if filters.keyword and skip != "keyword":
        tagged = Case.keywords.through.objects.filter(keyword__name__in=filters.keyword)
        conditions.append(Q(**{f"{field}__in": tagged.values("case_id")}))
    if filters.difficulty and skip != "difficulty":
        rated = CaseDifficulty.objects.values("case_id")
        levels = [int(v) for v in filters.difficulty if v != UNRATED]
        either = [Q(**{f"{field}__in": rated.filter(level__in=levels)})] if levels else []
        if UNRATED in filters.difficulty:
            either.append(~Q(**{f"{field}__in": rated}))
        conditions.append(reduce(or_, either))
    return conditions


def filters_apply(
    cases: QuerySet[Case], filters: LibraryFilters, *, skip: str = ""
) -> QuerySet[Case]:
    """``cases`` narrowed by every facet but ``skip`` (the search is the caller's)."""
    return cases.filter(*_facet_conditions(filters, skip=skip, field="pk"))


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


@dataclass(frozen=True)
class Scope:
    """The cases counted: the ``ids`` a search found, or every case but the ``hidden``.

    Either way a count reads the tag, keyword or difficulty table alone, with the ids as a
    parameter: checking each of its rows' case against the visible ones would cost a lookup
    per row. Hidden cases (drafts, for most) are few; their counts are taken away.
    """

    ids: list[int] | None = None
    hidden: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, cases: QuerySet[Case], *, ids: list[int] | None) -> Scope:
        if ids is not None:
            return cls(ids=ids)
        hidden = _cases_hidden(cases).order_by()
        return cls(hidden=list(hidden.values_list("pk", flat=True)))

    def tally(self, rows: QuerySet, *by: str) -> Counter:
        """How many of ``rows`` (each of one ``case_id``) have each value of ``by``.

        Keyed by the value, or with several fields by the tuple of their values.
        """

        def grouped(rows: QuerySet) -> Counter:
            rows = rows.order_by().values_list(*by).annotate(n=Count("case_id"))
            return Counter({row[0] if len(by) == 1 else row[:-1]: row[-1] for row in rows})

        if self.ids is not None:
            return grouped(rows.filter(case_id__in=ids_subquery(self.ids)))
        counts = grouped(rows)
        if self.hidden:
            counts.subtract(grouped(rows.filter(case_id__in=ids_subquery(self.hidden))))
        return +counts  # without the zeros

    def count(self, conditions: list[Q]) -> int:
        """How many of the cases meet every one of ``conditions`` (on ``pk``)."""
        if self.ids is not None:
            if not conditions:
                return len(self.ids)
            return Case.objects.filter(*conditions, pk__in=ids_subquery(self.ids)).count()
        cases = Case.objects.filter(*conditions)
        if not self.hidden:
            return cases.count()
        if not conditions:
            return cases.count() - len(self.hidden)
        return cases.count() - cases.filter(pk__in=ids_subquery(self.hidden)).count()


def _on_non_null_columns(node) -> bool:
    """Whether every condition under ``node`` (a WHERE clause) is on a non-null column."""
    if isinstance(node, Lookup):
        return isinstance(node.lhs, Col) and not node.lhs.target.null
    children = getattr(node, "children", None)
    return children is not None and all(_on_non_null_columns(child) for child in children)


def _cases_hidden(cases: QuerySet[Case]) -> QuerySet[Case]:
    """The cases not in ``cases``.

    When ``cases`` is narrowed only by conditions on the case table's non-null columns
    (status, sample, diagnosis: what the libraries ask), the same conditions, negated: one
    scan of an index. Otherwise every case is looked up in ``cases`` (12 ms against 1 ms for
    10,000 cases on SQLite).
    """
    where = cases.query.where
    if not where:
        return Case.objects.none()
    own = len(cases.query.alias_map) == 1 and _on_non_null_columns(where)
    if own:  # a NULL would leave a case out of both sides; these columns have none
        return Case.objects.exclude(where)
    return Case.objects.exclude(pk__in=cases.values("pk"))


def facets_count(
    scope: Scope, filters: LibraryFilters, *, mode: Mode = Mode.ARTICLE, total: int
) -> list[Facet]:
    """Every facet with its choices and their counts in ``scope`` and the other filters.

    ``total``: the number of cases in ``scope`` under every filter.
    """
    facets = []
    tags = {Tag.Kind.MODALITY: _tag_counts(scope, filters, skip=Tag.Kind.MODALITY)}
    # Unless a modality or a system is chosen, both facets count the same cases.
    tags[Tag.Kind.SYSTEM] = (
        _tag_counts(scope, filters, skip=Tag.Kind.SYSTEM)
        if filters.modality or filters.system
        else tags[Tag.Kind.MODALITY]
    )
    for kind, label in ((Tag.Kind.MODALITY, "Modality"), (Tag.Kind.SYSTEM, "Body system")):
        counts = tags[kind]
        selected = getattr(filters, kind)
        choices = [
            FacetChoice(slug, name, n, slug in selected)
            for (tag_kind, slug, name), n in sorted(counts.items(), key=lambda row: row[0][2])
            if tag_kind == kind
        ]
        facets.append(Facet(str(kind), label, choices))
    if mode == Mode.ARTICLE:
        facets.append(_keyword_facet(scope, filters))
    conditions = _facet_conditions(filters, skip="difficulty", field="case_id")
    counts = scope.tally(CaseDifficulty.objects.filter(*conditions), "level")
    if filters.difficulty:
        within = scope.count(_facet_conditions(filters, skip="difficulty", field="pk"))
    else:
        within = total
    choices = [
        FacetChoice(str(level), str(name), counts[level], str(level) in filters.difficulty)
        for level, name in Difficulty.choices
    ]
    unrated = within - sum(counts.values())
    choices.append(FacetChoice(UNRATED, "Not rated", unrated, UNRATED in filters.difficulty))
    facets.append(Facet("difficulty", "Difficulty", [c for c in choices if c.count or c.selected]))
    return facets


def _tag_counts(scope: Scope, filters: LibraryFilters, *, skip: str) -> Counter:
    """Cases per tag, as (kind, slug, name), under every facet but ``skip``: all kinds."""
    rows = Case.tags.through.objects.filter(*_facet_conditions(filters, skip=skip, field="case_id"))
    return scope.tally(rows, "tag__kind", "tag__slug", "tag__name")


def _keyword_facet(scope: Scope, filters: LibraryFilters) -> Facet:
    """The most frequent keywords among the results, and any the user has chosen."""
    rows = Case.keywords.through.objects.filter(
        *_facet_conditions(filters, skip="keyword", field="case_id")
    )
    counts = scope.tally(rows, "keyword__name")
    top = sorted(counts, key=lambda name: (-counts[name], name))[:KEYWORD_FACET_SIZE]
    shown = top + [name for name in filters.keyword if name not in top]
    choices = [
        FacetChoice(name, name, counts[name], name in filters.keyword)
        for name in sorted(shown, key=lambda name: (-counts[name], name.lower()))
    ]
    return Facet("keyword", "Keyword", choices)


# -- cached counts ----------------------------------------------------------------------------


def library_counts(
    cases: QuerySet[Case],
    filters: LibraryFilters,
    *,
    mode: Mode,
    audience: str,
    search: Callable[[], list[int]] | None = None,
) -> tuple[int, list[Facet]]:
    """The number of results and the facets, cached until the library changes.

    ``cases``: those the visitor may see in ``mode``; ``search``: with a query, gives the ids
    of those it finds (called only to count afresh: the counts then read only those ids).
    Counting facets reads every matching case, so it is the one part of a library page whose
    cost grows with the library; the page itself reads only its 25 cases. The key holds the
    library's version (see cases.library.version), so checking them costs no query;
    ``audience`` tells apart who sees drafts.
    """
    state = json.dumps([str(mode), audience, asdict(filters)], sort_keys=True)
    key = f"library:counts:{library_version()}:{hashlib.sha256(state.encode()).hexdigest()}"
    counts = cache.get(key)
    if counts is None:
        scope = Scope.of(cases, ids=search() if search else None)
        total = scope.count(_facet_conditions(filters, skip="", field="pk"))
        counts = (total, facets_count(scope, filters, mode=mode, total=total))
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts
