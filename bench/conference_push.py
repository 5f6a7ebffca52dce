"""The room told of the presenter's change: server-sent events against polling, one run.

Run: make bench-conference-push (or .venv/bin/python bench/conference_push.py [--clients 300])

Two gunicorn app servers (A and B) on a scratch SQLite database with the state in Redis
(db 14), one uvicorn serving the push stream (cases/conference/stream.py), the demo head CT in
a started conference. Then, in turn:

1. SSE: every member holds the stream open; on ``event: state`` it fetches ``/c/<code>/live/``
   with ``If-None-Match`` from its own app server, as the page does (half on A, half on B);
2. polling: every member polls its app server once a second with ``If-None-Match``.

The presenter changes the slice (and every fourth time the reveal step) through A every
``--every`` seconds. For each member and change: the time from the presenter's request being
sent to the member holding the new fragments (for SSE also to the event's arrival). Prints
p50/p95/p99 for both. Figures, not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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


async def _sse_member(n, app_port, sse_port, code, deadline, results, heard) -> None:
    """Holds the stream; fetches the fragments on each event, as hx-trigger="sse:state" does."""
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
    event = ""
    try:
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
            except TimeoutError:
                break
            if not line:
                results.errors.append("stream closed")
                break
            line = line.strip()
            if line.startswith(b"event: "):
                event = line[7:].decode()
            elif line.startswith(b"data: ") and event == "state":
                data = line[6:].decode()
                if data.isdigit():
                    heard_here.setdefault(int(data), time.monotonic())
                headers = {"HX-Request": "true"} | ({"If-None-Match": etag} if etag else {})
                status, head, seconds = await _http(app_port, "GET", f"/c/{code}/live/", headers)
                results.latencies.setdefault(status, []).append(seconds)
                if status not in (200, 304):
                    results.errors.append(f"HTTP {status}")
                match = ETAG.search(head)
                if match:
                    etag = f'"{match.group(1).decode()}-{match.group(2).decode()}"'
                    seen.setdefault(int(match.group(2)), time.monotonic())
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
    return f"  {label:<30} {figures}   (n={len(delays)}, missed {missed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=24, help="each phase's length")
    parser.add_argument("--every", type=float, default=2.0, help="presenter's change period")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    args = parser.parse_args()

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
    try:
        for port in ports.values():
            _wait_for(port)
        code = setup["code"]
        app_ports = [ports["a"], ports["b"]]

        async def phase(kind: str):
            for port in app_ports:  # every worker imports the app and renders once, unmeasured
                for _ in range(args.workers * 3):
                    await _http(port, "GET", f"/c/{code}/live/", {"HX-Request": "true"})
            results, heard, changes, presenter = Results(), {}, {}, []
            start = time.monotonic()
            deadline = start + args.seconds
            if kind == "sse":
                members = [
                    _sse_member(n, app_ports[n % 2], ports["sse"], code, deadline, results, heard)
                    for n in range(args.clients)
                ]
            else:
                members = [
                    _member(n, app_ports[n % 2], code, deadline, 1.0, results)
                    for n in range(args.clients)
                ]
            setup["version"] = int(redis.Redis.from_url(REDIS_URL).get(
                f"caseviewer:conference:{code}:state").decode().split('"version":')[1]
                .split(",")[0])  # fmt: skip
            driver = _presenter(ports["a"], setup, start + 2, deadline - 2, args.every, changes,
                                presenter)  # fmt: skip
            await asyncio.gather(*members, driver)
            return results, heard, changes

        random.seed(1)
        sse_results, heard, sse_changes = asyncio.run(phase("sse"))
        poll_results, _, poll_changes = asyncio.run(phase("poll"))
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)

    print(f"conference push bench: {args.clients} members, half on app server A, half on B "
          f"(gunicorn, {args.workers} sync workers each), {os.cpu_count()} cores; presenter "
          f"changes every {args.every:g} s for {args.seconds:g} s per phase")  # fmt: skip
    print("== from the presenter's request to the member holding the news")
    heard_delays, heard_missed = _delays(sse_changes, heard)
    sse_delays, sse_missed = _delays(sse_changes, sse_results.seen)
    poll_delays, poll_missed = _delays(poll_changes, poll_results.seen)
    print(_line("SSE: event arrived", heard_delays, heard_missed))
    print(_line("SSE: fragments fetched", sse_delays, sse_missed))
    print(_line("polling (1 s): fragments", poll_delays, poll_missed))
    p95_heard = _percentile(heard_delays, 0.95)
    p95_sse, p95_poll = _percentile(sse_delays, 0.95), _percentile(poll_delays, 0.95)
    print(f"  p95 fragments, SSE / polling: {p95_sse / p95_poll:.2f}; target p95 < 250 ms for "
          f"the room to hear of it: {'met' if p95_heard < 0.25 else 'missed'} "
          f"({1000 * p95_heard:.0f} ms)")  # fmt: skip
    for label, results in (("SSE", sse_results), ("polling", poll_results)):
        count = sum(len(v) for v in results.latencies.values())
        errors = results.errors
        print(f"  {label}: {count} fragment requests, errors {len(errors)}"
              + (f" (first: {errors[0]})" if errors else ""))  # fmt: skip
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
