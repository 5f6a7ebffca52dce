"""Load and fault benchmark: locust against gunicorn (3 workers) on a scratch SQLite database.

    .venv/bin/python bench/load/run.py            # the load run, then the fault run
    .venv/bin/python bench/load/run.py --load     # only the load run
    .venv/bin/python bench/load/run.py --fault --users 20 --duration 60

Each run builds a new installation in a scratch folder (migrate, collectstatic, load_demo,
bench accounts), serves it with gunicorn on loopback and runs locust headless
(bench/load/locustfile.py). The fault run kills one gunicorn worker with SIGKILL every
``--kill-every`` seconds. Afterwards the runner stops the server and checks the database:
every comment the server acknowledged must be there. It prints the figures and exits 1 when
a target is missed (load run: no failed request, no "database is locked", p95 under 500 ms;
fault run: no acknowledged comment lost, no "database is locked").
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
PASSWORD = "bench-learner-pass-1"
P95_TARGET_MS = 500

# Run inside `manage.py shell`: the bench accounts (verified e-mail, one password hash for
# all, so set-up does not spend a minute hashing) and the catalogue locust draws from.
SETUP = r"""
import json, os
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from cases.models import Case

users, password = int(os.environ["BENCH_USERS"]), os.environ["BENCH_PASSWORD"]
User = get_user_model()
hashed = make_password(password)
accounts = []
for n in range(1, users + 1):
    name = f"bench{n:03d}"
    user, _ = User.objects.update_or_create(username=name, defaults={
        "email": f"{name}@bench.invalid", "password": hashed})
    EmailAddress.objects.update_or_create(user=user, email=user.email,
        defaults={"verified": True, "primary": True})
    accounts.append(name)

cases, imaged, unknown = [], [], []
for case in Case.objects.filter(status="published").prefetch_related("figures__slices"):
    entry = {"slug": case.slug, "public_id": case.public_id, "figures": []}
    for figure in case.figures.all():
        slices = [s for s in figure.slices.all() if s.image]
        if slices:
            entry["figures"].append({"number": figure.number,
                "kind": slices[0].kind, "slices": [s.token for s in slices]})
    cases.append(entry)
    if entry["figures"]:
        imaged.append(entry)
    if not case.is_sample and case.diagnosis:
        unknown.append(entry)
