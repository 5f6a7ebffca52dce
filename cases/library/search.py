"""Full-text search with the database's own engine: SQLite FTS5 or PostgreSQL text search.

One document per case (``SearchDocument``) holds two texts: the article's (titles, diagnosis,
keywords, history, findings, captions, discussion...) and unknown mode's (only what unknown
mode shows before the diagnosis: neutral title, age and sex, history, examination, findings,
spoiler-free captions, with every diagnosis phrase and word masked). Migration 0005 indexes
them: FTS5 tables kept in sync by triggers on SQLite, generated ``tsvector`` columns with GIN
indexes on PostgreSQL. Everything vendor-specific is in this module.

Queries are typed as people type: every word must match, each as a prefix ("leiomyo" finds
"leiomyosarcoma"), stemmed in English on both engines.
"""

from __future__ import annotations

import copy
import json
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial, reduce
from itertools import islice

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, F, Field, Func, Lookup, Q, QuerySet, Value
from django.db.models.expressions import Col, RawSQL
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND, OR, WhereNode
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from cases.models import Case, RevealStep
from cases.spoilers import GENERIC, spoiler_patterns

from .models import SearchDocument
from .version import library_changed

MAX_TERMS = 8
INDEX_BATCH = 500
# Markers the engines put around matched words; escaped text never contains them.
_START, _STOP = "\x02", "\x03"
MASK = "[…]"


class Mode(StrEnum):
    ARTICLE = "article"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Highlight:
    title: SafeString
    snippet: SafeString


# -- building the documents -------------------------------------------------------------


def _joined(parts: Iterable[str]) -> str:
    return "\n".join(part.strip() for part in parts if part and part.strip())


def _diagnosis_word_patterns(case: Case) -> list[re.Pattern[str]]:
    """Each telling word of the diagnosis and its other names, on its own.

    Phrases alone are not enough for search: "leiomyosarcoma" typed alone must not find a
    case whose answer is "retroperitoneal leiomyosarcoma".
    """
    words: set[str] = set()
    for name in [case.diagnosis, *case.diagnosis_synonyms.splitlines()]:
        for word in re.findall(r"[^\W_]+", name):
            if len(word) >= 4 and word.lower() not in GENERIC:
                words.add(word.lower())
    return [re.compile(rf"\b{re.escape(word)}(?:e?s)?\b", re.IGNORECASE) for word in words]


def unknown_text_mask(case: Case, text: str) -> str:
    """``text`` with every diagnosis phrase, and every telling word of it, masked."""
    for _, pattern in spoiler_patterns(case):
        text = pattern.sub(MASK, text)
    for pattern in _diagnosis_word_patterns(case):
        text = pattern.sub(MASK, text)
    return text


def _age_sex(case: Case) -> str:
    sex = {"F": "female woman", "M": "male man"}.get(case.sex, "")
    age = f"{case.age}-year-old" if case.age is not None else ""
    return f"{age} {sex}".strip()


def facets_text(*, tags: Iterable[int], keywords: Iterable[int], level: int | None) -> str:
    """A case's filing as ``SearchDocument.facets`` holds it: its tags, keywords and level,
    each token with a space before and after it (" t1 k2 d3 "; " " for none), so that
    whether it holds one is a look for " t1 " (see cases.library.facets._having)."""
    tokens = [f"t{pk}" for pk in tags] + [f"k{pk}" for pk in keywords]
    if level is not None:
        tokens.append(f"d{level}")
    return "".join(f" {token}" for token in tokens) + " "


