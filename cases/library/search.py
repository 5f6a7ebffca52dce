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

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
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


def search_document_values(case: Case) -> dict[str, str]:
    """The texts to index for ``case`` (figures, keywords and tags prefetched or not)."""
    figures = list(case.figures.all())
    keywords = [keyword.name for keyword in case.keywords.all()]
    tags = [tag.name for tag in case.tags.all()]
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
    }


def search_index_case(case: Case) -> None:
    """Bring one case's search document up to date (called on every save that matters)."""
    SearchDocument.objects.update_or_create(case=case, defaults=search_document_values(case))
    library_changed()


def search_index_cases(*, case_ids: Iterable[int] | None = None) -> int:
    """Rebuild the search documents of ``case_ids`` (all cases when None); return the count."""
    cases = Case.objects.order_by("pk").prefetch_related("figures", "keywords", "tags")
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


def search_ids(cases: QuerySet[Case], *, query: str, mode: Mode = Mode.ARTICLE) -> list[int]:
    """The ids of the ``cases`` matching ``query``, best first.

    One query, driven by the engine's index. A library page searches once and narrows its
    counts, facets and results by these ids (``ids_subquery``) instead of searching again
    in each.
    """
    return list(search_ranked(cases, query=query, mode=mode).values_list("pk", flat=True))


def ids_subquery(ids: list[int]) -> RawSQL:
    """``ids``, however many, for ``pk__in`` or ``case_id__in``: one parameter, not one each."""
    if _is_postgres():
        return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(list(ids))])


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
        rank = f"ts_rank_cd({column}, {_TSQUERY})"
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


# ts_headline parses and stems the whole text it is given, 0.4 ms for a case's article: it is
# given a window of the text around the first occurrence of a query word instead, and the whole
# text only when no word shows in the window's snippet (a word whose stem is no substring of it).
_WINDOW_BEFORE, _WINDOW = 200, 900


def _word_core(term: str) -> str:
    """What every word a prefix ``term`` finds most likely contains: stems change endings."""
    return term[: max(3, len(term) - 3)]


def _postgres_highlights_sql(
    mode: Mode, terms: list[str], engine_query: str, case_ids: list[int]
) -> tuple[str, list]:
    title, body = (
        ("title", "subject || E'\\n' || body")
        if mode == Mode.ARTICLE
        else ("unknown_title", "unknown_body")
    )
    options = f"StartSel={_START}, StopSel={_STOP}"
    snippet_options = (
        f'{options}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'
    )
    first = ", ".join(["NULLIF(strpos(lower(doc), %s), 0)"] * len(terms))
    sql = (
        "SELECT case_id, ts_headline('english', title, q, %s), "
        "CASE WHEN strpos(near, %s) > 0 THEN near "
        "ELSE ts_headline('english', doc, q, %s) END "
        f"FROM (SELECT case_id, {title} AS title, {body} AS doc FROM cases_searchdocument "
        f"WHERE case_id IN ({', '.join(['%s'] * len(case_ids))})) AS documents, {_TSQUERY} AS q, "
        f"LATERAL (SELECT ts_headline('english', substr(doc, "
        f"greatest(1, coalesce(least({first}), 1) - {_WINDOW_BEFORE}), {_WINDOW}), q, %s) "
        "AS near) AS windowed"
    )
    params = [options + ", HighlightAll=true", _START, snippet_options, *case_ids, engine_query]
    params += [*(_word_core(term) for term in terms), snippet_options]  # in the order they appear
    return sql, params


def search_highlights(
    *, case_ids: list[int], query: str, mode: Mode = Mode.ARTICLE
) -> dict[int, Highlight]:
    """The title and a snippet of each case, matched words in <mark>, for one results page."""
    terms = search_terms(query)
    if not terms or not case_ids:
        return {}
    engine_query = _engine_query(terms)
    if _is_postgres():
        sql, params = _postgres_highlights_sql(mode, terms, engine_query, case_ids)
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
        params = [_START, _STOP, _START, _STOP, engine_query, *case_ids]
    with connection.cursor() as cursor:
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
