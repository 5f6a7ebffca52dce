"""Viewer speed, printed as figures (not a timed test). Run: .venv/bin/python bench/viewer.py

Everything runs in one go on scratch data (a temporary SQLite database and media folder with
the demo head CT imported), so the figures compare like with like on this machine:

1. in-process render latency of one 512x512 CT slice: fully cold (read + decode + window +
   encode), decoded-warm, from the render store, and a 2x zoomed crop;
2. the query count per image request (200 from the store, 304, uncached);
3. through gunicorn (``--workers`` = cores) with one load generator: cached renders, the
   same bytes as a static file served by whitenoise (the ceiling), 304 answers, uncached
   renders cycling through all 28 slices with a new window each time (no render store hit),
   sequential scrolls of the 28 slices at a window never rendered (the median of nine, each
   at its own window), and the htmx fragment a scroll step fetches;
4. Orthanc's ``/instances/{id}/rendered`` on the same slice and window, when ``Orthanc`` is
   installed (Debian package ``orthanc``): started here on loopback with a scratch config,
   before gunicorn, so that each JPEG scroll pass of ours alternates with Orthanc's.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CT_ZIP = ROOT / "cases" / "demo" / "dicom" / "ct-head-ge.zip"
DURATION = float(os.environ.get("BENCH_SECONDS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
SCROLL_PASSES = 9


# --- a small HTTP load generator (the same for every target, so ratios are fair) ---------


def _request(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        chunks = []
        while data := sock.recv(262144):
            chunks.append(data)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _client(args) -> tuple[int, list[int]]:
    port, paths, headers, deadline, offset = args
    done, statuses = 0, []
    i = offset
    while time.time() < deadline:
        status, _ = _request(port, paths[i % len(paths)], headers)
        statuses.append(status)
        done += 1
        i += CLIENTS
    return done, sorted(set(statuses))


def throughput(port: int, paths: list[str], headers: dict[str, str] | None = None) -> float:
    """Requests per second with CLIENTS concurrent connections for DURATION seconds."""
    _request(port, paths[0], headers)  # warm
    deadline = time.time() + DURATION
    with multiprocessing.Pool(CLIENTS) as pool:
        results = pool.map(_client, [(port, paths, headers, deadline, i) for i in range(CLIENTS)])
    statuses = sorted({s for _, ss in results for s in ss})
    if any(s >= 400 for s in statuses):
        raise RuntimeError(f"bad statuses {statuses} for {paths[0]}")
    return sum(n for n, _ in results) / DURATION


def sequential_ms(port: int, paths: list[str], headers: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    for path in paths:
        _request(port, path, headers)
    return (time.perf_counter() - start) * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 20) -> None:
    start = time.time()
    while time.time() - start < timeout:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


# --- set-up ---------------------------------------------------------------------------------


def setup(scratch: Path) -> dict:
    """Migrate a scratch database, import the head CT, and return what the bench needs."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cases.importers.dicom import dicom_import
    from cases.models import Case

    case = Case.objects.create(slug="bench-ct", title="Bench CT", status=Case.Status.PUBLISHED)
    dicom_import(case=case, source=CT_ZIP)
    figure = case.figures.get()
    return {"case": case, "figure": figure, "slices": list(figure.slices.all())}


