"""The viewer in a real browser, printed as figures (not a timed test).

Run: .venv/bin/python bench/viewer_browser.py (or ``make bench-viewer-browser``). Chromium
(the system's /usr/bin/chromium, through Playwright) opens the demo head CT's figure page at
1440x900 from gunicorn on a scratch database, and measures what a reader feels:

1. navigation to the first slice drawn at the size of its box, and the bytes it took: the
   median of FIRST_RUNS cold navigations (a new browser context each), ours and Orthanc's in
   turn, each on the page's own clock from navigation start;
2. one slice step once the stack is held (key to the first frame with the new slice in the
   image, as cornerstone's render event is fired in the frame it draws);
3. a burst of 27 key steps at 60 per second: distinct slices drawn and the lag after the
   last key; then the same right after a window never rendered before (stack not held yet);
4. a preset change (click to the new window drawn), and renders per second of a window drag.

The same figures for the Orthanc Web Viewer (Debian's ``orthanc-webviewer``, cornerstone in
the browser, windowing on the client), started on loopback with a scratch configuration and
the same 28 files, opened in the same Chromium at the same size in the same run. "Drawn" is
cornerstone's ``CornerstoneImageRendered`` event (fired in the frame it paints); its keys are
those of its slice slider (the only keyboard stepping it has). Without the plugin (``make
orthanc``) only ours are printed.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.viewer import (  # noqa: E402
    gunicorn_start,
    gunicorn_stop,
    orthanc_start,
    orthanc_stop,
    scratch_environment,
    setup,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic"]  # fmt: skip
IMAGE = "#viewer-1 img.viewer-image"
PRESET_TURNS = 3  # each viewer's preset change: the median of two presets three times each
# Cold navigations per viewer and start page for the first-slice figures: each of ours opens
# one of the 28 slices at a window of its own.
FIRST_RUNS = 14

# Ours "drawn", recorded by the page itself (as Orthanc's render event is): the viewer's image
# loaded at the size its box needs ("ready": it goes into the next frame), and the frame that
# showed it (its largest-contentful-paint entry: "on screen"). Playwright's own polling is not
# in these figures; it is in the wall clock, for both viewers.
OURS_FIRST_INIT = """
window.__ready = null;
document.addEventListener('load', (event) => {
    const img = event.target;
    if (window.__ready || !img.matches || !img.matches('#viewer-1 img.viewer-image')) return;
    const box = img.getBoundingClientRect();
    const need = Math.min(box.width, box.height) * devicePixelRatio;
    const size = Number(new URL(img.currentSrc).searchParams.get('size') || 512);
    if (size >= need - 1) window.__ready = {t: performance.now(), src: img.currentSrc, size};
}, true);
"""

# The frame that shows a new picture: the first animation frame in which the image holds
# it, complete. Cornerstone's render event is fired in such a callback too (it draws in
# requestAnimationFrame), so both viewers are timed at the frame that paints.
FRAME_JS = """const frameShowing = (ok) => new Promise((resolve) => {
    const tick = () => (ok() ? resolve(performance.now()) : requestAnimationFrame(tick));
    requestAnimationFrame(tick);
});"""

STEP_JS = (
    "async () => {\n"
    + FRAME_JS
    + """
    const viewer = document.querySelector('#viewer-1');
    const image = () => viewer.querySelector('img.viewer-image');
    const before = image().src;
    const t0 = performance.now();
    viewer.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true}));
    const t = await frameShowing(() => {
        const i = image();
        return i.src !== before && i.complete && i.naturalWidth;
    });
    return t - t0;
}"""
)

BURST_JS = """async (n) => {
    const viewer = document.querySelector('#viewer-1');
    const seen = new Set();
    let running = true, last = 0, lastKey = 0;
    const want = () => viewer.querySelector('#viewer-1-stage').dataset.count;
    const sample = () => {
        const img = viewer.querySelector('img.viewer-image');
        if (img.complete && img.naturalWidth) {
            const src = img.currentSrc || img.src;
            if (!seen.has(src)) { seen.add(src); last = performance.now(); }
        }
        if (running) requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
    for (let i = 0; i < n; i++) {
        viewer.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true}));
        lastKey = performance.now();
        await new Promise(r => setTimeout(r, 1000 / 60));
    }
    const img = () => viewer.querySelector('img.viewer-image');
    const end = performance.now() + 3000;
    while (performance.now() < end) {
        const i = img();
        if (i.complete && new URL(i.currentSrc || i.src).pathname === new URL(
            viewer.querySelector('#viewer-1-stage').dataset.stack.split(' ')[n], location.href
        ).pathname) break;
        await new Promise(r => requestAnimationFrame(() => r()));
    }
    await new Promise(r => requestAnimationFrame(() => r()));
    running = false;
    return {distinct: seen.size - 1, lag: last - lastKey};
}"""


def stack_held(page) -> None:
    page.wait_for_function(
        """() => {
            const img = document.querySelector('#viewer-1 img.viewer-image');
            const size = new URL(img.currentSrc || img.src).searchParams.get('size');
            const seen = new Set(performance.getEntriesByType('resource').map(e => e.name));
            return document.querySelector('#viewer-1-stage').dataset.stack.split(' ').every(u => {
                const x = new URL(u, location.href);
                if (size) x.searchParams.set('size', size);
                return seen.has(x.href);
            });
        }""",
        timeout=30_000,
    )


# Bytes on the wire from navigation to the time `t` (performance.now()), page and all.
BYTES_UNTIL_JS = """(t) => [...performance.getEntriesByType('navigation'),
    ...performance.getEntriesByType('resource')].filter(e => e.responseEnd <= t + 1)
    .reduce((a, e) => a + e.transferSize, 0)"""

PRESET_JS = (
    "async ([label, ww]) => {\n"
    + FRAME_JS
    + """
    const viewer = document.querySelector('#viewer-1');
    const link = [...viewer.querySelectorAll('a')]
        .find(a => a.textContent.trim().startsWith(label));
    const t0 = performance.now();
    link.click();
    const t = await frameShowing(() => {
        const i = viewer.querySelector('img.viewer-image');
        const src = i.currentSrc || i.src;
        return src.includes(`ww=${ww}&`) && i.complete && i.naturalWidth;
    });
    return t - t0;
}"""
)


def trace(*what) -> None:
    print(f"  {time.strftime('%H:%M:%S')}", *what, file=sys.stderr, flush=True)


def warm(base: str) -> None:
    """A worker's first request imports and opens what later ones reuse: warm each on the
    page and the image of other slices, outside the browser (a page there would load its
    stack, still rendering when a measured page starts)."""
    for number in (28, 27, 26):
        html = urllib.request.urlopen(f"{base}/cases/bench-ct/figures/1/?slice={number}").read()
        src = re.search(rb'class="viewer-image" src="([^"]+)"', html).group(1).decode()
        urllib.request.urlopen(base + src.replace("&amp;", "&")).read()


class ElsewhereHandler(http.server.BaseHTTPRequestHandler):
    """A page of another site, where a cold navigation starts (see ``elsewhere_start``)."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>Elsewhere</title><p>A link to a viewer.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def elsewhere_start() -> tuple[http.server.HTTPServer, str]:
    """A reader opens a viewer from another site's page (webmail, the hospital's intranet), in
    a new renderer process, whatever the viewer. From Playwright's blank first page instead,
    Chromium keeps that page's process for a site that sends no Cross-Origin-Opener-Policy
    (Orthanc) but not for one that does (ours, Django's default ``same-origin``): about 40 ms
    that only a blank tab shows. "localhost" is another site than "127.0.0.1"."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ElsewhereHandler)
    server.handle_error = lambda request, address: None  # a browser that hung up early
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://localhost:{server.server_port}/"


def first_slice(browser, base: str, number: int, start: str | None) -> dict:
    """One cold navigation to the figure at a slice, at a window no one has opened (nothing
    rendered: the earlier runs' stacks were held at other windows), from the page ``start``
    (None: Playwright's blank page)."""
    out: dict = {}
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    context.add_init_script(OURS_FIRST_INIT)
    page = context.new_page()
    if start:
        page.goto(start)
    started = time.perf_counter()
    url = f"{base}/cases/bench-ct/figures/1/?slice={number}&ww={300 + number}&wc=40"
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.__ready", polling=5)
    out["wall"] = (time.perf_counter() - started) * 1000
    ready = page.evaluate("window.__ready")
    out["ready"], out["size"] = ready["t"], ready["size"]
    out["painted"] = page.evaluate(
        """(src) => new Promise((resolve) => {
            new PerformanceObserver((list) => {
                const hit = list.getEntries().find((e) => e.url === src);
                if (hit) resolve(hit.renderTime || hit.startTime);
            }).observe({type: 'largest-contentful-paint', buffered: true});
            setTimeout(() => resolve(null), 5000);  // never painted as the largest: no figure
        })""",
        ready["src"],
    )
    out["KB"] = page.evaluate(BYTES_UNTIL_JS, ready["t"]) / 1024
    # One image round trip for the slice shown, not a small one then the box's size.
    out["images"] = page.evaluate(
        """(src) => performance.getEntriesByType('resource')
            .filter(e => new URL(e.name).pathname === new URL(src).pathname).length""",
        ready["src"],
    )
    out["timeline"] = page.evaluate(
        """(drawn) => {
            const nav = performance.getEntriesByType('navigation')[0];
            const rows = [['page', nav.requestStart, nav.responseEnd]];
            for (const e of performance.getEntriesByType('resource')) {
                const name = new URL(e.name).pathname.split('/').slice(-2).join('/');
                if (e.startTime < drawn) rows.push([name, e.startTime, e.responseEnd]);
            }
            for (const e of performance.getEntriesByType('paint')) {
                rows.push([e.name, e.startTime, e.startTime]);
            }
            const dcl = nav.domContentLoadedEventEnd;
            rows.push(['DOMContentLoaded', dcl, dcl]);
            rows.push(['ready', drawn, drawn]);
            return rows.map(([n, a, b]) => `${n} ${a.toFixed(0)}-${b.toFixed(0)}`).join(', ');
        }""",
        ready["t"],
    )
    context.close()
    return out


def measure(browser, base: str) -> dict:
    from playwright.sync_api import expect

    out: dict = {}
    # The waits poll with eval, which the site's CSP refuses: not what is measured here.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/cases/bench-ct/figures/1/?slice=1")
    page.focus("#viewer-1")
    stack_held(page)
    steps = [page.evaluate(STEP_JS) for _ in range(20)]
    out["step median"] = statistics.median(steps)
    out["step p90"] = statistics.quantiles(steps, n=10)[-1]
    page.keyboard.press("Home")
    expect(page).to_have_url(re.compile(r"slice=1&"))
    page.wait_for_timeout(400)
    out["burst"] = page.evaluate(BURST_JS, 27)
    trace("burst", out["burst"])

    # A window never rendered: typed, so no render store holds it.
    page.wait_for_timeout(400)
    page.keyboard.press("Home")
    expect(page).to_have_url(re.compile(r"slice=1&"))
    # The catch-up fragment for slice 1 swaps the form: type into the one it brings.
    page.wait_for_function(
        """() => document.querySelector('#viewer-1-stage').dataset.slice === '1'
                 && !document.querySelector('.htmx-request')"""
    )
    page.wait_for_timeout(300)
    page.get_by_label("Window width").fill("123")
    page.get_by_label("Window centre").fill("37")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"ww=123"))
    out["burst new window"] = page.evaluate(BURST_JS, 27)
    trace("burst new window", out["burst new window"])

    page.wait_for_timeout(1000)
    # Presets in turn, each once the last one's stack (and presets) are held.
    presets = []
    for label, ww in [("Bone", 2500), ("Brain", 80)] * PRESET_TURNS:
        presets.append(page.evaluate(PRESET_JS, [label, ww]))
        page.wait_for_timeout(3000)
    out["preset ms"] = statistics.median(presets)
    trace("preset ms", out["preset ms"])

    page.evaluate(
        """() => { window.__renders = 0; new MutationObserver(() => window.__renders++)
            .observe(document.querySelector('#viewer-1'),
                     {subtree: true, attributes: true, attributeFilter: ['src']}); }"""
    )
    box = page.locator(IMAGE).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    started = time.perf_counter()
    for i in range(120):
        page.mouse.move(x + i * 2, y + i)
        page.wait_for_timeout(1000 / 60)
    seconds = time.perf_counter() - started
    out["drag renders/s"] = page.evaluate("window.__renders") / seconds
    page.mouse.up(button="right")
    context.close()
    return out


