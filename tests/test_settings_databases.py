"""SQLite tuned for several gunicorn workers; PostgreSQL through DATABASE_URL.

The SQLite tests use a real file shared by separate processes, as gunicorn's workers share
it (the test database itself is in memory, where WAL does not apply).
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "caseviewer" / "settings.py"

# One worker process: N read-modify-write transactions on a shared counter, the way a view
# reads a row and then writes (the case that deadlocks SQLite's default DEFERRED mode).
WORKER = r"""
import json, os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "caseviewer.settings"
django.setup()
from django.conf import settings
from django.db import OperationalError, connection, transaction

mode, count, barrier, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
# Start together: each says it is ready, then waits for the others.
open(os.path.join(barrier, str(os.getpid())), "w").close()
deadline = time.monotonic() + 60
while len(os.listdir(barrier)) < workers and time.monotonic() < deadline:
    time.sleep(0.01)
if mode != "IMMEDIATE":
    settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] = mode
    connection.settings_dict["OPTIONS"]["transaction_mode"] = mode
done = locked = 0
for _ in range(count):
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter")
                (n,) = cursor.fetchone()
                time.sleep(0.002)  # another worker gets in between the read and the write
                cursor.execute("UPDATE counter SET n = %s", [n + 1])
        done += 1
    except OperationalError as exc:
        assert "locked" in str(exc), exc
        locked += 1
print(json.dumps({"done": done, "locked": locked}))
"""


def sqlite_env(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return env | {"DATABASE_URL": f"sqlite:///{path}"}


def run_python(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counter_db(tmp_path: Path) -> Path:
    import sqlite3

    path = tmp_path / "shared.sqlite3"
    with sqlite3.connect(path) as db:
        # In WAL mode already, as a migrated database is: four workers switching a new file
        # to WAL at the same moment is a race of its own, not the one these tests are about.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
        db.execute("INSERT INTO counter VALUES (0)")
    return path


def workers_run(path: Path, *, mode: str, workers: int = 4, each: int = 40) -> list[dict]:
    barrier = path.parent / f"barrier-{mode}"
    barrier.mkdir()
    args = (mode, str(each), str(barrier), str(workers))
    processes = [run_python(WORKER, *args, env=sqlite_env(path)) for _ in range(workers)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path):
    code = (
        "import os, json, django;"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'caseviewer.settings'; django.setup();"
        "from django.db import connection; c = connection.cursor();"
        "print(json.dumps({p: c.execute('PRAGMA ' + p).fetchone()[0] for p in"
        " ('journal_mode', 'busy_timeout', 'synchronous', 'foreign_keys')}))"
    )
    process = run_python(code, env=sqlite_env(tmp_path / "pragmas.sqlite3"))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    # synchronous=NORMAL (1): in WAL mode a commit survives a killed process.
    assert json.loads(out) == {
        "journal_mode": "wal",
        "busy_timeout": 20_000,
        "synchronous": 1,
        "foreign_keys": 1,
    }


def test_workers_writing_at_once_wait_for_each_other_and_lose_nothing(tmp_path):
    path = counter_db(tmp_path)
    results = workers_run(path, mode="IMMEDIATE")
    assert [r["locked"] for r in results] == [0, 0, 0, 0]
    import sqlite3

    with sqlite3.connect(path) as db:
        assert db.execute("SELECT n FROM counter").fetchone()[0] == 4 * 40


def test_without_immediate_transactions_the_same_load_hits_database_is_locked(tmp_path):
    # The control: SQLite's default DEFERRED mode fails where the settings' IMMEDIATE waits.
    path = counter_db(tmp_path)
    results = workers_run(path, mode="DEFERRED")
    assert sum(r["locked"] for r in results) > 0


def test_database_url_selects_postgresql_with_persistent_checked_connections(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://caseviewer:pw@db.example.org:5432/cases")
    monkeypatch.delenv("CONN_MAX_AGE", raising=False)
    database = runpy.run_path(str(SETTINGS))["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.example.org",
        5432,
        "cases",
    )
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True
    assert "transaction_mode" not in database.get("OPTIONS", {})


def test_sqlite_is_the_default_with_its_tuning(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    database = runpy.run_path(str(SETTINGS))["DATABASES"]["default"]
    assert database["ENGINE"] == "caseviewer.sqlite"
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert database["OPTIONS"]["timeout"] == 20
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_it_was_given():
    # CI runs the suite twice: DATABASE_URL decides which engine these tests really used.
    from django.db import connection

    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def _planner_statistics_after_close(tmp_path, monkeypatch, blocker, engine: str) -> list[str]:
    """The tables with statistics after one connection of ``engine`` used an index and closed."""
    import sqlite3

    from django.db.utils import ConnectionHandler

    path = tmp_path / "stats.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    database = runpy.run_path(str(SETTINGS))["DATABASES"]["default"] | {"ENGINE": engine}
    connection = ConnectionHandler({"default": database})["default"]
    with blocker.unblock(), connection.cursor() as cursor:  # a scratch file, not the test db
        cursor.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, status TEXT)")
        cursor.execute("CREATE INDEX item_status ON item (status)")
        cursor.executemany("INSERT INTO item (status) VALUES (%s)", [("published",)] * 500)
        cursor.execute("SELECT id FROM item WHERE status = %s AND id IN (1, 2, 3)", ["published"])
        cursor.fetchall()
    connection.close()
    with sqlite3.connect(path) as reader:
        if not reader.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall():
            return []
        return sorted({row[0] for row in reader.execute("SELECT tbl FROM sqlite_stat1")})


def test_a_sqlite_connection_gathers_the_planner_statistics_as_it_closes(
    tmp_path, monkeypatch, django_db_blocker
):
    # Without them SQLite walks the status index through every published case to read 25 by id.
    engine = "caseviewer.sqlite"
    tables = _planner_statistics_after_close(tmp_path, monkeypatch, django_db_blocker, engine)
    assert tables == ["item"]


def test_django_sqlite_backend_alone_leaves_the_planner_without_statistics(
    tmp_path, monkeypatch, django_db_blocker
):
    # The control: the same connection through Django's own backend.
    engine = "django.db.backends.sqlite3"
    tables = _planner_statistics_after_close(tmp_path, monkeypatch, django_db_blocker, engine)
    assert tables == []