def in_process(data: dict) -> None:
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext

    from cases.imaging import render
    from cases.imaging.params import RenderParams

    slices = data["slices"]
    middle = slices[14]

    def timed(fn, repeat: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    def uncached(image, fmt="png", zoom=1.0, decode_cold=False, counter=[0]):  # noqa: B006
        counter[0] += 1
        if decode_cold:
            render.slice_decode.cache_clear()
        # A window never asked before, so the render store cannot help.
        params = RenderParams(image.token, window_width=80, window_center=40 + counter[0] * 1e-3,
                              zoom=zoom, cx=0.4, cy=0.45, fmt=fmt)  # fmt: skip
        return render.slice_render(image, params)

    print("\n1. In-process render of one 512x512 CT slice (median ms)")
    for fmt in ("png", "jpeg"):
        cold = timed(lambda f=fmt: uncached(middle, f, decode_cold=True), 15)
        warm = timed(lambda f=fmt: uncached(middle, f), 40)
        zoomed = timed(lambda f=fmt: uncached(middle, f, zoom=2.0), 40)
        params = RenderParams(middle.token, window_width=80, window_center=40, fmt=fmt)
        render.slice_render(middle, params)
        stored = timed(lambda p=params: render.slice_render(middle, p), 200)
        print(f"   {fmt:4}  cold (read+decode) {cold:6.2f}   decoded-warm {warm:6.2f}   "
              f"2x zoom crop {zoomed:6.2f}   from the render store {stored:6.3f}")  # fmt: skip

    client = Client()
    url = RenderParams(middle.token, window_width=80, window_center=40).url()
    first = client.get(url)
    client.get(url)  # rendered again: stored
    with CaptureQueriesContext(connection) as q200:
        client.get(url)
    with CaptureQueriesContext(connection) as q304:
        status = client.get(url, headers={"If-None-Match": first["ETag"]}).status_code
    with CaptureQueriesContext(connection) as quncached:
        client.get(RenderParams(slices[15].token, window_width=81, window_center=40).url())
    print("\n2. Database queries per image request")
    print(f"   200 from the store: {len(q200)}   304 ({status}): {len(q304)}   uncached render: "
          f"{len(quncached)}")  # fmt: skip
    from cases.imaging.views import published_image

    # The image middleware's answer from the render store: the published check is most of it.
    request = RequestFactory().get(url)
    published = timed(lambda: published_image(request, middle.token, "png"), 2000)
    print(f"   a stored render through the image middleware: {published * 1000:.0f} µs "
          f"(median, {connection.vendor})")  # fmt: skip

    figure_url = f"/cases/{data['case'].slug}/figures/1/"
    htmx = {"HX-Request": "true"}
    times = []
    for number in range(1, 29):
        start = time.perf_counter()
        client.get(f"{figure_url}?slice={number}&ww=80&wc=40", headers=htmx)
        times.append(time.perf_counter() - start)
    print(f"   scroll step fragment (test client): median {statistics.median(times) * 1000:.2f} ms")


def gunicorn_start(env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen(
        # The app's own gunicorn settings (gunicorn would read ./gunicorn.conf.py anyway).
        [sys.executable, "-m", "gunicorn", "caseviewer.wsgi:application", "--config",
         str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", "--workers",
         str(WORKERS), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/")
    return server, port


def gunicorn_stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(10)


def gunicorn_runs(env: dict, data: dict, static_root: Path, orthanc: dict | None) -> dict:
    from cases.imaging.params import RenderParams

    slices = data["slices"]
    middle = slices[14]
    server, port = gunicorn_start(env)
    results: dict[str, float] = {}
    try:
        for fmt in ("jpeg", "png"):
            url = RenderParams(middle.token, window_width=80, window_center=40, fmt=fmt).url()
            status, body = _request(port, url)
            static_name = f"bench/slice.{'jpg' if fmt == 'jpeg' else 'png'}"
            (static_root / static_name).parent.mkdir(parents=True, exist_ok=True)
            (static_root / static_name).write_bytes(body)
        # whitenoise indexes STATIC_ROOT at start-up: restart the workers to see the files.
        os.killpg(server.pid, signal.SIGHUP)
        time.sleep(2)
        wait_for(f"http://127.0.0.1:{port}/static/bench/slice.jpg")
        for fmt, ext in (("jpeg", "jpg"), ("png", "png")):
            url = RenderParams(middle.token, window_width=80, window_center=40, fmt=fmt).url()
            results[f"cached {fmt}"] = throughput(port, [url])
            results[f"static {fmt}"] = throughput(port, [f"/static/bench/slice.{ext}"])
            status, _ = _request(port, url)
            etag = urllib.request.urlopen(f"http://127.0.0.1:{port}{url}").headers["ETag"]
            results[f"304 {fmt}"] = throughput(port, [url], {"If-None-Match": etag})
            # Uncached: every request a slice and window never rendered before, and a window
            # a reader would use (width 60-100, centre 20-70 HU: a brain window being
            # adjusted), so the images are as costly to encode as real ones. Steps of 0.1 HU
            # print distinctly (URLs carry six significant digits).
            cycle = [
                RenderParams(slices[i % 28].token, window_width=60 + (i % 400) / 10,
                             window_center=20 + (i // 400) / 10, fmt=fmt).url()
                for i in range(200_000)
            ]  # fmt: skip
            assert len(set(cycle)) == len(cycle), "uncached URLs must not repeat"
            results[f"uncached {fmt}"] = throughput(port, cycle)
            # The median of SCROLL_PASSES scrolls, each at a window never rendered before; a
            # JPEG pass alternates with the same pass from Orthanc, so that a slow spell of
            # the machine falls on both alike.
            passes = [
                [RenderParams(s.token, window_width=81 + p, window_center=41 + (fmt == "png"),
                              fmt=fmt).url() for s in slices]
                for p in range(SCROLL_PASSES)
            ]  # fmt: skip
            ours, theirs = [], []
            for number, scroll in enumerate(passes):
                ours.append(sequential_ms(port, scroll))
                if fmt == "jpeg" and orthanc and "error" not in orthanc:
                    theirs.append(orthanc_scroll_ms(orthanc, number))
            results[f"scroll ms {fmt}"] = statistics.median(ours)
            if theirs:
                results["orthanc scroll ms"] = statistics.median(theirs)
            scroll = passes[0]
            # A worker stores a rendering the second time it renders it: after WORKERS + 1
            # passes every slice has been stored, so the next pass reads the render store.
            for _ in range(WORKERS):
                sequential_ms(port, scroll)
            results[f"scroll again ms {fmt}"] = sequential_ms(port, scroll)
        fragment = [f"/cases/bench-ct/figures/1/?slice={i % 28 + 1}&ww=80&wc=40" for i in range(28)]
        results["fragment"] = throughput(port, fragment, {"HX-Request": "true"})
    finally:
        gunicorn_stop(server)
    return results


ORTHANC_JPEG = {"Accept": "image/jpeg"}
WEB_VIEWER_PLUGIN = "/usr/share/orthanc/plugins/libOrthancWebViewer.so"


def orthanc_start(scratch: Path, *, web_viewer: bool = False) -> dict | None:
    """Orthanc on loopback with the same (original) files, in the stack's order, or None.

    With ``web_viewer``, the Orthanc Web Viewer plugin too (Debian's ``orthanc-webviewer``),
    its cache in the scratch folder so that nothing from an earlier run is reused; None
    when the plugin is not installed.
    """
    binary = shutil.which("Orthanc")
    if not binary or (web_viewer and not Path(WEB_VIEWER_PLUGIN).exists()):
        return None
    from cases.imaging.ingest import dicom_series_read

    port = free_port()
    folder = scratch / "orthanc"
    folder.mkdir()
    config = {
        "Name": "bench", "StorageDirectory": str(folder), "IndexDirectory": str(folder),
        "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "Plugins": [], "HttpCompressionEnabled": False,
        "StorageCompression": False, "HttpThreadsCount": 50,
    }  # fmt: skip
    if web_viewer:
        config["Plugins"] = [WEB_VIEWER_PLUGIN]
        config["WebViewer"] = {"CachePath": str(folder / "web-viewer-cache")}
    (folder / "config.json").write_text(json.dumps(config))
    server = subprocess.Popen([binary, str(folder / "config.json")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    orthanc = {"server": server, "port": port, "ids": []}
    wait_for(f"http://127.0.0.1:{port}/system")
    for _name, ds in dicom_series_read(CT_ZIP):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/instances", data=buffer.getvalue(), method="POST"
        )
        orthanc["ids"].append(json.loads(urllib.request.urlopen(request).read())["ID"])
    orthanc["series"] = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/series").read())
    middle = f"/instances/{orthanc['ids'][14]}/rendered?window-center=40&window-width=80"
    status, body = _request(port, middle, ORTHANC_JPEG)
    if status != 200 or not body.startswith(b"\xff\xd8"):
        orthanc["error"] = f"rendered answered {status}"
    return orthanc


def orthanc_stop(orthanc: dict | None) -> None:
    if orthanc:
        os.killpg(orthanc["server"].pid, signal.SIGTERM)
        orthanc["server"].wait(10)


def orthanc_scroll_ms(orthanc: dict, number: int) -> float:
    """Scroll pass ``number``, as ours: Orthanc keeps no renderings, every pass is uncached."""
    paths = [f"/instances/{i}/rendered?window-center=40&window-width={81 + number}"
             for i in orthanc["ids"]]  # fmt: skip
    return sequential_ms(orthanc["port"], paths, ORTHANC_JPEG)


def orthanc_runs(orthanc: dict) -> dict:
    port, ids = orthanc["port"], orthanc["ids"]
    query = "?window-center=40&window-width=80"
    middle = f"/instances/{ids[14]}/rendered{query}"
    every = [f"/instances/{i}/rendered{query}" for i in ids]
    return {
        "same slice": throughput(port, [middle], ORTHANC_JPEG),
        "cycling": throughput(port, every, ORTHANC_JPEG),
        "scroll again ms": sequential_ms(port, every, ORTHANC_JPEG),
    }


def scratch_environment(prefix: str) -> tuple[Path, Path, dict[str, str]]:
    """A scratch folder, its static root, and this process's environment pointed at them.

    SQLite and media in the folder, no Redis: every viewer bench measures the same setup.
    """
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    static_root = scratch / "static"
    static_root.mkdir()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(static_root),
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "DEBUG": "false",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    return scratch, static_root, env


def main() -> None:
    scratch, static_root, env = scratch_environment("caseviewer-bench-")
    sys.path.insert(0, str(ROOT))
    try:
        print(f"CaseViewer viewer bench · {os.cpu_count()} cores · gunicorn {WORKERS} workers · "
              f"{CLIENTS} clients · {DURATION:g} s per figure")  # fmt: skip
        data = setup(scratch)
        in_process(data)
        orthanc = None
        try:
            orthanc = orthanc_start(scratch)
            web = gunicorn_runs(env, data, static_root, orthanc)
            if orthanc and "error" not in orthanc:
                orthanc |= orthanc_runs(orthanc) | {"scroll ms": web["orthanc scroll ms"]}
        finally:
            orthanc_stop(orthanc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n3. Through gunicorn (requests per second)")
    for fmt in ("jpeg", "png"):
        cached, static = web[f"cached {fmt}"], web[f"static {fmt}"]
        print(f"   {fmt:4}  cached {cached:7.0f}   static ceiling {static:7.0f} "
              f"(cached/static {cached / static:4.0%}, target ≥ 80%)   304 {web[f'304 {fmt}']:7.0f}"
              f"   uncached {web[f'uncached {fmt}']:6.0f}")  # fmt: skip
        print(f"         scroll of 28 slices, uncached {web[f'scroll ms {fmt}']:6.1f} ms, "
              f"from the render store {web[f'scroll again ms {fmt}']:6.1f} ms")  # fmt: skip
    print(f"   htmx scroll-step fragment: {web['fragment']:.0f} per second")
    print("\n4. Orthanc /instances/{id}/rendered, JPEG, same window")
    if orthanc is None:
        print("   Orthanc is not installed (apt-get install orthanc): skipped")
    elif "error" in orthanc:
        print(f"   {orthanc['error']}")
    else:
        print(f"   same slice {orthanc['same slice']:6.0f}/s   cycling 28 slices "
              f"{orthanc['cycling']:6.0f}/s   scroll of 28 {orthanc['scroll ms']:6.1f} ms "
              f"(again {orthanc['scroll again ms']:6.1f} ms)")  # fmt: skip
        ratio = web["uncached jpeg"] / orthanc["cycling"]
        print(f"   uncached JPEG renders vs Orthanc cycling: {ratio:.2f}x (target ≥ 1.5x)")
        scroll = orthanc["scroll ms"] / web["scroll ms jpeg"]
        print(f"   uncached 28-slice scroll, Orthanc time / ours: {scroll:.2f}x (target ≥ 1x)")


if __name__ == "__main__":
    main()
