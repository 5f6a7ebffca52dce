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

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import islice

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
    """What to index for ``case`` (figures, keywords and tags prefetched or not)."""
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
    """``cases`` narrowed to those matching ``query``, in no order: usable as a subquery."""
    terms = search_terms(query)
    if not terms:
        return cases
    return cases.filter(pk__in=RawSQL(_matching_ids_sql(mode), [_engine_query(terms)]))


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
        # ts_rank (frequency, weighted by field, as SQLite's bm25), not ts_rank_cd, which
        # walks every match's word positions.
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


# PostgreSQL's ts_headline parses and stems every word of the whole text it is given, which
# for a page of full articles is most of the page's time. The page's texts are read instead,
# and PostgreSQL is asked only which of their words the query matches: the words holding the
# start of a query word's stem, a few dozen at most (see ``_postgres_highlights``). Python
# then marks them and cuts the snippet, so the words marked are those PostgreSQL's own
# matching finds. SQLite's highlight() and snippet() need no such help: FTS5 keeps each
# word's position.
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
        # each id would run the search again.
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
