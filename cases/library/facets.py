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

    ``model`` has a ``case`` field and ``field``, the value a case is filed under: the choice
    itself (a figure's plane), or a foreign key to the rows that name the choices (a tag),
    those of them ``where`` selects, by their ``value`` in the URL and their ``label`` on the
    page (the value itself when empty). A blank value files nothing. A case filed under none
    of the values may be a choice of its own (``unfiled``, its label, as "Not rated").
    """

    name: str  # the URL parameter
    title: str
    model: type[models.Model]
    field: str
    where: Q = field(default_factory=Q)  # with a foreign key: the rows that are choices here
    value: str = "pk"
    label: str = ""
    names: Mapping[str, str] = field(default_factory=dict)  # fixed choices, in their order
    unfiled: str = ""
    top: int = 0  # show only the most frequent choices (and the chosen ones)
    repeats: bool = False  # a case can be filed twice under one value (two figures)
    modes: frozenset[Mode] = frozenset(Mode)

    @property
    def named_by(self) -> type[models.Model] | None:
        """The model whose rows are the choices, when ``field`` is a foreign key to it."""
        return self.model._meta.get_field(self.field).related_model

    def valid(self, value: str) -> bool:
        if not self.names:
            return True
        return value in self.names or (bool(self.unfiled) and value == UNRATED)

    def condition(self, chosen: list[str]) -> Q:
        """The cases filed under any of ``chosen``."""
        filed = self.model.objects.values("case")
        values = [value for value in chosen if not (self.unfiled and value == UNRATED)]
        either = []
        if values:
            either.append(Q(pk__in=filed.filter(**{f"{self.field}__in": self._named(values)})))
        if self.unfiled and UNRATED in chosen:
            either.append(~Q(pk__in=filed))
        return reduce(or_, either)

    def _named(self, values: list[str]) -> list[str] | QuerySet:
        """The values of ``field`` that ``values`` name in the URL."""
        if not self.named_by:
            return values
        rows = self.named_by.objects.filter(self.where, **{f"{self.value}__in": values})
        return rows.values("pk")

    def tally(self, cases: QuerySet[Case]) -> dict:
        """The number of ``cases`` filed under each value of ``field`` (a label's id).

        One grouped query; facets on the same table and cases share it (see
        ``library_counts``), so it counts every value, and ``counts`` picks this facet's.
        """
        filed = self.model.objects.filter(case__in=cases.values("pk")).order_by()
        counted = dict(filed.values_list(self.field).annotate(Count("case", distinct=self.repeats)))
        if self.unfiled:
            counted[None] = cases.exclude(pk__in=self.model.objects.values("case")).count()
        return counted

    def counts(self, tally: dict, chosen: list[str]) -> FacetCounts:
        """Each choice with its count from ``tally``; ``chosen``: the values ticked."""
        if self.named_by:  # the labels of the ids counted, in one query
            shown = [self.value, self.label or self.value]
            rows = self.named_by.objects.filter(self.where, pk__in=list(tally))
            counts = {
                str(value): (label, tally[pk])
                for pk, value, label in rows.values_list("pk", *shown)
            }
        else:
            counts = {
                str(value): (self.names.get(str(value), str(value)), n)
                for value, n in tally.items()
                if value not in ("", None)
            }
        if self.unfiled:
            counts[UNRATED] = (self.unfiled, tally[None])
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
        "tag",
        Q(kind="modality"),
        value="slug",
        label="name",
    ),
    Facet(
        "system",
        "Body system",
        Case.tags.through,
        "tag",
        Q(kind="system"),
        value="slug",
        label="name",
    ),
    # Keywords can name the diagnosis: unknown mode neither shows nor takes them.
    Facet(
        "keyword",
        "Keyword",
        Case.keywords.through,
        "keyword",
        value="name",
        top=15,
        modes=frozenset({Mode.ARTICLE}),
    ),
    # A case is filed under the planes of its figures. Not in unknown mode, whose figures
    # of the later steps must not show through.
    Facet("plane", "Plane", Figure, "plane", repeats=True, modes=frozenset({Mode.ARTICLE})),
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
        found = filters_apply(cases, filters, mode=mode)
        # A facet not ticked counts the cases found, as every other one not ticked does, so
        # facets on one table (modality and body system) share one query.
        tallies: dict[tuple, dict] = {}
        facets = []
        for facet in facets_of(mode):
            chosen = filters.chosen.get(facet.name, [])
            skip = facet.name if chosen else ""
            shared = (facet.model, facet.field, skip)
            if shared not in tallies:
                tallies[shared] = facet.tally(filters_apply(cases, filters, mode=mode, skip=skip))
            facets.append(facet.counts(tallies[shared], chosen))
        counted = (found.count(), facets)
        cache.set(key, counted, COUNTS_CACHE_SECONDS)
    return counted