print(json.dumps({
    "password": password, "accounts": accounts, "cases": cases, "imaged": imaged,
    "unknown": unknown,
    "search_terms": ["leiomyosarcoma", "ct", "metastasis", "brain", "fracture", "mass"],
    "guesses": ["Leiomyosarcoma", "Lymphoma", "Metastasis", "Abscess", "Hematoma"],
}))
"""


@dataclass
class Outcome:
    name: str
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max_ms: float = 0.0
    rows: list[dict] = field(default_factory=list)
    failure_kinds: list[tuple[str, str, int]] = field(default_factory=list)
    acked: int = 0
    stored: int = 0
    missing: list[str] = field(default_factory=list)
    locked: int = 0
    server_errors: int = 0
    kills: int = 0
    respawned: bool = True


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout if capture else ""


def installation_build(scratch: Path, users: int) -> tuple[dict, Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    log(f"installation in {scratch}: migrate, collectstatic, load_demo, {users} accounts")
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "load_demo")
    setup_env = env | {"BENCH_USERS": str(users), "BENCH_PASSWORD": PASSWORD}
    catalogue = manage(setup_env, "shell", "--no-imports", "-c", SETUP, capture=True)
    path = scratch / "catalogue.json"
    path.write_text(catalogue.strip().splitlines()[-1])
    return env, path


def server_start(env: dict, scratch: Path, port: int, workers: int) -> subprocess.Popen:
    error_log = scratch / "gunicorn.log"
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "caseviewer.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
            "--graceful-timeout",
            "10",
            "--backlog",
            "2048",
            "--error-logfile",
            str(error_log),
            "--capture-output",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    sys.exit(f"gunicorn did not answer on port {port}; see {error_log}")


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children: its workers (this runner started the master)."""
    children = Path(f"/proc/{master}/task/{master}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


def killer(master: int, every: float, stop: threading.Event, kills: list[int]) -> None:
    while not stop.wait(every):
        pids = worker_pids(master)
        if pids:
            victim = random.choice(pids)
            os.kill(victim, signal.SIGKILL)
            kills.append(victim)
            log(f"SIGKILL worker {victim} ({len(kills)} so far)")


def locust_run(
    catalogue: Path,
    acked: Path,
    scratch: Path,
    port: int,
    users: int,
    duration: int,
    tag: str,
    spawn_rate: float,
) -> None:
    env = os.environ | {"BENCH_CATALOGUE": str(catalogue), "BENCH_ACKED": str(acked)}
    command = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{duration}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(scratch / tag),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "10",
    ]
    log(f"locust: {users} users (+{spawn_rate}/s) for {duration} s")
    with (scratch / f"{tag}-locust.log").open("w") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stats_read(scratch: Path, tag: str, outcome: Outcome) -> None:
    with (scratch / f"{tag}_stats.csv").open() as stream:
        for row in csv.DictReader(stream):
            entry = {
                "name": f"{row['Type']} {row['Name']}".strip(),
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50": float(row["50%"] or 0),
                "p95": float(row["95%"] or 0),
                "p99": float(row["99%"] or 0),
                "max": float(row["Max Response Time"] or 0),
                "rps": float(row["Requests/s"] or 0),
            }
            if row["Name"] == "Aggregated":
                outcome.requests, outcome.failures = entry["requests"], entry["failures"]
                outcome.p50, outcome.p95, outcome.p99 = entry["p50"], entry["p95"], entry["p99"]
                outcome.max_ms, outcome.rps = entry["max"], entry["rps"]
            else:
                outcome.rows.append(entry)
    failures = scratch / f"{tag}_failures.csv"
    if failures.exists():
        with failures.open() as stream:
            for row in csv.DictReader(stream):
                outcome.failure_kinds.append(
                    (row["Name"], row["Error"][:120], int(row["Occurrences"]))
                )


def comments_check(db: Path, acked: Path, outcome: Outcome) -> None:
    markers = [line.split()[0] for line in acked.read_text().splitlines() if line.strip()]
    outcome.acked = len(markers)
    with sqlite3.connect(db) as connection:
        bodies = {
            row[0].split(":", 1)[0]
            for row in connection.execute(
                "SELECT body FROM cases_comment WHERE body LIKE 'bench-%'"
            )
        }
    outcome.stored = len(bodies)
    outcome.missing = [marker for marker in markers if marker not in bodies]


def server_log_check(scratch: Path, outcome: Outcome) -> None:
    text = (scratch / "gunicorn.log").read_text(errors="replace")
    outcome.locked = text.count("database is locked")
    outcome.server_errors = text.count("Internal Server Error")


def run(name: str, *, users: int, duration: int, workers: int, kill_every: float | None,
        port: int, keep: bool, spawn_rate: float) -> Outcome:  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix=f"caseviewer-bench-{name}-"))
    env, catalogue = installation_build(scratch, users)
    acked = scratch / "acked.txt"
    outcome = Outcome(name=name)
    server = server_start(env, scratch, port, workers)
    log(f"gunicorn master {server.pid}, workers {worker_pids(server.pid)}")
    stop, kills = threading.Event(), []
    thread = None
    if kill_every:
        thread = threading.Thread(
            target=killer, args=(server.pid, kill_every, stop, kills), daemon=True
        )
        thread.start()
    try:
        locust_run(catalogue, acked, scratch, port, users, duration, name, spawn_rate)
    finally:
        stop.set()
        if thread:
            thread.join()
        time.sleep(1)
        outcome.respawned = len(worker_pids(server.pid)) == workers
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    outcome.kills = len(kills)
    stats_read(scratch, name, outcome)
    comments_check(scratch / "db.sqlite3", acked, outcome)
    server_log_check(scratch, outcome)
    report(outcome, users=users, duration=duration, workers=workers)
    log(f"files: {scratch}" + ("" if keep else " (removed)"))
    if not keep:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    return outcome


