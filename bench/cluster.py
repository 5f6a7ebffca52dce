"""Two app servers behind HAProxy, sharing PostgreSQL, Redis and the object store.

``make cluster`` starts it and serves until Ctrl-C; ``make bench-cluster`` (this script with
no argument) prints figures, not a timed test:

1. an image uploaded through server A (the figure admin) renders through server B;
2. a case returned to draft on A (the admin action) stops being served by B at once;
3. failover: learners comment and scroll through the balancer while A is killed (SIGKILL of
   its whole process group): requests failed, and acknowledged comments missing afterwards;
4. image renders per second through the balancer, media on SeaweedFS against media on the
   local disk, the same run: renders from the shared render store (Redis), and new windows
   (rendered from each worker's decoded-slice cache);
5. the conference pushed live (bench/conference_push.py --through the balancer): 300
   members, the new screen in the stream's event against the event then a GET and against
   polling, from the presenter's request to each member holding the new screen.

Everything runs on loopback: the machine's PostgreSQL (a scratch database, dropped at the
end) and Redis (db 14, flushed), a SeaweedFS started here (tests/seaweedfs.py), two
gunicorns, one background worker, the conference's push stream (uvicorn, routed by
/c/<code>/events/) and Debian's haproxy (installed by the make target).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from viewer import free_port, throughput  # noqa: E402

from tests.seaweedfs import seaweedfs_start  # noqa: E402

PYTHON = sys.executable
POSTGRES = os.environ.get("CLUSTER_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/14")
# The bench runs a second cluster beside the first, with its own Redis database.
REDIS_URL_SECOND = os.environ.get("CLUSTER_REDIS_URL_SECOND", "redis://127.0.0.1:6379/13")
WORKERS = os.environ.get("CLUSTER_WORKERS", "2")
BUCKET = "caseviewer-media"
ADMIN = ("admin", "caseviewer-admin")
LEARNER = ("learner", "caseviewer-learner")
HEAD_CT = "sample-head-ct-series"
# bench/conference_push.py's options for its run through the balancer (e.g. "--clients 100").
PUSH_ARGS = os.environ.get("CLUSTER_PUSH_ARGS", "").split()


def haproxy_config(port: int, servers: dict[str, int], stream: int | None = None) -> str:
    lines = "\n".join(
        f"    server {name} 127.0.0.1:{p} check inter 500ms fall 2 rise 2"
        for name, p in servers.items()
    )
    stream_route = (
        # The conference's push stream (cases/conference/stream.py) to its uvicorn process.
        "    acl events path_reg ^/c/[^/]+/events/$\n    use_backend stream if events\n"
        if stream
        else ""
    )
    # Each event goes out as it comes: by default HAProxy asks the kernel to hold a partial
    # segment for more of the body (MSG_MORE), which holds a streamed event back.
    stream_backend = (
        f"\nbackend stream\n    option http-no-delay\n    server sse 127.0.0.1:{stream}\n"
        if stream
        else ""
    )
    return f"""global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A request that never reached a server (refused: the server is gone) goes to another;
    # one that reached it is never sent twice, since it may have written.
    retries 3
    retry-on conn-failure
    option redispatch

frontend web
    bind 127.0.0.1:{port}
{stream_route}    default_backend app

