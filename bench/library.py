"""Library speed at scale, printed as figures (not a timed test).

Run: ``make bench-library`` (both databases), or one of them:

    .venv/bin/python bench/library.py                       # SQLite (a scratch file)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/library.py

It builds a scratch database (``caseviewer_bench_library`` on the PostgreSQL server, or
BENCH_DATABASE so that two runs do not collide; a temporary file on SQLite) with 100 cases with
figures, slices, tags, keywords, difficulty and comments, copies it and grows the copy to
10,000 cases (bulk inserts, then one index rebuild), then measures the pages of both. Each page
is fetched in-process through the whole Django stack (middleware, view, templates) by an
anonymous visitor: BENCH_REPEAT (60) timed requests after 3 warm-up ones, taken in BENCH_ROUNDS
(6) rounds over every page, each request at one size followed by the same at the other (each
size with its own connection and cache, switched in place), so that a slow spell of the machine
falls on all pages and both sizes alike rather than on one; "not cached" figures retire the
cached facet counts before each request, as any edit to the library does. BENCH_QUERIES=1
prints each page's slowest queries; BENCH_KEEP=1 keeps the scratch databases.

Printed: p50 and p95 in milliseconds, the SQL queries per request and the result cards on the
page at each size; then, for each page, its p95 at both sizes, their ratio and a verdict
against the targets: every page within 3x of its figure at the smallest size (RATIO_MAX),
and no page whose counts are not cached over 100 ms at p95 (UNCACHED_MAX_MS).
The searched words are as selective at both sizes ("glioblastoma": the diagnosis of 1 case in
50 and in the differential of more, 1 in 7 in all; the filtered search: 1 in 350; "seizure" in
unknown mode: 1 in 37); "lesion" matches every case. So a page shows fewer results at 100
cases than at 10,000 (the "shown" column): 1 against 25 for the filtered search.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100,10000").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", "60"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
FIGURES_PER_CASE = 3
COMMENTS_PER_CASE = 4
RATIO_MAX = 3.0
UNCACHED_MAX_MS = 100.0
PLANES = ["Axial", "Coronal", "Sagittal", ""]

DIAGNOSES = [
    "pneumothorax", "glioblastoma", "meningioma", "appendicitis", "diverticulitis",
    "cholecystitis", "pancreatitis", "sarcoidosis", "tuberculosis", "osteosarcoma",
    "chondrosarcoma", "leiomyosarcoma", "lymphoma", "hamartoma", "schwannoma",
    "intussusception", "volvulus", "pyelonephritis", "hydronephrosis", "endometrioma",
    "fibroadenoma", "angiomyolipoma", "pheochromocytoma", "neuroblastoma", "medulloblastoma",
    "ependymoma", "craniopharyngioma", "aneurysm", "dissection", "embolism",
    "bronchiectasis", "emphysema", "aspergilloma", "empyema", "mesothelioma",
    "hepatoblastoma", "cholangiocarcinoma", "hemangioma", "adenomyosis", "torsion",
    "osteomyelitis", "enchondroma", "chordoma", "myeloma", "hemochromatosis",
    "cirrhosis", "thymoma", "teratoma", "seminoma", "nephroblastoma",
]  # fmt: skip
SYMPTOMS = [
    "seizure", "haemoptysis", "haematuria", "jaundice", "dysphagia", "hoarseness", "syncope",
    "diplopia", "ataxia", "claudication", "melaena", "haematemesis", "dysuria", "stridor",
    "palpitations", "proptosis", "anosmia", "tinnitus", "vertigo", "aphasia", "ptosis",
    "hemiparesis", "trismus", "odynophagia", "tenesmus", "oliguria", "polyuria", "galactorrhoea",
    "hirsutism", "gynaecomastia", "amenorrhoea", "dyspareunia", "priapism", "paraesthesia",
    "myalgia", "arthralgia", "lymphadenopathy",
]  # fmt: skip
MODALITIES = ["CT", "MRI", "Ultrasound", "Radiograph", "Nuclear medicine"]
SYSTEMS = ["Chest", "Neuro", "Abdomen", "Musculoskeletal", "Genitourinary", "Breast", "Paediatric"]
_FILLER_TEXT = (
    "patient presented with pain swelling fever weight loss cough dyspnoea nausea; imaging "
    "showed a well defined lesion with enhancement calcification necrosis oedema and fat; "
    "the margins were lobulated, the adjacent structures displaced, with no invasion seen"
)
FILLER = _FILLER_TEXT.split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words))


def library_generate(*, start: int, stop: int, seed: int = 7) -> None:
    """Cases start..stop-1 with figures, slices, tags, keywords, difficulty and comments."""
    from django.contrib.auth import get_user_model

    from cases.discussion.models import Comment
    from cases.library.models import CaseDifficulty
    from cases.models import Case, Figure, Keyword, Slice, Tag

    rng = random.Random(seed + start)
    tags = {
        (kind, name): Tag.objects.get_or_create(kind=kind, name=name)[0]
        for kind, names in (("modality", MODALITIES), ("system", SYSTEMS))
        for name in names
    }
    keywords = [Keyword.objects.get_or_create(name=f"{d.title()} sign")[0] for d in DIAGNOSES]
    users = [get_user_model().objects.get_or_create(username=f"bench{i}")[0] for i in range(20)]
    batch = 1000
    for low in range(start, stop, batch):
        high = min(low + batch, stop)
        cases = []
        for n in range(low, high):
            diagnosis = DIAGNOSES[n % len(DIAGNOSES)]
            age, sex = rng.randint(1, 90), rng.choice("FM")
            cases.append(
                Case(
                    slug=f"bench-{n}",
                    title=f"{diagnosis.title()} in a {age}-year-old, case {n}",
                    unknown_title=f"{age}-year-old with {rng.choice(FILLER)}",
                    status="draft" if n % 20 == 0 else "published",
                    journal="Bench J Radiol",
                    year=2000 + n % 25,
                    age=age,
                    sex=sex,
                    history=f"{SYMPTOMS[n % len(SYMPTOMS)]} and " + _text(rng, 40),
                    exam=_text(rng, 20),
                    findings=_text(rng, 60),
                    differential="\n".join(rng.sample(DIAGNOSES, 4)),
                    diagnosis=diagnosis.title(),
                    discussion=f"{diagnosis} " + _text(rng, 200),
                    teaching_point=_text(rng, 20),
                )
            )
        Case.objects.bulk_create(cases)
        cases = list(Case.objects.filter(slug__in=[c.slug for c in cases]).order_by("pk"))
        figures = [
            Figure(
                case=case, number=i, label=f"Figure {i}", caption=_text(rng, 15),
                unknown_caption=_text(rng, 8), modality="CT", plane=rng.choice(PLANES),
            )
            for case in cases
            for i in range(1, FIGURES_PER_CASE + 1)
        ]  # fmt: skip
        Figure.objects.bulk_create(figures)
        figures = Figure.objects.filter(case__in=cases)
        Slice.objects.bulk_create(
            Slice(figure=f, image="slices/bench.png", width=512, height=512) for f in figures
        )
        through_tags = Case.tags.through
        through_tags.objects.bulk_create(
            through_tags(case_id=case.pk, tag_id=tag.pk)
            for n, case in enumerate(cases, start=low)
            for tag in (
                tags[("modality", MODALITIES[n % len(MODALITIES)])],
                tags[("system", SYSTEMS[n % len(SYSTEMS)])],
            )
        )
        through_keywords = Case.keywords.through
        through_keywords.objects.bulk_create(
            through_keywords(case_id=case.pk, keyword_id=keyword.pk)
            for case in cases
            for keyword in rng.sample(keywords, 3)
        )
        CaseDifficulty.objects.bulk_create(
            CaseDifficulty(case=case, level=1 + n % 3)
            for n, case in enumerate(cases, start=low)
            if n % 4
        )
        Comment.objects.bulk_create(
            Comment(case=case, author=rng.choice(users), body=(b := _text(rng, 25)), body_html=b)
            for case in cases
            for _ in range(COMMENTS_PER_CASE)
        )


PAGES = [  # label, URL, headers, counts cached (as after the first visit) or not
    ("library, page 1", "/", {}, True),
    ("library, page 1, counts not cached", "/", {}, False),
    ("library, page 3", "/?page=3", {}, True),
    ("search 'glioblastoma'", "/?q=glioblastoma", {}, True),
    ("search 'glioblastoma', not cached", "/?q=glioblastoma", {}, False),
    ("search 'glioblastoma' (htmx)", "/?q=glioblastoma", {"HX-Request": "true"}, True),
    ("search as typed 'gliobl', not cached", "/?q=gliobl", {}, False),
    ("filtered search", "/?q=glioblastoma&modality=mri&system=neuro", {}, True),
    ("filtered search, not cached", "/?q=glioblastoma&modality=mri&system=neuro", {}, False),
    ("facets only (CT + Neuro)", "/?modality=ct&system=neuro", {}, True),
    ("facets only (CT + Neuro), not cached", "/?modality=ct&system=neuro", {}, False),
    ("plane and difficulty, not cached", "/?plane=Coronal&difficulty=2&difficulty=0", {}, False),
    ("unknown mode search", "/u/?q=seizure", {}, True),
    ("unknown mode search, not cached", "/u/?q=seizure", {}, False),
    ("broad search 'lesion' (every case)", "/?q=lesion", {}, True),
    ("broad search 'lesion', not cached", "/?q=lesion", {}, False),
]


def _warm(client, url: str, headers: dict[str, str]) -> None:
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200


def _time(
    client, url: str, headers: dict[str, str], cached: bool, repeat: int, sides: dict
) -> dict[int, list[float]]:
    """``repeat`` timed requests of ``url`` at each size, each at one size followed by the same
    at the next."""
    from cases.library.version import library_changed

    if cached:  # counted afresh if a "not cached" page retired the counts since
        for side in sides.values():
            _use(side)
            assert client.get(url, headers=headers).status_code == 200
    timings: dict[int, list[float]] = {size: [] for size in sides}
    for _ in range(repeat):
        for size, side in sides.items():
            _use(side)
            if not cached:
                library_changed()  # as after any edit: facet counts computed afresh
            began = time.perf_counter()
            response = client.get(url, headers=headers)
            timings[size].append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
    return timings


def _count(client, url: str, headers: dict[str, str], cached: bool) -> tuple[int, int]:
    """The queries of one request (the slowest printed with BENCH_QUERIES=1), and its cards."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.library.version import library_changed

    if cached:
        assert client.get(url, headers=headers).status_code == 200
    else:
        library_changed()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    if os.environ.get("BENCH_QUERIES"):
        for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]:
            print(f"      {float(query['time']) * 1000:6.1f} ms  {query['sql'][:300]}")
    return len(queries), len(response.context["items"])  # a page renders up to 25 cards