def search_document_values(case: Case) -> dict[str, str]:
    """What to index for ``case`` (figures, keywords, tags and difficulty prefetched or not)."""
    figures = list(case.figures.all())
    keyword_rows, tag_rows = list(case.keywords.all()), list(case.tags.all())
    keywords = [keyword.name for keyword in keyword_rows]
    tags = [tag.name for tag in tag_rows]
    difficulty = getattr(case, "difficulty", None)  # None when not rated
    early_captions = [
        figure.unknown_caption for figure in figures if figure.reveal_step < RevealStep.DIAGNOSIS
    ]
    unknown_body = _joined(
        [_age_sex(case), case.history, case.exam, case.findings, *early_captions]
    )
    return {
        "title": case.title,
        "subject": _joined([case.diagnosis, case.diagnosis_synonyms, *keywords]),
        "body": _joined(
            [
                case.unknown_title,
                case.abstract,
                _age_sex(case),
                case.history,
                case.exam,
                case.findings,
                case.differential,
                case.treatment,
                case.discussion,
                case.teaching_point,
                case.category,
                *tags,
                *(figure.caption for figure in figures),
            ]
        ),
        "unknown_title": unknown_text_mask(case, case.unknown_title or "Unknown case"),
        "unknown_body": unknown_text_mask(case, unknown_body),
        "facets": facets_text(
            tags=[tag.pk for tag in tag_rows],
            keywords=[keyword.pk for keyword in keyword_rows],
            level=difficulty.level if difficulty is not None else None,
        ),
    }


def search_index_case(case: Case) -> None:
    """Bring one case's search document up to date (called on every save that matters)."""
    SearchDocument.objects.update_or_create(case=case, defaults=search_document_values(case))
    library_changed()


def search_index_cases(*, case_ids: Iterable[int] | None = None) -> int:
    """Rebuild the search documents of ``case_ids`` (all cases when None); return the count."""
    cases = Case.objects.order_by("pk").select_related("difficulty")
    cases = cases.prefetch_related("figures", "keywords", "tags")
    if case_ids is not None:
        cases = cases.filter(pk__in=list(case_ids))
    done = 0
    batch: list[Case] = []
    for case in cases.iterator(chunk_size=INDEX_BATCH):
        batch.append(case)
        if len(batch) == INDEX_BATCH:
            done += _index_batch(batch)
            batch = []
    if batch:
        done += _index_batch(batch)
    library_changed()
    if case_ids is None:
        # Documents of cases that no longer exist cannot remain (CASCADE), but be thorough.
        SearchDocument.objects.exclude(case__in=Case.objects.all()).delete()
    return done


def _index_batch(cases: list[Case]) -> int:
    documents = [SearchDocument(case=case, **search_document_values(case)) for case in cases]
    SearchDocument.objects.filter(case__in=[case.pk for case in cases]).delete()
    SearchDocument.objects.bulk_create(documents)
    return len(documents)