backend app
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
{lines}
{stream_backend}"""


class Cluster:
    """The whole deployment in a scratch folder; ``media`` is "s3" or "disk"."""

    def __init__(
        self, scratch: Path, *, media: str, port: int | None = None, redis_url: str = REDIS_URL
    ) -> None:
        self.scratch = scratch
        self.redis_url = redis_url
        self.media = media
        self.port = port or free_port()
        self.ports = {"a": free_port(), "b": free_port()}
        self.stream_port = free_port()  # the conference push stream (uvicorn)
        self.database = f"caseviewer_cluster_{os.getpid()}_{media}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.seaweedfs = None
        base = POSTGRES.rsplit("/", 1)[0]
        self.env = os.environ | {
            "DATABASE_URL": f"{base}/{self.database}",
            "REDIS_URL": redis_url,
            "MEDIA_ROOT": str(scratch / "media"),
            "SECRET_KEY": "cluster-bench-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WORKERS": WORKERS,
            "REQUEST_LOG_LEVEL": "WARNING",
            "DISCUSSION_POSTS_PER_MINUTE": "100000",
            "DISCUSSION_POSTS_PER_HOUR": "100000",
            "TASKS_HEARTBEAT_SECONDS": "2",
        }

    def start(self) -> None:
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            db.execute(f'CREATE DATABASE "{self.database}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        if self.media == "s3":
            self.seaweedfs = seaweedfs_start(self.scratch / "seaweedfs")
            self.seaweedfs.bucket_create(BUCKET)
            self.env |= self.seaweedfs.env(BUCKET)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.manage("load_demo")
        for name, port in self.ports.items():
            self.processes[name] = self.spawn(
                name,
                [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "caseviewer.wsgi:application"],
                PORT=str(port),
            )
        self.processes["worker"] = self.spawn("worker", [PYTHON, "manage.py", "worker"])
        self.processes["sse"] = self.spawn(
            "sse",
            [PYTHON, "-m", "uvicorn", "cases.conference.stream:app", "--host", "127.0.0.1",
             "--port", str(self.stream_port), "--no-access-log"],
        )  # fmt: skip
        for port in self.ports.values():
            wait_ok(f"http://127.0.0.1:{port}/healthz")
        config = self.scratch / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.ports, self.stream_port))
        self.processes["haproxy"] = self.spawn("haproxy", [haproxy(), "-db", "-f", str(config)])
        wait_ok(self.url("/healthz"))
        time.sleep(1.5)  # both servers seen up by the health checks

    def spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        log = (self.scratch / f"{name}.log").open("wb")
        return subprocess.Popen(
            command, cwd=ROOT, env=self.env | env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.env["DATABASE_URL"]) as db:
            return db.execute(sql, params).fetchall()

    def url(self, path: str, server: str | None = None) -> str:
        port = self.ports[server] if server else self.port
        return f"http://127.0.0.1:{port}{path}"

    def kill(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for name, process in reversed(self.processes.items()):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    self.kill(name)
        if self.seaweedfs:
            self.seaweedfs.stop()
        with contextlib.suppress(psycopg.Error), psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def haproxy() -> str:
    for candidate in ("/usr/sbin/haproxy", "/usr/bin/haproxy"):
        if Path(candidate).exists():
            return candidate
    raise SystemExit("haproxy is missing: `apt-get install haproxy` (make cluster does)")


def wait_ok(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200")
        time.sleep(0.3)


def logged_in(cluster: Cluster, account: tuple[str, str], server: str | None = None):
    session = requests.Session()
    page = session.get(cluster.url("/accounts/login/", server))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    response = session.post(
        cluster.url("/accounts/login/", server),
        data={"login": account[0], "password": account[1], "csrfmiddlewaretoken": token},
        headers={"Referer": cluster.url("/accounts/login/", server)},
        allow_redirects=False,
    )
    assert response.status_code == 302, f"log-in failed: {response.status_code}"
    return session


def csrf_of(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(url).text)[1]


# --- 1. uploaded on A, rendered on B --------------------------------------------------------


def upload_on_a_renders_on_b(cluster: Cluster) -> str:
    import io

    from PIL import Image

    (case_id,) = cluster.query("SELECT id FROM cases_case WHERE slug = %s", HEAD_CT)[0]
    figure_id = cluster.manage(
        "shell", "--verbosity", "0", "-c",
        "from cases.models import Figure; "
        f"print(Figure.objects.create(case_id={case_id}, number=99, caption='Upload').pk)",
    ).strip()  # fmt: skip
    admin = logged_in(cluster, ADMIN, "a")
    change = cluster.url(f"/admin/cases/figure/{figure_id}/change/", "a")
    buffer = io.BytesIO()
    Image.new("L", (64, 48), 90).save(buffer, format="PNG")
    data = {
        "csrfmiddlewaretoken": csrf_of(admin, change),
        "case": case_id, "number": 99, "label": "", "reveal_step": 2, "caption": "Upload",
        "unknown_caption": "", "alt_text": "", "modality": "CT", "plane": "", "technique": "",
        "window_width": "", "window_center": "",
    }  # fmt: skip
    for prefix in ("slices", "annotations"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0,
                 f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}  # fmt: skip
    response = admin.post(
        change, data=data, files={"upload": ("new.png", buffer.getvalue(), "image/png")},
        headers={"Referer": change}, allow_redirects=False,
    )  # fmt: skip
    if response.status_code != 302:
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S)
        return f"upload through A answered {response.status_code}: {errors[:3]}"
    (token,) = cluster.query("SELECT token FROM cases_slice WHERE figure_id = %s", figure_id)[0]
    on_b = requests.get(cluster.url(f"/img/{token}.png", "b"))
    size = Image.open(io.BytesIO(on_b.content)).size if on_b.status_code == 200 else None
    where = "the bucket" if cluster.media == "s3" else "the shared disk"
    return f"uploaded through A, B answered {on_b.status_code} with a {size} PNG (via {where})"


# --- 2. unpublished on A, gone on B ---------------------------------------------------------


def unpublish_on_a_stops_b(cluster: Cluster) -> str:
    (case_id,) = cluster.query("SELECT id FROM cases_case WHERE slug = %s", HEAD_CT)[0]
    (token,) = cluster.query(
        "SELECT s.token FROM cases_slice s JOIN cases_figure f ON f.id = s.figure_id "
        "WHERE f.case_id = %s AND f.number = 1 ORDER BY s.position LIMIT 1", case_id
    )[0]  # fmt: skip
    image_on_b = cluster.url(f"/img/{token}.png", "b")
    before = [requests.get(image_on_b).status_code for _ in range(3)]
    admin = logged_in(cluster, ADMIN, "a")
    changelist = cluster.url("/admin/cases/case/", "a")
    response = admin.post(
        changelist,
        data={"csrfmiddlewaretoken": csrf_of(admin, changelist), "action": "unpublish",
              "_selected_action": case_id, "index": 0},
        headers={"Referer": changelist}, allow_redirects=False,
    )  # fmt: skip
    after = requests.get(image_on_b).status_code  # sent as soon as A has answered
    cluster.query("UPDATE cases_case SET status = 'published' WHERE id = %s RETURNING id", case_id)
    return (
        f"B served the image {before}; A's unpublish answered {response.status_code}; "
        f"B's answer to the very next request: {after}"
    )


# --- 3. failover ----------------------------------------------------------------------------


def failover(cluster: Cluster, *, seconds: float = 12, kill_at: float = 4, clients: int = 6):
    (case_id, public_id) = cluster.query(
        "SELECT id, public_id FROM cases_case WHERE slug = %s", HEAD_CT
    )[0]
    tokens = [t for (t,) in cluster.query(
        "SELECT s.token FROM cases_slice s JOIN cases_figure f ON f.id = s.figure_id "
        "WHERE f.case_id = %s ORDER BY f.number, s.position", case_id)]  # fmt: skip
    sessions = [logged_in(cluster, LEARNER) for _ in range(clients)]
    thread_url = cluster.url(f"/t/{public_id}/")
    tokens_csrf = [csrf_of(s, thread_url) for s in sessions]
    acknowledged: list[str] = []
    failures: list[tuple[float, str]] = []
    requests_done = [0]
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def learner(i: int) -> None:
        session, n = sessions[i], 0
        while time.monotonic() < deadline:
            n += 1
            try:
                if n % 3 == 0:
                    body = f"failover comment {i}-{n}"
                    response = session.post(
                        cluster.url(f"/t/{public_id}/comments/"),
                        data={"body": body, "csrfmiddlewaretoken": tokens_csrf[i]},
                        headers={"Referer": thread_url}, allow_redirects=False, timeout=10,
                    )  # fmt: skip
                    ok = response.status_code in (302, 303)
                    if ok:
                        with lock:
                            acknowledged.append(body)
                else:
                    token = tokens[n % len(tokens)]
                    response = session.get(cluster.url(f"/img/{token}.png?ww={300 + n}&wc=40"),
                                           timeout=10)  # fmt: skip
                    ok = response.status_code == 200
                outcome = None if ok else str(response.status_code)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with lock:
                requests_done[0] += 1
                if outcome:
                    failures.append((time.monotonic() - start, outcome))

    threads = [threading.Thread(target=learner, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(kill_at)
    cluster.kill("a")
    killed = time.monotonic() - start
    for thread in threads:
        thread.join()
    stored = {body for (body,) in cluster.query(
        "SELECT body FROM cases_comment WHERE body LIKE 'failover comment %%'")}  # fmt: skip
    lost = [body for body in acknowledged if body not in stored]
    last_failure = max((t for t, _ in failures), default=killed) - killed
    kinds = sorted({kind for _, kind in failures})
    return {
        "requests": requests_done[0],
        "failed": len(failures),
        "failure kinds": kinds,
        "failures after the kill until": f"{max(last_failure, 0):.1f} s",
        "comments acknowledged": len(acknowledged),
        "acknowledged comments lost": len(lost),
    }


# --- 4. renders per second ------------------------------------------------------------------


def renders_per_second(cluster: Cluster) -> dict[str, float]:
    (case_id,) = cluster.query("SELECT id FROM cases_case WHERE slug = %s", HEAD_CT)[0]
    tokens = [t for (t,) in cluster.query(
        "SELECT s.token FROM cases_slice s JOIN cases_figure f ON f.id = s.figure_id "
        "WHERE f.case_id = %s AND f.number = 1 ORDER BY s.position", case_id)]  # fmt: skip
    cached = [f"/img/{t}.png" for t in tokens]
    for path in cached * 2:  # into the render store, and every worker's decoded cache
        urllib.request.urlopen(cluster.url(path)).read()
    counter = iter(range(10**9))
    fresh = [f"/img/{t}.png?ww={400 + next(counter)}&wc=40" for _ in range(40) for t in tokens]
    return {
        "cached renders/s": throughput(cluster.port, cached),
        "new-window renders/s": throughput(cluster.port, fresh),
    }


# --- 5. the conference pushed live ----------------------------------------------------------


def conference_pushed(cluster: Cluster) -> None:
    """bench/conference_push.py through the balancer: SSE and polling over both app servers."""
    print("== the conference pushed live, through the balancer", flush=True)
    done = subprocess.run(
        [PYTHON, "bench/conference_push.py", "--through", str(cluster.port), *PUSH_ARGS],
        cwd=ROOT, env=cluster.env | {"DJANGO_SETTINGS_MODULE": "caseviewer.settings"},
    )  # fmt: skip
    if done.returncode:
        print(f"  the push bench failed (exit {done.returncode})")


def bench(rounds: int = 3) -> None:
    """Both clusters up side by side; their render figures measured in turns, best kept."""
    names = {"disk": "the local disk", "s3": "SeaweedFS (S3)"}
    with contextlib.ExitStack() as stack:
        clusters = {}
        for media, redis_url in (("disk", REDIS_URL_SECOND), ("s3", REDIS_URL)):
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix=f"caseviewer-cluster-{media}-")))  # fmt: skip
            clusters[media] = Cluster(scratch, media=media, redis_url=redis_url)
            stack.callback(clusters[media].stop)
            print(f"starting two app servers with media on {names[media]}", flush=True)
            clusters[media].start()
        best: dict[str, dict[str, float]] = {"disk": {}, "s3": {}}
        for turn in range(rounds):
            for media, cluster in clusters.items():
                figures = renders_per_second(cluster)
                shown = ", ".join(f"{name} {value:.0f}" for name, value in figures.items())
                print(f"  turn {turn + 1}, media on {names[media]}: {shown}", flush=True)
                for name, value in figures.items():
                    best[media][name] = max(best[media].get(name, 0), value)
        print("== renders through the balancer, SeaweedFS against local disk (best of turns)")
        for name in best["disk"]:
            ratio = best["s3"][name] / best["disk"][name]
            print(f"  {name}: {best['s3'][name]:.0f} vs {best['disk'][name]:.0f} = {ratio:.0%}")
        cluster = clusters["s3"]
        print("== across the two app servers (media on SeaweedFS)")
        print("  upload:", upload_on_a_renders_on_b(cluster))
        print("  unpublish:", unpublish_on_a_stops_b(cluster))
        conference_pushed(cluster)
        print("== across the two app servers (media on SeaweedFS), continued")
        print("  failover (A SIGKILLed under load):")
        for name, value in failover(cluster).items():
            print(f"    {name}: {value}")


def serve(port: int, media: str) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="caseviewer-cluster-"))
    cluster = Cluster(scratch, media=media, port=port)
    try:
        cluster.start()
        a, b = cluster.ports["a"], cluster.ports["b"]
        print(f"Serving on {cluster.url('/')} through HAProxy, app servers on ports {a} and {b}")
        print(f"Logs in {scratch}. Ctrl-C stops.")
        print(f"Accounts: {ADMIN[0]} / {ADMIN[1]}, {LEARNER[0]} / {LEARNER[1]}")
        for stop in (signal.SIGINT, signal.SIGTERM):
            # Not ignored (as a shell's background job ignores SIGINT), so sigwait hears it.
            signal.signal(stop, lambda *_: None)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="start the cluster and serve")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--media", choices=("s3", "disk"), default="s3")
    options = parser.parse_args()
    if options.serve:
        serve(options.port, options.media)
    else:
        bench()