def _copy(source: str, target: str) -> None:
    """The bench database ``source`` copied as ``target``."""
    import sqlite3

    from django.db import connection

    connection.close()
    if connection.vendor == "sqlite":
        copied, into = sqlite3.connect(source), sqlite3.connect(target)
        copied.backup(into)
        copied.close()
        into.close()
        return
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
        cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def _sides(databases: dict[int, str]) -> dict[int, tuple]:
    """For each size, a connection to its database and a cache of its own (see ``_use``)."""
    from django.conf import settings
    from django.core.cache.backends.locmem import LocMemCache
    from django.db import connections

    default = connections["default"]
    default.close()
    options = {"OPTIONS": settings.CACHES["default"].get("OPTIONS", {})}
    return {
        size: (
            type(default)({**default.settings_dict, "NAME": name}, alias="default"),
            LocMemCache(f"bench-{size}", options),
        )
        for size, name in databases.items()
    }


def _use(side: tuple) -> None:
    """Serve the next requests from one size's database and cache: switched in place, without
    reconnecting, so that the sizes can take turns request by request."""
    from django.core.cache import caches
    from django.db import connections

    connections["default"], caches["default"] = side


def _measure(client, sides: dict[int, tuple]) -> dict[int, dict[str, tuple]]:
    """p50, p95, queries and cards shown of every page at every size.

    Timed in rounds over every page, each request at one size followed by the same at the
    other, so that a slow spell of the machine falls on all pages and sizes alike.
    """
    for side in sides.values():
        _use(side)
        for _, url, headers, _ in PAGES:
            _warm(client, url, headers)
    timings = {size: {label: [] for label, *_ in PAGES} for size in sides}
    for _ in range(ROUNDS):
        for label, url, headers, cached in PAGES:
            repeat = max(1, REPEAT // ROUNDS)
            for size, times in _time(client, url, headers, cached, repeat, sides).items():
                timings[size][label] += times
    results: dict[int, dict[str, tuple]] = {}
    for size, side in sides.items():
        _use(side)
        results[size] = {}
        for label, url, headers, cached in PAGES:
            times = sorted(timings[size][label])
            p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
            counted = _count(client, url, headers, cached)
            results[size][label] = (statistics.median(times), p95, *counted)
    return results


def _verdicts(results: dict[int, dict[str, tuple]], *, small: int, large: int) -> None:
    """Each page's p95 at both sizes, their ratio, and whether it meets the targets."""
    print(
        f"-- p95 at {large:,} vs {small:,} cases: within {RATIO_MAX:g}x, "
        f"and under {UNCACHED_MAX_MS:g} ms when not cached"
    )
    failed = 0
    for label, _, _, cached in PAGES:
        a, b = results[small][label], results[large][label]
        ratio = b[1] / a[1]
        over = []
        if ratio > RATIO_MAX:
            over.append(f"over {RATIO_MAX:g}x")
        if not cached and b[1] > UNCACHED_MAX_MS:
            over.append(f"over {UNCACHED_MAX_MS:g} ms")
        failed += bool(over)
        print(
            f"   {label:<40} p95 {a[1]:6.1f} -> {b[1]:6.1f} ms  x{ratio:5.2f}  "
            f"queries {a[2]:3d} -> {b[2]:3d}  {', '.join(over) or 'PASS'}"
        )
    print(f"-- {'PASS' if not failed else f'{failed} page(s) over a target'}")


def main() -> None:
    import django
    from django.conf import settings

    scratch = tempfile.mkdtemp(prefix="bench-library-")
    if "DATABASE_URL" not in os.environ or os.environ["DATABASE_URL"].startswith("sqlite"):
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/bench.sqlite3"
    os.environ["MEDIA_ROOT"] = scratch
    django.setup()
    logging.getLogger("caseviewer.request").setLevel(logging.WARNING)  # a line per request
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import setup_test_environment

    from cases.library.search import search_index_cases

    setup_test_environment()
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = f"{scratch}/test-{SIZES[0]}.sqlite3"
    else:  # never the test suite's database, which may be in use
        scratch_name = os.environ.get("BENCH_DATABASE", "caseviewer_bench_library")
        connection.settings_dict["TEST"]["NAME"] = scratch_name
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    engine = f"{connection.vendor} {connection.Database.__name__}"
    if connection.vendor == "sqlite":
        engine += f" {connection.Database.sqlite_version}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            engine += f" server {cursor.fetchone()[0]}"
    print(f"== Library bench on {engine} ({name}); {REPEAT} requests per figure ==")
    databases: dict[int, str] = {}  # a database for each size, grown from the one before
    built = 0
    try:
        for size in SIZES:
            if databases:
                sqlite = connection.vendor == "sqlite"
                grown = f"{scratch}/test-{size}.sqlite3" if sqlite else f"{name}_{size}"
                _copy(databases[built], grown)
                connection.settings_dict["NAME"] = grown
            databases[size] = connection.settings_dict["NAME"]
            began = time.perf_counter()
            library_generate(start=built, stop=size)
            generated = time.perf_counter() - began
            began = time.perf_counter()
            search_index_cases()
            indexed = time.perf_counter() - began
            # The tables as the app keeps them: on PostgreSQL as autovacuum leaves them after
            # so many inserts (vacuumed, which lets an index answer a count alone, and
            # analyzed; the CI server runs without it), on SQLite with the planner's
            # statistics that ``PRAGMA optimize`` gathers as each connection closes
            # (caseviewer.sqlite).
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
            built = size
            print(
                f"-- {size:,} cases ({size * FIGURES_PER_CASE:,} figures, "
                f"{size * COMMENTS_PER_CASE:,} comments): generated in {generated:.1f} s, "
                f"search index rebuilt in {indexed:.1f} s"
            )
        default = connections["default"]
        sides = _sides(databases)
        try:
            results = _measure(Client(), sides)
        finally:
            for side_connection, _ in sides.values():
                side_connection.close()
            connections["default"] = default
        for size in SIZES:
            print(f"-- {size:,} cases")
            for label, *_ in PAGES:
                p50, p95, queries, shown = results[size][label]
                print(
                    f"   {label:<40} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {queries:3d} queries"
                    f"  {shown:2d} shown"
                )
        if len(SIZES) >= 2:
            _verdicts(results, small=SIZES[0], large=SIZES[-1])
    finally:
        for database in databases.values() or [name]:
            if os.environ.get("BENCH_KEEP"):
                print(f"kept the database {database}")
            else:
                connection.settings_dict["NAME"] = database
                connection.creation.destroy_test_db(database, verbosity=0)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