# --- the Orthanc Web Viewer -------------------------------------------------------------------

# Every rendering cornerstone paints, with its slice, from before the viewer's own script runs.
ORTHANC_INIT_JS = """
window.__drawn = [];
window.__waiters = [];
document.addEventListener('DOMContentLoaded', () => {
    if (!window.jQuery) return;
    jQuery('#dicomImage').on('CornerstoneImageRendered', (e, d) => {
        window.__drawn.push({t: performance.now(), id: d.image.imageId,
                             px: Math.round(d.image.rows * d.viewport.scale * devicePixelRatio)});
        for (const w of window.__waiters.splice(0)) w();
    });
});
window.__nextDraw = () => new Promise((r, no) => {
    window.__waiters.push(r);
    setTimeout(() => no(new Error('nothing drawn in 10 s')), 10000);
});
"""

# The slider's own keys (jQuery UI reads keyCode): 39 next, 36 first.
ORTHANC_KEY_JS = """(code) => jQuery('#slider .ui-slider-handle')
    .trigger(jQuery.Event('keydown', {keyCode: code, which: code}))"""

ORTHANC_STEP_JS = """async () => {
    const next = window.__nextDraw();
    const t0 = performance.now();
    jQuery('#slider .ui-slider-handle').trigger(jQuery.Event('keydown', {keyCode: 39, which: 39}));
    await next;
    return window.__drawn[window.__drawn.length - 1].t - t0;
}"""

