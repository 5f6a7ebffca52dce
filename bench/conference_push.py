"""The room told of the presenter's change: server-sent events against polling, one run.

Run: make bench-conference-push (or .venv/bin/python bench/conference_push.py [--clients 300])

Two gunicorn app servers (A and B) on a scratch SQLite database with the state in Redis
(db 14), one uvicorn serving the push stream (cases/conference/stream.py), the demo head CT in
a started conference. ``--through PORT`` instead measures a running deployment (``make
bench-cluster`` passes its HAProxy's port and its environment): every request goes to the
balancer, which spreads the members' requests over its app servers. Then, in turn:

1. SSE: every member holds the stream open; the new screen comes in ``event: screen`` and is
   in hand on arrival (a bare ``event: state`` sends the member to ``/c/<code>/live/``);
2. SSE, then GET: the same stream, but each member fetches ``/c/<code>/live/`` with
   ``If-None-Match`` on every event, as the page did before the screen rode on the event;
3. polling: every member polls its app server once a second with ``If-None-Match``.

Members alternate between A and B. The presenter changes the slice (and every fourth time the
reveal step) through A every ``--every`` seconds. For each member and change: the time from
the presenter's request being sent to the member holding the new screen (content on screen),
and for SSE to the event's arrival. Prints p50/p95/p99 for each. Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from conference import (  # noqa: E402
    ETAG,
    Results,
    _http,
    _member,
    _percentile,
    _port,
    _presenter,
    _setup,
    _wait_for,
)

REDIS_URL = "redis://127.0.0.1:6379/14"


VERSION = re.compile(r'data-version="(\d+)"')


async def _sse_event(raw, arrived, code, app_port, fetch, etag, results, seen, heard) -> str:
    """One event from the stream: the screen taken from it, or fetched with a GET.

    Returns the ETag the member now holds. (The stream's HTTP chunk sizes sit between events
    as lines of their own, and are skipped like any line that is not ``event:`` or ``data:``.)
    """
    kind, data = "", []
    for line in raw.replace(b"\r", b"").split(b"\n"):
        if line.startswith(b"event: "):
            kind = line[7:].decode()
        elif line.startswith(b"data: "):
            data.append(line[6:].decode())
    if kind not in ("screen", "state"):
        return etag
    payload = "\n".join(data)
    version = None
    if kind == "screen" and (match := VERSION.search(payload)):
        version = int(match.group(1))
    elif kind == "state" and payload.isdigit():
        version = int(payload)
    if version is not None:
        heard.setdefault(version, arrived)
    if kind == "screen" and version is not None and not fetch:
        seen.setdefault(version, arrived)  # the screen is in the event
        return etag
    headers = {"HX-Request": "true"} | ({"If-None-Match": etag} if etag else {})
    status, head, seconds = await _http(app_port, "GET", f"/c/{code}/live/", headers)
    results.latencies.setdefault(status, []).append(seconds)
    if status not in (200, 304):
        results.errors.append(f"HTTP {status}")
    match = ETAG.search(head)
    if match:
        seen.setdefault(int(match.group(2)), time.monotonic())
        return f'"{match.group(1).decode()}-{match.group(2).decode()}"'
    return etag


async def _sse_member(n, app_port, sse_port, code, deadline, results, heard, fetch) -> None:
    """Holds the stream; takes the screen from the event, or fetches it (always, if ``fetch``)."""
    seen = results.seen.setdefault(n, {})
    heard_here = heard.setdefault(n, {})
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sse_port)
    except OSError as error:
        results.errors.append(f"stream: {error}")
        return
    request = (
        f"GET /c/{code}/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    etag = ""
    buffer = b""
    try:
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), deadline - time.monotonic())
            except TimeoutError:
                break
            if not chunk:
                results.errors.append("stream closed")
                break
            arrived = time.monotonic()
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")  # a blank line ends an event
            for raw in events:
                etag = await _sse_event(raw, arrived, code, app_port, fetch, etag, results, seen,
                                        heard_here)  # fmt: skip
    finally:
        writer.close()


def _delays(changes: dict[int, float], seen_by_member: dict[int, dict[int, float]]):
    """Each member's delay to each change (a later version includes it); and how many missed."""
    delays, missed = [], 0
    for version, sent in changes.items():
        for seen in seen_by_member.values():
            when = min((t for v, t in seen.items() if v >= version), default=None)
            if when is None:
                missed += 1
            else:
                delays.append(when - sent)
    return delays, missed


def _line(label: str, delays: list[float], missed: int) -> str:
    figures = "   ".join(
        f"p{int(share * 100)} {1000 * _percentile(delays, share):6.0f} ms"
        for share in (0.5, 0.95, 0.99)
    )
    return f"  {label:<40} {figures}   (n={len(delays)}, missed {missed})"


def _servers_start(args, env: dict[str, str], ports: dict[str, int]) -> list[subprocess.Popen]:
    """gunicorn A and B and the stream's uvicorn, on the scratch database."""
    python = sys.executable
    servers = [
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "caseviewer.wsgi:application",
                "--bind",
                f"127.0.0.1:{ports[name]}",
                "--workers",
                str(args.workers),
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=os.environ | env,
            start_new_session=True,
        )  # fmt: skip
        for name in ("a", "b")
    ]
    servers.append(
        subprocess.Popen(
            [
                python,
                "-m",
                "uvicorn",
                "cases.conference.stream:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["sse"]),
                "--log-level",
                "warning",
                "--no-access-log",
                "--backlog",
                "2048",
            ],
            cwd=ROOT,
            env=os.environ | env,
            start_new_session=True,
        )  # fmt: skip
    )
    return servers


