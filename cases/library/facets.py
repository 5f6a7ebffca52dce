"""Library filters and facets: what the URL asks for, and how many cases each choice has.

Choices within one facet widen the results (CT or MRI); facets narrow each other (CT and
chest). Each facet's counts are taken with every other facet applied but not itself, so a
count is what ticking that box would add: one grouped query per facet over the table that
files cases under it, narrowed to the cases in view (visible, matching the search, meeting
the other facets). The counts are cached under the library's version (cases.library.version).

A facet is one ``Facet`` in ``FACETS``; the template lists whatever facets there are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import QueryDict

from cases.models import Case, Figure

from .models import CaseDifficulty, Difficulty
from .search import Mode, search_filter
from .version import library_version

UNRATED = "0"  # the difficulty choice of the cases without a rating
COUNTS_CACHE_SECONDS = 120
CHOICES_MAX = 20  # values of one facet taken from the URL
SORTS = {
    "": "Best match",  # with a query; "Library order" without
    "newest": "Newest article",
    "title": "Title",
    "added": "Recently added",
}


@dataclass(frozen=True)
class Facet:
    """A way to narrow the library: the table that files each case under values.

    ``model`` has a ``case`` field; ``value`` is its field the URL names a choice by, and
    ``label`` the one shown (the value itself when empty). A case filed under none of the
    values may be a choice of its own (``unfiled``, its label, as "Not rated").
    """

    name: str  # the URL parameter
    title: str
    model: type[models.Model]
    value: str
    label: str = ""
    where: Q = field(default_factory=Q)  # the model's rows this facet reads
    names: Mapping[str, str] = field(default_factory=dict)  # fixed choices, in their order
    unfiled: str = ""
    top: int = 0  # show only the most frequent choices (and the chosen ones)
    modes: frozenset[Mode] = frozenset(Mode)

    def rows(self) -> QuerySet:
        return self.model.objects.filter(self.where).order_by()

    def valid(self, value: str) -> bool:
        if not self.names:
            return True
        return value in self.names or (bool(self.unfiled) and value == UNRATED)

    def condition(self, chosen: list[str]) -> Q:
        """The cases filed under any of ``chosen``."""
        filed = self.rows().values("case")
        values = [value for value in chosen if not (self.unfiled and value == UNRATED)]
        either = [Q(pk__in=filed.filter(**{f"{self.value}__in": values}))] if values else []
        if self.unfiled and UNRATED in chosen:
            either.append(~Q(pk__in=filed))
        return reduce(or_, either)

    def count(self, cases: QuerySet[Case], chosen: list[str]) -> FacetCounts:
        """Each choice with its number of ``cases``; ``chosen``: the values ticked."""
        shown = [self.value, self.label] if self.label else [self.value]
        rows = self.rows().filter(case__in=cases.values("pk")).values(*shown)
        counts = {
            str(row[self.value]): (self.names.get(str(row[self.value])) or row[shown[-1]], row["n"])
            for row in rows.annotate(n=Count("case", distinct=True))
        }
        if self.unfiled:
            counts[UNRATED] = (
                self.unfiled,
                cases.exclude(pk__in=self.rows().values("case")).count(),
            )
        # A choice ticked stays in view, to be unticked, when its label is known uncounted.
        for value in chosen:
            if value not in counts and not self.label:
                counts[value] = (self.names.get(value, value), 0)
        choices = [
            FacetChoice(value, counts[value][0], counts[value][1], value in chosen)
            for value in self._ordered(counts, chosen)
            if counts[value][1] or value in chosen
        ]
        return FacetCounts(self.name, self.title, choices)

    def _ordered(self, counts: dict[str, tuple[str, int]], chosen: list[str]) -> list[str]:
        if self.names:
            order = [*self.names, UNRATED]
            return sorted(counts, key=order.index)
        if self.top:
            kept = sorted(counts, key=lambda value: (-counts[value][1], counts[value][0]))
            kept = {*kept[: self.top], *(value for value in chosen if value in counts)}
            return sorted(kept, key=lambda value: (-counts[value][1], counts[value][0].lower()))
        return sorted(counts, key=lambda value: counts[value][0])


FACETS = [
    Facet(
        "modality",
        "Modality",
        Case.tags.through,
        "tag__slug",
        "tag__name",
        where=Q(tag__kind="modality"),
    ),
    Facet(
        "system",
        "Body system",
        Case.tags.through,
        "tag__slug",
        "tag__name",
        where=Q(tag__kind="system"),
    ),
    # Keywords can name the diagnosis: unknown mode neither shows nor takes them.
    Facet(
        "keyword",
        "Keyword",
        Case.keywords.through,
        "keyword__name",
        top=15,
        modes=frozenset({Mode.ARTICLE}),
    ),
    # A case is filed under the planes of its figures. Not in unknown mode, whose figures
    # of the later steps must not show through.
    Facet("plane", "Plane", Figure, "plane", where=~Q(plane=""), modes=frozenset({Mode.ARTICLE})),
    Facet(
        "difficulty",
        "Difficulty",
        CaseDifficulty,
        "level",
        names={str(level): str(label) for level, label in Difficulty.choices},
        unfiled="Not rated",
    ),
]


def facets_of(mode: Mode) -> list[Facet]:
    return [facet for facet in FACETS if mode in facet.modes]


@dataclass(frozen=True)
class FacetChoice:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class FacetCounts:
    name: str
    label: str
    choices: list[FacetChoice]


@dataclass(frozen=True)
class LibraryFilters:
    """What the URL asks for: a search, the values ticked in each facet, a sort."""

    query: str = ""
    chosen: dict[str, list[str]] = field(default_factory=dict)  # by facet name
    sort: str = ""

    @classmethod
    def from_query(cls, params: QueryDict, *, mode: Mode = Mode.ARTICLE) -> LibraryFilters:
        chosen = {}
        for facet in facets_of(mode):
            values = {value.strip() for value in params.getlist(facet.name)}
            values = sorted(value for value in values if value and facet.valid(value))
            if values:
                chosen[facet.name] = values[:CHOICES_MAX]
        sort = params.get("sort", "")
        return cls(
            query=params.get("q", "").strip()[:200],
            chosen=chosen,
            sort=sort if sort in SORTS else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.query or self.chosen)

    def without_query(self) -> LibraryFilters:
        return replace(self, query="")


def filters_apply(
    cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode, skip: str = ""
) -> QuerySet[Case]:
    """``cases`` matching the search and every facet's choices but ``skip``'s."""
    found = search_filter(cases, query=filters.query, mode=mode)
    conditions = [
        facet.condition(filters.chosen[facet.name])
        for facet in facets_of(mode)
        if facet.name in filters.chosen and facet.name != skip
    ]
    return found.filter(*conditions)


def library_counts(
    cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode, audience: str
) -> tuple[int, list[FacetCounts]]:
    """The number of results, and every facet with its counts, cached until the library changes.

    ``cases``: those the visitor may see in ``mode``; ``audience`` tells apart who sees
    drafts. The key holds the library's version, so checking it costs no query.
    """
    state = json.dumps([str(mode), audience, filters.query, filters.chosen], sort_keys=True)
    key = f"library:counts:{library_version()}:{hashlib.sha256(state.encode()).hexdigest()}"
    counted = cache.get(key)
    if counted is None:
        total = filters_apply(cases, filters, mode=mode).count()
        facets = [
            facet.count(
                filters_apply(cases, filters, mode=mode, skip=facet.name),
                filters.chosen.get(facet.name, []),
            )
            for facet in facets_of(mode)
        ]
        counted = (total, facets)
        cache.set(key, counted, COUNTS_CACHE_SECONDS)
    return counted