# -- querying -----------------------------------------------------------------------------


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, at most MAX_TERMS of them."""
    return [word.lower() for word in re.findall(r"[^\W_]+", query)][:MAX_TERMS]


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


_SQLITE = {
    Mode.ARTICLE: ("cases_search_fts", "10.0, 4.0, 1.0"),
    Mode.UNKNOWN: ("cases_unknown_fts", "10.0, 1.0"),
}
_POSTGRES = {Mode.ARTICLE: "search_vector", Mode.UNKNOWN: "unknown_vector"}
_TSQUERY = "to_tsquery('english', %s)"


def _engine_query(terms: list[str]) -> str:
    if _is_postgres():
        return " & ".join(f"{term}:*" for term in terms)
    return " AND ".join(f'"{term}"*' for term in terms)


def _matching_ids_sql(mode: Mode) -> str:
    if _is_postgres():
        column = _POSTGRES[mode]
        return f"SELECT case_id FROM cases_searchdocument WHERE {column} @@ {_TSQUERY}"
    table, _ = _SQLITE[mode]
    return f"SELECT rowid FROM {table} WHERE {table} MATCH %s"


def search_filter(cases: QuerySet[Case], *, query: str, mode: Mode = Mode.ARTICLE) -> QuerySet:
    """``cases`` narrowed to those matching ``query``: safe to use as a subquery (facets)."""
    terms = search_terms(query)
    if not terms:
        return cases
    return cases.filter(pk__in=RawSQL(_matching_ids_sql(mode), [_engine_query(terms)]))


def search_matches(
    cases: QuerySet[Case], *, query: str, mode: Mode = Mode.ARTICLE, ranked: bool = True
) -> dict[int, str]:
    """The ``cases`` matching ``query``, best first or in no order if not ``ranked``: each id
    with its filing (``SearchDocument.facets``), which the facets count.

    When ``cases`` is narrowed by indexed columns only (status, sample: the article
    library), the engine finds and ranks the matches in its own table, without the case
    table, and the cases the visitor may not see (``cases_hidden``: few, and found in an
    index) are left out: for 1,485 matches of 10,000 cases, 2.4 + 1.9 ms on PostgreSQL and
    2.6 + 0.9 ms on SQLite, against 6.6 and 5.2 ms ranked in a join with the case table.
    A library page searches once and narrows its counts, facets and results by these
    matches instead of searching again in each. Ranking costs the most (0.6 ms found,
    2.5 ms ranked, for 1,543 matches on SQLite): a page that keeps a few of the matches
    ranks those alone (``search_ids_ranked``).
    """
    terms = search_terms(query)
    if not terms or not (
        len(cases.query.alias_map) == 1
        and _on_columns(cases.query.where, lambda f: f.column in _INDEXED)
    ):
        # Other conditions (unknown mode's on the diagnosis) would read every case's row to
        # find the hidden ones (13 ms for 10,000 on SQLite): the engine is joined to the
        # case table instead, which reads only the matches' rows.
        found = (search_ranked if ranked else search_filter)(cases, query=query, mode=mode)
        return cases_filing(found)
    engine_query = _engine_query(terms)
    # The hidden cases are left out in the same query (a list of them read into Python first
    # cost 0.8 ms for 500 drafts), each range of the index that finds them on its own: the
    # ranges OR-ed cost PostgreSQL a visit to each hidden case's row (see ``cases_hidden``).
    outside, params = "", [engine_query]
    for hidden in cases_hidden(cases):
        try:
            sql, hidden_params = hidden.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # nothing is hidden this way
            continue
        outside += f" AND case_id NOT IN ({sql})"
        params += hidden_params
    if _is_postgres():
        column = _POSTGRES[mode]
        sql = (
            f"SELECT case_id, facets FROM cases_searchdocument WHERE {column} @@ {_TSQUERY}"
            + outside
        )
        if ranked:
            sql += f" ORDER BY ts_rank({column}, {_TSQUERY}) DESC, case_id"
            params.append(engine_query)
    else:
        table, weights = _SQLITE[mode]
        sql = (
            f"SELECT {table}.rowid, facets FROM {table} "
            f"JOIN cases_searchdocument ON case_id = {table}.rowid WHERE {table} MATCH %s" + outside
        )
        if ranked:
            sql += f" ORDER BY bm25({table}, {weights}), {table}.rowid"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def cases_filing(cases: QuerySet[Case], *more: QuerySet[Case]) -> dict[int, str]:
    """Each of ``cases`` by id, in their order, with its filing (``SearchDocument.facets``).

    With ``more``: the cases of them all (unordered, a case in two of them once), read in one
    query (UNION ALL), each part planned on its own (see ``cases_hidden``).
    """
    filed = cases.values_list("pk", "search_document__facets")
    if more:
        parts = [part.order_by().values_list("pk", "search_document__facets") for part in more]
        filed = filed.order_by().union(*parts, all=True).order_by()
    # A case's document is written as the case is saved; no filing all the same if one is not.
    return {pk: facets or " " for pk, facets in filed}


def search_ids_ranked(ids: Sequence[int], *, query: str, mode: Mode = Mode.ARTICLE) -> list[int]:
    """``ids``, each matching ``query``, best first (the order of ``search_matches``).

    The engine still finds every match, but ranks only these: ranks depend on the document
    and the whole index, not on the others ranked with it.
    """
    terms = search_terms(query)
    if not terms or not ids:
        return list(ids)
    engine_query = _engine_query(terms)
    if _is_postgres():
        column = _POSTGRES[mode]
        sql = (
            "SELECT case_id FROM cases_searchdocument WHERE case_id = ANY(%s::bigint[]) "
            f"ORDER BY ts_rank({column}, {_TSQUERY}) DESC, case_id"
        )
        params = [_postgres_array(ids), engine_query]
    else:
        table, weights = _SQLITE[mode]
        # "+rowid": the ids filter the matches of one search (see ``search_highlights``).
        sql = (
            f"SELECT rowid FROM {table} WHERE {table} MATCH %s "
            "AND +rowid IN (SELECT value FROM json_each(%s)) "
            f"ORDER BY bm25({table}, {weights}), rowid"
        )
        params = [engine_query, _ids_json(ids)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for (pk,) in cursor.fetchall()]


# The case table's columns an index holds (cases_case_library_order_idx, migration 0008): the
# cases hidden by conditions on them are found without reading the table.
_INDEXED = {"status", "is_sample"}


def _on_columns(node, column: Callable[[Field], bool]) -> bool:
    """Whether every condition under ``node`` (a WHERE clause) is on a ``column`` of the table."""
    if isinstance(node, Lookup):
        return isinstance(node.lhs, Col) and column(node.lhs.target)
    children = getattr(node, "children", None)
    return children is not None and all(_on_columns(child, column) for child in children)


def cases_hidden(cases: QuerySet[Case]) -> list[QuerySet[Case]]:
    """The cases not in ``cases``, in parts that together make them all (a case may be in
    more than one; none when ``cases`` is every case).

    When ``cases`` is narrowed only by conditions on the case table's non-null columns
    (status, sample, diagnosis: what the libraries ask), the same conditions, negated, each
    part one range of an index (status before "published", status after it): one scan of
    the index each, which PostgreSQL reads from the index alone (the library-order index
    includes the id, migration 0011). Both ranges in one query, it visited each hidden
    case's row: 1.6-1.9 ms for 500 drafts of 10,000 cases, in the search of every library
    page. Otherwise every case is looked up in ``cases`` (12 ms against 1 ms for 10,000
    cases on SQLite).
    """
    where = cases.query.where
    if not where:
        return []
    own = len(cases.query.alias_map) == 1 and _on_columns(where, lambda f: not f.null)
    if own:  # a NULL would leave a case out of both sides; these columns have none
        return [Case.objects.filter(part) for part in _left_out(where)]
    return [Case.objects.exclude(pk__in=cases.values("pk"))]


def _left_out(node) -> list[Q]:
    """The rows a WHERE clause on non-null columns leaves out, as conditions an index answers:
    a row is left out if it meets any of them.

    NOT (a = v) is a < v OR a > v: two ranges of an index, where the negation read all of it
    (the drafts among 10,000 cases: 0.28 against 0.10 ms on SQLite). NOT over AND and OR by
    De Morgan's laws; any other condition is negated as it is.
    """
    if isinstance(node, WhereNode) and node.negated:
        kept = copy.copy(node)
        kept.negated = False
        return [Q(kept)]
    if isinstance(node, WhereNode) and node.children and node.connector == AND:
        return [part for child in node.children for part in _left_out(child)]
    if isinstance(node, WhereNode) and node.children and node.connector == OR:
        either = [reduce(operator.or_, _left_out(child)) for child in node.children]
        return [reduce(operator.and_, either)]
    if isinstance(node, Exact) and isinstance(node.lhs, Col):
        name = node.lhs.target.name
        return [Q(**{f"{name}__lt": node.rhs}), Q(**{f"{name}__gt": node.rhs})]
    return [~Q(node)]


def _postgres_array(ids: Iterable[int]) -> str:
    """``ids`` as one bigint[] literal: psycopg adapts a list one number at a time (1.2 ms
    for 1,500 ids)."""
    return "{" + ",".join(str(int(pk)) for pk in ids) + "}"


class _AnyOf(Func):
    """PostgreSQL's ``field = ANY(array)``."""

    arg_joiner = " = ANY("
    template = "%(expressions)s::bigint[])"
    output_field = BooleanField()


