"""Live conference under load, printed as figures (not a timed test).

Run: .venv/bin/python bench/conference.py [--redis] [--clients 300] [--seconds 60]

Starts gunicorn on a scratch SQLite database (the demo head CT in a one-case conference),
then 300 simulated audience members each poll ``/c/<code>/live/`` once a second for 60 s with
``If-None-Match`` (as the page's script does), keeping the member cookie the server sets,
while the presenter changes the state every 5 s through the console's own endpoints (three
slice changes on the viewer, then a reveal step, and so on). Prints requests per second,
latency p50/p99, the share of 304s, errors, and for each change how long each client took to
see it (from the moment the presenter's request was sent to the moment that client's poll
brought the new version back). ``--redis`` sets REDIS_URL (state and head count in Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CT_ZIP = ROOT / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
ETAG = re.compile(rb'etag: "([A-Z0-9]+)-(\d+)"', re.IGNORECASE)


def _setup(env: dict[str, str]) -> dict:
    """Scratch data: a presenter, the head CT case, a started conference; a session cookie."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.middleware.csrf import _get_new_csrf_string

    from cases.conference import services
    from cases.importers.dicom import dicom_import
    from cases.models import Case

    call_command("migrate", verbosity=0)
    presenter = get_user_model().objects.create_user("presenter", is_staff=True)
    case = Case.objects.create(
        slug="bench-head-ct",
        title="Head CT: chronic infarct",
        unknown_title="70-year-old man, fell at home",
        status=Case.Status.PUBLISHED,
        history="Fell at home; drowsy since.",
        findings="Low density in the left MCA territory.",
        diagnosis="Chronic infarct",
        differential="Chronic infarct\nLow-grade glioma\nCerebritis",
        discussion="Old infarcts lose volume.",
    )
    dicom_import(case=case, source=CT_ZIP, caption="Head CT.")
    conference = services.conference_create(title="Bench", presenter=presenter, cases=[case])
    services.conference_start(conference)
    services.conference_navigate(conference, step=1)  # the images: the viewer is on screen
    session = SessionStore()
    session[SESSION_KEY] = str(presenter.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = presenter.get_session_auth_hash()
    session.save()
    csrf = _get_new_csrf_string()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={csrf}"
    version = type(conference).objects.get(pk=conference.pk).version
    return {"code": conference.code, "cookie": cookie, "csrf": csrf, "version": version}


async def _http(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b""):
    """One request on a fresh connection: (status, headers as bytes, seconds)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head = data.partition(b"\r\n\r\n")[0]
    status = int(head.split(b" ", 2)[1])
    return status, head, time.monotonic() - started


class Results:
    def __init__(self) -> None:
        self.latencies: dict[int, list[float]] = {}
        self.errors: list[str] = []
        self.seen: dict[int, dict[int, float]] = {}  # client -> version -> first time seen


async def _member(n: int, port: int, code: str, deadline: float, interval: float, results):
    headers = {"HX-Request": "true"}
    etag = ""
    cookie = ""
    seen = results.seen.setdefault(n, {})
    await asyncio.sleep(random.uniform(0, interval))  # members join at different moments
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        request_headers = dict(headers)
        if etag:
            request_headers["If-None-Match"] = etag
        if cookie:
            request_headers["Cookie"] = cookie
        try:
            status, head, seconds = await _http(port, "GET", f"/c/{code}/live/", request_headers)
        except OSError as error:
            results.errors.append(f"{type(error).__name__}: {error}")
        else:
            results.latencies.setdefault(status, []).append(seconds)
            if status not in (200, 304):
                results.errors.append(f"HTTP {status}")
            match = ETAG.search(head)
            if match:
                etag = f'"{match.group(1).decode()}-{match.group(2).decode()}"'
                version = int(match.group(2))
                seen.setdefault(version, time.monotonic())
            set_cookie = re.search(rb"set-cookie: (cv_member=[^;]+)", head, re.IGNORECASE)
            if set_cookie:
                cookie = set_cookie.group(1).decode()
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _presenter(port, setup, start_at, deadline, every, changes, presenter_latency):
    headers = {
        "Cookie": setup["cookie"],
        "X-CSRFToken": setup["csrf"],
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://127.0.0.1:{port}",
        "Referer": f"http://127.0.0.1:{port}/conference/{setup['code']}/",
    }
    version = setup["version"]
    slice_number, step_forward, n = 14, True, 0
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    while time.monotonic() + every < deadline:
        await asyncio.sleep(every)
        n += 1
        if n % 4:
            slice_number = slice_number % 28 + 1
            path, body = f"/conference/{setup['code']}/viewer/", f"slice={slice_number}"
        else:
            path = f"/conference/{setup['code']}/action/"
            body = f"action={'next' if step_forward else 'previous'}"
            step_forward = not step_forward
        sent = time.monotonic()
        status, _, seconds = await _http(port, "POST", path, headers, body.encode())
        presenter_latency.append(seconds)
        if status != 200:
            raise SystemExit(f"presenter's change failed: HTTP {status} on {path}")
        version += 1
        changes[version] = sent


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=1.0, help="each member's poll period")
    parser.add_argument("--every", type=float, default=5.0, help="presenter's change period")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2)
    parser.add_argument("--redis", action="store_true", help="REDIS_URL=redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="caseviewer-bench-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(scratch / "static"),
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
    }
    if args.redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    (scratch / "static").mkdir()
    setup = _setup(env)
    port = _port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "caseviewer.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--backlog", "2048", "--log-level", "warning"],
        cwd=ROOT, env=os.environ | env,
    )  # fmt: skip
    try:
        _wait_for(port)
        results = Results()
        changes: dict[int, float] = {}
        presenter_latency: list[float] = []

        async def run() -> float:
            # Warm up: every worker imports the app and renders the stage once, unmeasured.
            for _ in range(args.workers * 3):
                await _http(port, "GET", f"/c/{setup['code']}/live/", {"HX-Request": "true"})
            start = time.monotonic()
            deadline = start + args.seconds
            tasks = [
                _member(n, port, setup["code"], deadline, args.interval, results)
                for n in range(args.clients)
            ]
            tasks.append(
                _presenter(port, setup, start + 2, deadline - 2, args.every, changes,
                           presenter_latency)
            )  # fmt: skip
            await asyncio.gather(*tasks)
            return time.monotonic() - start

        elapsed = asyncio.run(run())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    every = [s for values in results.latencies.values() for s in values]
    count = len(every)
    not_modified = len(results.latencies.get(304, []))
    print(f"conference bench: {args.clients} members polling every {args.interval:g} s for "
          f"{args.seconds:g} s; presenter changes every {args.every:g} s; gunicorn "
          f"{args.workers} sync workers on {os.cpu_count()} cores; state in "
          f"{'Redis + SQLite' if args.redis else 'SQLite'}")  # fmt: skip
    print(f"requests        {count} in {elapsed:.1f} s = {count / elapsed:.0f} req/s")
    print(f"errors          {len(results.errors)}"
          + (f" (first: {results.errors[0]})" if results.errors else ""))  # fmt: skip
    print(f"304 share       {100 * not_modified / max(count, 1):.1f}%")
    for label, values in (("all", every), ("304", results.latencies.get(304, [])),
                          ("200", results.latencies.get(200, []))):  # fmt: skip
        print(f"latency {label:<7} p50 {1000 * _percentile(values, .5):6.1f} ms   p99 "
              f"{1000 * _percentile(values, .99):6.1f} ms   max "
              f"{1000 * max(values, default=0):6.1f} ms   (n={len(values)})")  # fmt: skip
    print(f"presenter POST  p50 {1000 * _percentile(presenter_latency, .5):6.1f} ms   max "
          f"{1000 * max(presenter_latency, default=float('nan')):6.1f} ms")  # fmt: skip

    # How long each client took to see each change (a later version counts: it includes it).
    delays: list[float] = []
    missed = 0
    per_change = []
    for version, sent in sorted(changes.items()):
        this = []
        for seen in results.seen.values():
            when = min((t for v, t in seen.items() if v >= version), default=None)
            if when is None:
                missed += 1
            else:
                this.append(when - sent)
        delays += this
        per_change.append((version, this))
    print(f"changes         {len(changes)}; client x change pairs {len(delays)}, never seen "
          f"{missed}")  # fmt: skip
    if delays:
        within = sum(1 for d in delays if d <= 2.0)
        print(f"time to see     p50 {_percentile(delays, .5):.2f} s   p99 "
              f"{_percentile(delays, .99):.2f} s   max {max(delays):.2f} s   within 2 s: "
              f"{100 * within / len(delays):.2f}%")  # fmt: skip
        print("per change      " + "  ".join(
            f"v{v}: max {max(d):.2f}s" for v, d in per_change if d))  # fmt: skip


if __name__ == "__main__":
    main()
