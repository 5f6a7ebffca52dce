"""Library filters and facets: what the URL asks for, and how many cases each choice has.

Choices within one facet widen the results (CT or MRI); facets narrow each other (CT and
chest). Each facet's counts are taken with every other facet applied but not itself, so a
count is what ticking that box would add. A search counts the filing of the matches it read;
the library counts from its kept ``FilingCount`` or, with other facets chosen, by grouped
queries each reading the tag, keyword or difficulty table alone (see ``LibraryScope``).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import reduce
from operator import or_

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.http import QueryDict

from cases.models import Case, Keyword, Tag

from .models import CaseDifficulty, Difficulty, FilingCount
from .search import (
    Mode,
    cases_filing,
    cases_hidden,
    ids_among,
    search_ids_ranked,
    search_matches,
)
from .version import library_version

UNRATED = "0"
COUNTS_CACHE_SECONDS = 120
# A search's results cached with its counts: the first 80 pages (16 KB). Later pages, and a
# search sorted otherwise than by rank, search again.
RESULTS_CACHED = 2_000
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


class Scope:
    """The cases counted under every facet but one: those a search found, or the library.

    A scope counts labels by id (``label_counts``); the names shown are read afterwards, for
    the labels counted only: every tag's in one query (a few dozen modalities and body
    systems, kept in ``tags``), and the most frequent keywords' (with ``keywords``, the ids
    of those chosen).
    """

    tags: dict[int, tuple[str, str, str]]
    keywords: frozenset[int]

    def label_counts(self, kind: str, *, skip: str) -> dict[int, int]:
        """How many of the cases under every facet but ``skip`` have each label of ``kind``
        ("t", "k" or "d", as a search document's filing names them), by its id (or level);
        none of those with no case."""
        raise NotImplementedError

    def count(self, *, skip: str) -> int:
        """How many of the cases meet every facet's choices but ``skip``'s."""
        raise NotImplementedError

    def tag_counts(self, *, skip: str) -> Counter:
        """Cases per tag, as (kind, slug, name), under every facet but ``skip``: all kinds."""
        counts = self.label_counts("t", skip=skip)
        if counts and not self.tags:
            self.tags.update(_tags_all())
        return Counter({self.tags[pk]: n for pk, n in counts.items() if pk in self.tags})

    def keyword_counts(self, *, skip: str) -> Counter:
        """Cases per keyword name under every facet but ``skip``: the ``KEYWORD_FACET_SIZE``
        most frequent (ties included) and the chosen ones, whose names only are read."""
        counts = self.label_counts("k", skip=skip)
        if not counts:
            return Counter()
        least = sorted(counts.values(), reverse=True)[:KEYWORD_FACET_SIZE][-1]
        shown = [pk for pk, n in counts.items() if n >= least or pk in self.keywords]
        keywords = Keyword.objects.filter(ids_among("id", shown)).values_list("pk", "name")
        return Counter({name: counts[pk] for pk, name in keywords})

    def levels_tally(self) -> Counter:
        """How many of the cases, under every facet but difficulty, are rated each level."""
        return Counter(self.label_counts("d", skip="difficulty"))


@dataclass(frozen=True)
class SearchScope(Scope):
    """The cases a search found: each match's id with its filing (``SearchDocument.facets``:
    " t<tag id> k<keyword id> d<level> "), read with the match, visible ones only.

    Each facet chosen is looked up once among them (``chosen``: the ids that meet its
    choices), so that a count under every facet but one is a count of the filing of a list
    of ids, in Python: no query per facet, and no look at the link tables. Grouping those
    tables by a list of 1,485 ids cost 4-5 ms a facet on PostgreSQL, a third of it the
    planner estimating the list, where counting the filing of the matches costs about 1 ms
    for all the facets together; the labels of the counted ids are read afterwards, every
    tag's in one query (a few dozen modalities and body systems).
    """

    found: dict[int, str]
    chosen: dict[str, set[int]]
    keywords: frozenset[int] = frozenset()  # the ids of the keywords chosen
    # Every tag, (kind, slug, name) by id: read once, when a choice or a count needs them.
    tags: dict[int, tuple[str, str, str]] = field(default_factory=dict, compare=False)
    # What is worked out once and asked for again: the ids within the facets applied, by
    # the facet not applied; their filing counted, by the facets applied; and those counts
    # of one kind of label, by the facets applied and the kind (the same counts serve
    # every facet when none is chosen).
    kept: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)
    counted: dict[tuple, Counter | dict[int, int]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(
        cls,
        found: dict[int, str],
        filters: LibraryFilters,
        *,
        keywords: frozenset[int] | None = None,
    ) -> SearchScope:
        """``keywords``: the ids of the keywords chosen, if the caller has looked them up."""
        if not found:  # no match (or no hidden case): nothing for the choices to look up
            return cls(found={}, chosen={})
        wanted: dict[str, set[str]] = {}
        tags = _tags_all() if filters.modality or filters.system else {}
        for kind in (Tag.Kind.MODALITY, Tag.Kind.SYSTEM):
            if slugs := getattr(filters, kind):
                wanted[str(kind)] = {
                    f"t{pk}"
                    for pk, (tag_kind, slug, _) in tags.items()
                    if tag_kind == kind and slug in slugs
                }
        if keywords is None:
            keywords = _keyword_ids(filters)
        if filters.keyword:
            wanted["keyword"] = {f"k{pk}" for pk in keywords}
        if filters.difficulty:
            wanted["difficulty"] = {f"d{level}" for level in filters.difficulty}
        return cls(
            found=found,
            chosen={facet: _having(found, tokens) for facet, tokens in wanted.items()},
            keywords=keywords,
            tags=tags,
        )

    def within(self, skip: str = "") -> list[int]:
        """The ids, in their order, that meet every facet's choices but ``skip``'s (the
        scope's own list: not to be changed)."""
        if skip not in self.kept:
            sets = [ids for facet, ids in self.chosen.items() if facet != skip]
            if sets:
                kept = set.intersection(*sets)  # one look-up an id, not one a facet
                self.kept[skip] = [pk for pk in self.found if pk in kept]
            else:
                self.kept[skip] = list(self.found)
        return self.kept[skip]

    def label_counts(self, kind: str, *, skip: str) -> dict[int, int]:
        """How many of the cases under every facet but ``skip`` have each label of ``kind``
        ("t", "k" or "d"), by its id (or level)."""
        applied = tuple(facet for facet in self.chosen if facet != skip)
        if (applied, kind) not in self.counted:
            if applied not in self.counted:
                found = self.found
                tokens = "".join([found[pk] for pk in self.within(skip)]).split()
                self.counted[applied] = Counter(tokens)
            counts = self.counted[applied].items()
            self.counted[applied, kind] = {
                int(token[1:]): n for token, n in counts if token[0] == kind
            }
        return self.counted[applied, kind]

    def count(self, *, skip: str) -> int:
        return len(self.within(skip))


def _keyword_ids(filters: LibraryFilters) -> frozenset[int]:
    """The ids of the keywords chosen."""
    if not filters.keyword:
        return frozenset()
    return frozenset(Keyword.objects.filter(name__in=filters.keyword).values_list("pk", flat=True))


def _tags_all() -> dict[int, tuple[str, str, str]]:
    """Every tag, (kind, slug, name) by id."""
    tags = Tag.objects.order_by().values_list("pk", "kind", "slug", "name")
    return {pk: (kind, slug, name) for pk, kind, slug, name in tags}


def _having(found: dict[int, str], tokens: set[str]) -> set[int]:
    """The ids whose filing (" t1 k2 ", a space around each token) holds any of ``tokens``,
    "d0" (``UNRATED``) being held by a case without a level.

    A look for each token in each filing: 0.15 ms a token for 1,500 cases, where a regular
    expression took 0.8 ms; the filing is stored with its spaces, as padding each cost
    0.3 ms.
    """
    unrated = f"d{UNRATED}" in tokens
    having = {pk for pk, facets in found.items() if " d" not in facets} if unrated else set()
    for token in tokens - {f"d{UNRATED}"}:
        mark = f" {token} "
        having.update(pk for pk, facets in found.items() if mark in facets)
    return having


@dataclass(frozen=True)
class LibraryScope(Scope):
    """Every case but the ``hidden`` ones (drafts, for most: few), under ``filters``.

    A count with no other facet's choice to meet is the whole library's: its ``FilingCount``
    (kept by triggers as the filing changes, read once for every kind of label). Otherwise
    it groups the tag, keyword or difficulty table alone by the label's id, narrowed by the
    other facets' choices: checking each row's case against the visible ones in the case
    table would cost a lookup per row. Either way every case is counted, and the hidden
    cases' counts are taken away, counted from their filing under the same filters (one
    query for all the facets): leaving them out of each count by a list of their ids cost
    PostgreSQL 2 ms a count to plan, for 500 drafts.
    """

    filters: LibraryFilters
    hidden: SearchScope
    keywords: frozenset[int] = frozenset()  # the ids of the keywords chosen
    tags: dict[int, tuple[str, str, str]] = field(default_factory=dict, compare=False)
    filed: dict[str, dict[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, cases: QuerySet[Case], filters: LibraryFilters) -> LibraryScope:
        parts = cases_hidden(cases)
        hidden = cases_filing(parts[0].order_by(), *parts[1:]) if parts else {}
        keywords = _keyword_ids(filters)  # one look-up for the scope and its hidden cases
        return cls(
            filters=filters,
            hidden=SearchScope.of(hidden, filters, keywords=keywords),
            keywords=keywords,
        )

    def label_counts(self, kind: str, *, skip: str) -> dict[int, int]:
        conditions = _facet_conditions(self.filters, skip=skip, field="case_id")
        if conditions:
            model, key = _FILED_BY[kind]
            rows = model.objects.filter(*conditions).order_by().values(key)
            counts = {row[key]: row["n"] for row in rows.annotate(n=Count("*"))}
        else:
            counts = self._filed()[kind]
        hidden = self.hidden.label_counts(kind, skip=skip)
        counts = {value: n - hidden.get(value, 0) for value, n in counts.items()}
        return {value: n for value, n in counts.items() if n > 0}

    def _filed(self) -> dict[str, dict[int, int]]:
        """The whole library's ``FilingCount``, by kind of label and id (or level)."""
        if not self.filed:
            self.filed.update({"t": {}, "k": {}, "d": {}})
            for label, n in FilingCount.objects.values_list("label", "n"):
                self.filed[label[0]][int(label[1:])] = n
        return self.filed

    def count(self, *, skip: str) -> int:
        conditions = _facet_conditions(self.filters, skip=skip, field="pk")
        return Case.objects.filter(*conditions).count() - self.hidden.count(skip=skip)


# The table that files cases by each kind of label, and its column for the label.
_FILED_BY = {
    "t": (Case.tags.through, "tag_id"),
    "k": (Case.keywords.through, "keyword_id"),
    "d": (CaseDifficulty, "level"),
}


def facets_count(
    scope: Scope, filters: LibraryFilters, *, mode: Mode = Mode.ARTICLE, total: int
) -> list[Facet]:
    """Every facet with its choices and their counts in ``scope`` and the other filters.

    ``total``: the number of cases in ``scope`` under every filter.
    """
    facets = []
    tags = {Tag.Kind.MODALITY: scope.tag_counts(skip=Tag.Kind.MODALITY)}
    # Unless a modality or a system is chosen, both facets count the same cases.
    tags[Tag.Kind.SYSTEM] = (
        scope.tag_counts(skip=Tag.Kind.SYSTEM)
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
    counts = scope.levels_tally()
    within = scope.count(skip="difficulty") if filters.difficulty else total
    choices = [
        FacetChoice(str(level), str(name), counts[level], str(level) in filters.difficulty)
        for level, name in Difficulty.choices
    ]
    unrated = within - sum(counts.values())
    choices.append(FacetChoice(UNRATED, "Not rated", unrated, UNRATED in filters.difficulty))
    facets.append(Facet("difficulty", "Difficulty", [c for c in choices if c.count or c.selected]))
    return facets


def _keyword_facet(scope: Scope, filters: LibraryFilters) -> Facet:
    """The most frequent keywords among the results, and any the user has chosen."""
    counts = scope.keyword_counts(skip="keyword")
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
    order: Sequence,
) -> tuple[int, list[Facet], Sequence[int] | None]:
    """The number of results, the facets and a search's results, cached until the library changes.

    ``cases``: those the visitor may see in ``mode``. A search's counts read only the ids it
    finds. Counting facets reads every matching case, so it is the one part of a
    library page whose cost grows with the library; the page itself reads only its 25
    cases. A search's first ``RESULTS_CACHED`` results (the ids meeting every facet's
    choices, best first) are kept with the counts, so that a page of them is a slice, not
    the search ranked again: 13 ms for the 10,000 matches of a common word on SQLite. The
    key holds the library's version (see cases.library.version), so checking them costs no
    query; ``audience`` tells apart who sees drafts. Without a search but with facets
    chosen, the first results in ``order`` are kept likewise: the live query walks the
    library in page order and looks up each case's tags until it has a page (1,800 cases
    for 25 of CT and Neuro among 10,000: 8 ms on PostgreSQL).
    """
    state = json.dumps([str(mode), audience, asdict(filters)], sort_keys=True)
    key = f"library:results:{library_version()}:{hashlib.sha256(state.encode()).hexdigest()}"
    counts = cache.get(key)
    if counts is None:
        scope: Scope
        if filters.query:
            scope, kept = search_results(cases, filters, mode=mode)
            # The first RESULTS_CACHED only (the entry stays small whatever the search), as
            # an array, which pickles as its bytes: 10,000 ids load in 7 us, a list 0.3 ms.
            results = array("q", kept[:RESULTS_CACHED])
        else:
            scope, results = LibraryScope.of(cases, filters), None
            if filters.faceted:
                ordered = filters_apply(cases, filters).order_by(*order)
                results = array("q", ordered.values_list("pk", flat=True)[:RESULTS_CACHED])
        total = scope.count(skip="")
        counts = (total, facets_count(scope, filters, mode=mode, total=total), results)
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def search_results(
    cases: QuerySet[Case], filters: LibraryFilters, *, mode: Mode
) -> tuple[SearchScope, list[int]]:
    """A search's scope for counting, and its results: the ids meeting the facets, best first."""
    # With facets chosen, the matches are found, and only those kept are ranked.
    rank_all = not filters.faceted
    found = search_matches(cases, query=filters.query, mode=mode, ranked=rank_all)
    scope = SearchScope.of(found, filters)
    kept = scope.within()
    if not rank_all:
        kept = search_ids_ranked(kept, query=filters.query, mode=mode)
    return scope, kept