def ids_among(field: str, ids: Iterable[int]) -> Q | Func:
    """A condition for ``filter()``: ``field`` (a case id) is one of ``ids``, however many.

    One parameter, not one an id. On PostgreSQL ``= ANY(array)``, looked up in the column's
    index, rather than ``IN (SELECT unnest(array))``, which the planner hash-joins to a scan
    of the whole table: 1.8 against 2.9 ms to tally the tags of 1,500 of 10,000 cases.
    """
    if _is_postgres():
        return _AnyOf(F(field), Value(_postgres_array(ids)))
    return Q(**{f"{field}__in": RawSQL("SELECT value FROM json_each(%s)", [_ids_json(ids)])})


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps([int(pk) for pk in ids])


def search_ranked(cases: QuerySet[Case], *, query: str, mode: Mode = Mode.ARTICLE) -> QuerySet:
    """``cases`` matching ``query``, best first, annotated with ``search_rank``.

    The index table is joined to the case table, so the engine finds the matches and ranks
    them in one pass. Not for use as a subquery (the join names the case table); use
    ``search_filter`` there.
    """
    terms = search_terms(query)
    if not terms:
        return cases
    engine_query = _engine_query(terms)
    if _is_postgres():
        column = f"cases_searchdocument.{_POSTGRES[mode]}"
        table = "cases_searchdocument"
        where = [f"{table}.case_id = cases_case.id", f"{column} @@ {_TSQUERY}"]
        # ts_rank (frequency, weighted by field, as SQLite's bm25), not ts_rank_cd: cover
        # density walks every match's positions, half as slow again on 10,000 matches.
        rank = f"ts_rank({column}, {_TSQUERY})"
    else:
        table, weights = _SQLITE[mode]
        where = [f"{table}.rowid = cases_case.id", f"{table} MATCH %s"]
        rank = f"-bm25({table}, {weights})"  # bm25: lower is better
    return cases.extra(
        select={"search_rank": rank},
        select_params=[engine_query] if _is_postgres() else [],
        tables=[table],
        where=where,
        params=[engine_query],
    ).order_by("-search_rank", "pk")