ORTHANC_BURST_JS = """async ([n, slices]) => {
    const from = window.__drawn.length;
    const handle = jQuery('#slider .ui-slider-handle');
    const target = slices[jQuery('#slider').slider('value') + n];
    let lastKey = 0;
    for (let i = 0; i < n; i++) {
        handle.trigger(jQuery.Event('keydown', {keyCode: 39, which: 39}));
        lastKey = performance.now();
        await new Promise(r => setTimeout(r, 1000 / 60));
    }
    const end = performance.now() + 3000;
    while (performance.now() < end && !window.__drawn.slice(from).some(d => d.id === target)) {
        await new Promise(r => requestAnimationFrame(() => r()));
    }
    const seen = new Map();
    for (const d of window.__drawn.slice(from)) if (!seen.has(d.id)) seen.set(d.id, d.t);
    return {distinct: seen.size, lag: Math.max(...seen.values()) - lastKey};
}"""

ORTHANC_PRESET_JS = """async (title) => {
    const button = jQuery(`.jsPanel .toolbar-windowing button[title=${title}]`);
    const next = window.__nextDraw();
    const t0 = performance.now();
    button.click();
    await next;
    return window.__drawn[window.__drawn.length - 1].t - t0;
}"""


def orthanc_warm(base: str, series: str) -> list[str]:
    """Its server-side cache warmed as ours is: one request on another slice."""
    slices = json.loads(urllib.request.urlopen(f"{base}/web-viewer/series/{series}").read())
    slices = slices["Slices"]
    urllib.request.urlopen(f"{base}/web-viewer/instances/jpeg95-{slices[-1]}").read()
    return slices