def report(outcome: Outcome, *, users: int, duration: int, workers: int) -> None:
    print()
    print(f"== {outcome.name} run: {users} users, {duration} s, gunicorn {workers} workers, "
          f"SQLite (WAL) ==")  # fmt: skip
    print(f"{'request':<44} {'count':>7} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}")
    for row in sorted(outcome.rows, key=lambda r: -r["requests"]):
        print(f"{row['name']:<44} {row['requests']:>7} {row['failures']:>5} {row['p50']:>6.0f} "
              f"{row['p95']:>6.0f} {row['p99']:>6.0f} {row['max']:>7.0f}")  # fmt: skip
    print(f"{'all':<44} {outcome.requests:>7} {outcome.failures:>5} {outcome.p50:>6.0f} "
          f"{outcome.p95:>6.0f} {outcome.p99:>6.0f} {outcome.max_ms:>7.0f}")  # fmt: skip
    print(f"throughput: {outcome.rps:.1f} requests/s (times in ms)")
    for name, error, count in outcome.failure_kinds:
        print(f"failure: {count} x {name}: {error}")
    print(f'"database is locked" in the server log: {outcome.locked}; '
          f"500 responses logged: {outcome.server_errors}")  # fmt: skip
    if outcome.kills:
        print(f"workers killed with SIGKILL: {outcome.kills}; all respawned: {outcome.respawned}")
    print(f"comments acknowledged (201, or 303 to the comment): {outcome.acked}; "
          f"bench comments in the database: {outcome.stored}; "
          f"acknowledged but missing: {len(outcome.missing)}")  # fmt: skip
    print()


def targets_met(outcome: Outcome, *, fault: bool) -> list[str]:
    missed = []
    if outcome.missing:
        missed.append(f"{len(outcome.missing)} acknowledged comments lost")
    if outcome.locked:
        missed.append(f'{outcome.locked} x "database is locked"')
    if outcome.acked == 0:
        missed.append("no comment was acknowledged: the comment path was not exercised")
    if not fault:
        if outcome.failures:
            missed.append(f"{outcome.failures} failed requests")
        if outcome.p95 >= P95_TARGET_MS:
            missed.append(f"p95 {outcome.p95:.0f} ms >= {P95_TARGET_MS} ms")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", action="store_true", help="only the load run")
    parser.add_argument("--fault", action="store_true", help="only the fault run")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=180, help="seconds per run")
    parser.add_argument("--workers", type=int, default=3)
    # Each arrival logs in (PBKDF2, about half a CPU-second by design): 2 a second is a
    # department arriving over 25 s, not all in one instant.
    parser.add_argument("--spawn-rate", type=float, default=2.0, help="users started a second")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds (fault run)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    args = parser.parse_args()
    runs = [("load", None), ("fault", args.kill_every)]
    if args.load or args.fault:
        runs = [
            r for r in runs if (r[0] == "load" and args.load) or (r[0] == "fault" and args.fault)
        ]
    missed_all = []
    for name, kill_every in runs:
        outcome = run(name, users=args.users, duration=args.duration, workers=args.workers,
                      kill_every=kill_every, port=args.port, keep=args.keep,
                      spawn_rate=args.spawn_rate)  # fmt: skip
        missed = targets_met(outcome, fault=kill_every is not None)
        print(f"{name} run: " + ("targets met" if not missed else "MISSED: " + "; ".join(missed)))
        missed_all += missed
    return 1 if missed_all else 0


if __name__ == "__main__":
    sys.exit(main())