def _servers_stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        os.killpg(server.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


async def _presenter_warm(port: int, setup: dict, changes: int) -> None:
    """The presenter's workers take a few slice steps first, unmeasured, as each phase starts.

    A worker's first change renders the room's screen cold; without this the first phase
    would carry that cost and the later ones would not.
    """
    headers = {
        "Cookie": setup["cookie"], "X-CSRFToken": setup["csrf"], "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://127.0.0.1:{port}",
        "Referer": f"http://127.0.0.1:{port}/conference/{setup['code']}/",
    }  # fmt: skip
    for n in range(changes):
        path = f"/conference/{setup['code']}/viewer/"
        await _http(port, "POST", path, headers, f"slice={10 + n % 5}".encode())


def _measure(args, setup: dict, app_ports: list[int], sse_port: int, redis_url: str) -> dict:
    """The three phases in turn: (changes, heard, seen, results) for each."""
    import redis

    code = setup["code"]

    async def phase(kind: str):
        for port in app_ports:  # every worker imports the app and renders once, unmeasured
            for _ in range(args.workers * 3):
                await _http(port, "GET", f"/c/{code}/live/", {"HX-Request": "true"})
        await _presenter_warm(app_ports[0], setup, args.workers * 2)
        results, heard, changes, presenter = Results(), {}, {}, []
        start = time.monotonic()
        deadline = start + args.seconds
        if kind == "poll":
            members = [
                _member(n, app_ports[n % len(app_ports)], code, deadline, 1.0, results)
                for n in range(args.clients)
            ]
        else:
            members = [
                _sse_member(
                    n,
                    app_ports[n % len(app_ports)],
                    sse_port,
                    code,
                    deadline,
                    results,
                    heard,
                    fetch=kind == "fetch",
                )  # fmt: skip
                for n in range(args.clients)
            ]
        state = redis.Redis.from_url(redis_url).get(f"caseviewer:conference:{code}:state")
        setup["version"] = json.loads(state)["version"]
        driver = _presenter(app_ports[0], setup, start + 2, deadline - 2, args.every, changes,
                            presenter)  # fmt: skip
        await asyncio.gather(*members, driver)
        return changes, heard, results, presenter

    random.seed(1)
    return {kind: asyncio.run(phase(kind)) for kind in ("screen", "fetch", "poll")}


def _report(args, measured: dict, where: str) -> float:
    """Prints the figures; returns the p95 of content on screen with the screen in the event."""
    print(f"conference push bench: {args.clients} members {where}, {os.cpu_count()} cores; "
          f"presenter changes every {args.every:g} s for {args.seconds:g} s per phase")  # fmt: skip
    print("== from the presenter's request to the member holding it (event / content on screen)")
    rows = (
        ("screen", "SSE, screen in the event"),
        ("fetch", "SSE, event then GET (before)"),
        ("poll", "polling (1 s)"),
    )
    p95 = {}
    for kind, label in rows:
        changes, heard, results, _ = measured[kind]
        if kind != "poll":
            print(_line(f"{label}: event", *_delays(changes, heard)))
        delays, missed = _delays(changes, results.seen)
        print(_line(f"{label}: on screen", delays, missed))
        p95[kind] = _percentile(delays, 0.95)
    changes, _, results, _ = measured["screen"]
    each = []
    for version, sent in sorted(changes.items()):
        delays = sorted(seen[version] - sent for seen in results.seen.values() if version in seen)
        if delays:
            each.append(f"{1000 * delays[len(delays) // 2]:.0f}/{1000 * delays[-1]:.0f}")
    print(f"  SSE, screen in the event, each change's p50/max in ms: {', '.join(each)}")
    verdict = "met" if p95["screen"] < 0.25 else "missed"
    print(f"  target p95 < 250 ms for content on screen with SSE: {verdict} "
          f"({1000 * p95['screen']:.0f} ms; before {1000 * p95['fetch']:.0f} ms, "
          f"polling {1000 * p95['poll']:.0f} ms)")  # fmt: skip
    for kind, label in rows:
        _, _, results, presenter = measured[kind]
        count = sum(len(v) for v in results.latencies.values())
        errors = results.errors
        took = 1000 * _percentile(presenter, 0.5)
        print(f"  {label}: {count} requests for /live/, errors {len(errors)}"
              + (f" (first: {errors[0]})" if errors else "")
              + f"; the presenter's change took p50 {took:.0f} ms")  # fmt: skip
    return p95["screen"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=24, help="each phase's length")
    parser.add_argument("--every", type=float, default=2.0, help="presenter's change period")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument(
        "--through", type=int, help="a running deployment's balancer port (its env from ours)"
    )
    args = parser.parse_args()

    if args.through:
        # The deployment's own database, Redis and media, named by our environment.
        setup = _setup(
            {
                "DJANGO_SETTINGS_MODULE": os.environ.get(
                    "DJANGO_SETTINGS_MODULE", "caseviewer.settings"
                )
            }
        )
        where = f"through the balancer on port {args.through} (two app servers)"
        measured = _measure(args, setup, [args.through], args.through, os.environ["REDIS_URL"])
        _report(args, measured, where)
        return

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    scratch = Path(tempfile.mkdtemp(prefix="caseviewer-bench-push-"))
    (scratch / "static").mkdir()
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(scratch / "static"),
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "REDIS_URL": REDIS_URL,
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    setup = _setup(env)
    ports = {"a": _port(), "b": _port(), "sse": _port()}
    servers = _servers_start(args, env, ports)
    try:
        for port in ports.values():
            _wait_for(port)
        measured = _measure(args, setup, [ports["a"], ports["b"]], ports["sse"], REDIS_URL)
    finally:
        _servers_stop(servers)
    where = f"half on app server A, half on B (gunicorn, {args.workers} sync workers each)"
    _report(args, measured, where)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