def _marked(text: str) -> SafeString:
    """Engine output with match markers, as HTML: escaped, matches in <mark>."""
    html = escape(text).replace(_START, "<mark>").replace(_STOP, "</mark>")
    return mark_safe(html)  # noqa: S308 - escaped above; only our own tags added


# PostgreSQL's ts_headline parses and stems every word of the text it is given (0.3 us a
# character: 15 ms for the articles of a page of 25). The page's texts are read instead, and
# PostgreSQL is asked only which of their words the query matches: the words holding the
# start of a query word's stem, a few dozen at most (see ``_postgres_highlights``). Python
# then marks them and cuts the snippet, so the words marked are those PostgreSQL's own
# matching finds. SQLite's highlight() and snippet() cost little: FTS5 keeps each word's
# position.
_WORD = re.compile(r"[^\W_]+")
SNIPPET_WORDS, SNIPPET_BEFORE = 30, 8
_EDGE_BEFORE, _EDGE_AFTER = r"(?<![^\W_])", r"(?![^\W_])"  # no word character beside


def _words_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Any of ``words`` as a whole word, in any case."""
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True)) or "(?!)"
    return re.compile(f"{_EDGE_BEFORE}(?:{alternatives}){_EDGE_AFTER}", re.IGNORECASE)


def _fragment(text: str, at: int, matches: re.Pattern[str]) -> tuple[int, str]:
    """SNIPPET_WORDS words of ``text``, a few of them before ``at``: its end, and it marked."""
    window = max(0, at - 20 * SNIPPET_BEFORE)
    before = list(_WORD.finditer(text, window, at))
    if window and len(before) <= SNIPPET_BEFORE:
        before = before[1:]  # the first may be cut by the window
    before = before[-SNIPPET_BEFORE:]
    start, end = (before[0].start() if before else at), at
    for end_word in islice(_WORD.finditer(text, at), SNIPPET_WORDS - len(before)):
        end = end_word.end()
    return end, matches.sub(lambda word: f"{_START}{word[0]}{_STOP}", text[start:end])


def _snippet(text: str, words: list[str], matches: re.Pattern[str]) -> str:
    """Up to two fragments of ``text`` around its first matches, as ts_headline would cut."""
    first = matches.search(text)
    if first is None:  # the match was in the title: the text's opening
        return _fragment(text, 0, matches)[1]
    end, marked = _fragment(text, first.start(), matches)
    # A second fragment for a word the first does not show.
    shown = {word.lower() for word in matches.findall(marked)}
    rest = [word for word in words if word not in shown]
    other = _words_pattern(rest).search(text, end) if rest else None
    if other is None:
        return marked
    return f"{marked} … {_fragment(text, other.start(), matches)[1]}"


def _postgres_highlights(
    *, case_ids: list[int], terms: list[str], mode: Mode
) -> list[tuple[int, str, str]]:
    title, body = (
        ("title", "subject || E'\\n' || body")
        if mode == Mode.ARTICLE
        else ("unknown_title", "unknown_body")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT case_id, {title}, {body}, "
            "ARRAY(SELECT coalesce((ts_lexize('english_stem', term))[1], term) "
            "FROM unnest(%s::text[]) AS term) "
            "FROM cases_searchdocument WHERE case_id = ANY(%s)",
            [terms, case_ids],
        )
        documents = cursor.fetchall()
        # A word the query finds has a stem starting with a query word's stem, and a stem
        # differs from its word in its last letters only (study: studi; sensible: sensibl).
        stems = documents[0][3] if documents else []
        starts = [
            re.compile(re.escape(stem[: max(1, len(stem) - 3)]) + r"[^\W_]*") for stem in stems
        ]
        words = set()
        for _, title_text, body_text, _ in documents:
            text = f"{title_text}\n{body_text}".lower()
            for start in starts:
                words.update(start.findall(text))
        cursor.execute(
            f"SELECT word FROM unnest(%s::text[]) AS word "
            f"WHERE to_tsvector('english', word) @@ {_TSQUERY}",
            # A word matches if it matches any of the query's words.
            [sorted(words), " | ".join(f"{term}:*" for term in terms)],
        )
        matched = [word for (word,) in cursor.fetchall()]
    matches = _words_pattern(matched)
    mark = partial(matches.sub, lambda word: f"{_START}{word[0]}{_STOP}")
    return [
        (case_id, mark(title_text), _snippet(body_text, matched, matches))
        for case_id, title_text, body_text, _ in documents
    ]


def search_highlights(
    *, case_ids: list[int], query: str, mode: Mode = Mode.ARTICLE
) -> dict[int, Highlight]:
    """The title and a snippet of each case, matched words in <mark>, for one results page."""
    terms = search_terms(query)
    if not terms or not case_ids:
        return {}
    if _is_postgres():
        rows = _postgres_highlights(case_ids=case_ids, terms=terms, mode=mode)
    else:
        table, _ = _SQLITE[mode]
        placeholders = ", ".join(["%s"] * len(case_ids))
        # "+rowid": the ids filter the matches of one search; as a constraint handed to FTS5
        # each id would run the search again (25 prefix searches: 7 ms for a common word).
        sql = (
            f"SELECT rowid, highlight({table}, 0, %s, %s), "
            f"snippet({table}, -1, %s, %s, '…', 24) "
            f"FROM {table} WHERE {table} MATCH %s AND +rowid IN ({placeholders})"
        )
        with connection.cursor() as cursor:
            params = [_START, _STOP, _START, _STOP, _engine_query(terms), *case_ids]
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    return {
        case_id: Highlight(
            title=_marked(title_text),
            # A snippet that only repeats the title (the match was there) adds nothing.
            snippet=_marked(snippet_text if snippet_text.strip() != title_text else ""),
        )
        for case_id, title_text, snippet_text in rows
    }