def orthanc_first_slice(browser, base: str, series: str, start: str | None) -> dict:
    """One cold navigation to its viewer (it opens on the first slice; after the first run its
    own cache holds that slice, which only helps it)."""
    out: dict = {}
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(ORTHANC_INIT_JS)
    page = context.new_page()
    if start:
        page.goto(start)
    started = time.perf_counter()
    page.goto(f"{base}/web-viewer/app/viewer.html?series={series}", wait_until="commit")
    page.wait_for_function("() => window.__drawn && window.__drawn.length > 0", polling=5)
    out["wall"] = (time.perf_counter() - started) * 1000
    first = page.evaluate("window.__drawn[0]")
    out["size"] = first["px"]
    out["ready"] = first["t"]
    out["KB"] = page.evaluate(BYTES_UNTIL_JS, first["t"]) / 1024
    context.close()
    return out


def measure_orthanc(browser, base: str, series: str) -> dict:
    out: dict = {}
    slices = orthanc_warm(base, series)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(ORTHANC_INIT_JS)
    page = context.new_page()
    page.goto(f"{base}/web-viewer/app/viewer.html?series={series}", wait_until="commit")
    page.wait_for_function("() => window.__drawn && window.__drawn.length > 0", polling=5)
    # Nothing held yet: the burst fetches each slice as its key asks (as the viewer does).
    out["burst new window"] = page.evaluate(ORTHANC_BURST_JS, [27, slices])
    trace("burst new window", out["burst new window"])
    page.wait_for_timeout(400)
    page.evaluate(ORTHANC_KEY_JS, 36)
    page.wait_for_timeout(400)
    steps = [page.evaluate(ORTHANC_STEP_JS) for _ in range(20)]
    out["step median"] = statistics.median(steps)
    out["step p90"] = statistics.quantiles(steps, n=10)[-1]
    page.evaluate(ORTHANC_KEY_JS, 36)
    page.wait_for_timeout(400)
    out["burst"] = page.evaluate(ORTHANC_BURST_JS, [27, slices])
    trace("burst", out["burst"])
    page.wait_for_timeout(400)
    presets = []
    for title in ["Bone", "Lung"] * PRESET_TURNS:
        presets.append(page.evaluate(ORTHANC_PRESET_JS, title))
        page.wait_for_timeout(300)
    out["preset ms"] = statistics.median(presets)
    trace("preset ms", out["preset ms"])

    # Its left button windows.
    page.evaluate("window.__from = window.__drawn.length")
    box = page.locator("#dicomImage canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    started = time.perf_counter()
    for i in range(120):
        page.mouse.move(x + i * 2, y + i)
        page.wait_for_timeout(1000 / 60)
    seconds = time.perf_counter() - started
    out["drag renders/s"] = page.evaluate("window.__drawn.length - window.__from") / seconds
    page.mouse.up()
    context.close()
    return out


def main() -> None:
    from playwright.sync_api import sync_playwright

    scratch, _static_root, env = scratch_environment("caseviewer-bench-browser-")
    env["REQUEST_LOG_LEVEL"] = "WARNING"
    server = orthanc = None
    try:
        setup(scratch)
        from django.core.management import call_command

        call_command("collectstatic", "--noinput", verbosity=0)
        orthanc = orthanc_start(scratch, web_viewer=True)
        server, port = gunicorn_start(env)
        base = f"http://127.0.0.1:{port}"
        elsewhere_server, elsewhere = elsewhere_start()
        theirs_base = series = None
        if orthanc and "error" not in orthanc:
            theirs_base, series = f"http://127.0.0.1:{orthanc['port']}", orthanc["series"][0]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # One page of each first: the browser's own start-up is in neither's figures.
            warm(base)
            context = browser.new_context()
            context.new_page().goto(f"{base}/")
            if theirs_base:
                orthanc_warm(theirs_base, series)
                context.new_page().goto(f"{theirs_base}/app/explorer.html")
            context.close()
            # Cold navigations in turn, so a busy moment of the machine falls on both: from
            # another site's page, then from a blank tab.
            firsts: dict = {"elsewhere": [], "blank": []}
            orthanc_firsts: dict = {"elsewhere": [], "blank": []}
            for run in range(2 * FIRST_RUNS):
                start = elsewhere if run < FIRST_RUNS else None
                key = "elsewhere" if start else "blank"
                firsts[key].append(first_slice(browser, base, run + 1, start))
                trace("first timeline", key, firsts[key][-1]["timeline"])
                if theirs_base:
                    orthanc_firsts[key].append(
                        orthanc_first_slice(browser, theirs_base, series, start)
                    )
            ours = measure(browser, base) | {"first": firsts}
            theirs = None
            if theirs_base:
                theirs = measure_orthanc(browser, theirs_base, series) | {"first": orthanc_firsts}
            browser.close()
        elsewhere_server.shutdown()
    finally:
        if server:
            gunicorn_stop(server)
        orthanc_stop(orthanc)
        shutil.rmtree(scratch, ignore_errors=True)
    report(ours, theirs)


def report(f: dict, o: dict | None) -> None:
    def ratio(ours: float, theirs: float, label: str = "ours/Orthanc") -> str:
        return f"  {label} {ours / theirs:.2f}" if o and theirs else ""

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows if row[key] is not None)

    def spread(rows: list[dict], key: str) -> str:
        values = [row[key] for row in rows if row[key] is not None]
        return f"{statistics.median(values):4.0f} ms ({min(values):.0f}-{max(values):.0f})"

    print("Viewer in Chromium, demo head CT, 1440x900: ours, then the Orthanc Web Viewer")
    print(f"  first slice, median of {FIRST_RUNS} cold navigations each, page clock from "
          "navigation start (target: half Orthanc's time, fewer bytes)")  # fmt: skip
    for key, label in (("elsewhere", "from another site's page"), ("blank", "from a blank tab")):
        first = f["first"][key]
        print(f"   {label}")
        print(f"    ready                {spread(first, 'ready')}: the picture loaded at "
              f"{first[0]['size']} px, {median(first, 'KB'):.0f} KB on the wire, "
              f"{first[0]['images']} request(s) for it")  # fmt: skip
        print(f"    on screen            {spread(first, 'painted')}: the frame that showed it")
        print(f"    wall clock           {spread(first, 'wall')}: from Python, with "
              "Playwright's polling")  # fmt: skip
        if o:
            of = o["first"][key]
            print(f"    Orthanc WV ready     {spread(of, 'ready')}: its render event, "
                  f"{of[0]['size']} px, {median(of, 'KB'):.0f} KB on the wire")  # fmt: skip
            print(f"    Orthanc WV wall      {spread(of, 'wall')}")
            print(f"    ours/Orthanc         ready "
                  f"{median(first, 'ready') / median(of, 'ready'):.2f}, on screen vs its render "
                  f"event {median(first, 'painted') / median(of, 'ready'):.2f}, wall "
                  f"{median(first, 'wall') / median(of, 'wall'):.2f}, bytes "
                  f"{median(first, 'KB') / median(of, 'KB'):.2f}")  # fmt: skip
    print(f"  one step, stack held   median {f['step median']:5.1f} ms  p90 {f['step p90']:5.1f} ms"
          f"  (targets 17 / 33)")  # fmt: skip
    if o:
        step = ratio(f["step median"], o["step median"])
        print(f"         Orthanc WV      median {o['step median']:5.1f} ms  "
              f"p90 {o['step p90']:5.1f} ms{step} (median)")  # fmt: skip
    b, n = f["burst"], f["burst new window"]
    print(f"  27 steps at 60/s       {b['distinct']} slices drawn, last {b['lag']:.0f} ms after "
          f"the last key (targets >= 25, <= 100)")  # fmt: skip
    if o:
        print(f"         Orthanc WV      {o['burst']['distinct']} slices drawn, last "
              f"{o['burst']['lag']:.0f} ms after the last key (its slices held)")  # fmt: skip
    print(f"  same, new window       {n['distinct']} slices drawn, last {n['lag']:.0f} ms after "
          f"the last key (target: within 2x of the held case)")  # fmt: skip
    if o:
        print(f"         Orthanc WV      {o['burst new window']['distinct']} slices drawn, last "
              f"{o['burst new window']['lag']:.0f} ms after the last key (nothing held yet; "
              f"it windows on the client)")  # fmt: skip
    print(f"  preset change          {f['preset ms']:6.0f} ms, median of {2 * PRESET_TURNS} "
          f"(target: no later than Orthanc's)")  # fmt: skip
    if o:
        print(f"         Orthanc WV      {o['preset ms']:6.0f} ms"
              f"{ratio(f['preset ms'], o['preset ms'])}")  # fmt: skip
    print(f"  window drag            {f['drag renders/s']:6.1f} renders/s (target >= 20)")
    if o:
        print(f"         Orthanc WV      {o['drag renders/s']:6.1f} renders/s")
    if not o:
        print("  Orthanc Web Viewer not installed (make orthanc): its figures are not measured.")


if __name__ == "__main__":
    main()
