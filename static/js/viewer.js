// The figure viewer's optional niceties. Every control is also a plain link or GET form, and
// htmx swaps the viewer; this adds what a reading workstation gives: the image at the size of
// its box (device pixels), the whole stack held in the browser so a step shows in the next
// frame, cine, tools for the left button (scroll, window, pan, zoom, measure), Ctrl+wheel and
// pinch zoom, touch gestures, OHIF-style keys, full screen and "Link this view". The server
// stays the one renderer: every picture is one of its URLs, and the address bar follows.
(() => {
  "use strict";
  const VIEWER = "[data-viewer]";
  const SIZES = [256, 512, 768, 1024, 1536, 2048]; // cases.imaging.params.RENDER_SIZES
  const STEP_KEYS = { ArrowUp: -1, PageUp: -1, ArrowDown: 1, PageDown: 1 };
  const CLICK_KEYS = { "+": "+", "=": "+", "-": "-", "_": "-", i: "i", I: "i", a: "a", A: "a", " ": " " };
  const TOOL_KEYS = { s: "scroll", w: "window", p: "pan", z: "zoom", x: "point", l: "line", g: "angle", e: "ellipse" };
  const FETCH_AFTER_MS = 150; // the rest of the viewer catches up once stepping pauses
  const ADDRESS_EVERY_MS = 120; // browsers refuse a flood of replaceState calls
  const STACK_PARALLEL = 6;
  const LONG_PRESS_MS = 450;
  const ZOOM_MAX = 8;
  const DRAG_FRAME_MS = 40;
  const states = new WeakMap();
  const held = new Map(); // a stack's slices held in the browser, by the stage's data-stack
  const HELD_STACKS = 4;
  let hovered = null;
  let drag = null;

  // --- the viewer's parts and state ------------------------------------------------------

  function state(viewer) {
    let st = states.get(viewer);
    if (!st) {
      st = { tool: null, shown: null, drawn: null, size: null, stack: null, cine: null, actual: false, m: null };
      states.set(viewer, st);
    }
    return st;
  }
  const stageOf = (viewer) => viewer.querySelector(".viewer-stage");
  const imageOf = (viewer) => viewer.querySelector(".viewer-image");
  const slider = (viewer) => viewer.querySelector("[data-slider]");
  const count = (viewer) => Number(stageOf(viewer).dataset.count) || 1;
  const shown = (viewer) => state(viewer).shown || Number(stageOf(viewer).dataset.slice) || 1;
  const toolOf = (viewer) => state(viewer).tool || (count(viewer) > 1 ? "scroll" : "pan");

  // The view the viewer shows: the server's canonical URL, on the slice shown here.
  function viewUrl(viewer, changes = {}) {
    const stage = stageOf(viewer);
    const url = new URL(stage.dataset.url, location.href);
    if (url.searchParams.has("slice")) url.searchParams.set("slice", shown(viewer));
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === "") url.searchParams.delete(name);
      else url.searchParams.set(name, value);
    }
    return url.pathname + url.search;
  }

  function view(viewer) {
    const query = new URL(stageOf(viewer).dataset.url, location.href).searchParams;
    return {
      zoom: Number(query.get("zoom")) || 1,
      cx: query.has("cx") ? Number(query.get("cx")) : 0.5,
      cy: query.has("cy") ? Number(query.get("cy")) : 0.5,
      m: query.get("m") || "",
    };
  }

  // Ask the server for another view of this viewer (an htmx swap, as a link would).
  function go(viewer, changes) {
    if (!window.htmx) return;
    const source = viewer.querySelector(".viewer-magnify");
    window.htmx.ajax("GET", viewUrl(viewer, changes), { source });
  }

  // Where the picture is drawn inside the <img> box (object-fit: contain).
  function picture(image) {
    const box = image.getBoundingClientRect();
    const stage = image.closest(".viewer-stage");
    const w = Number(stage.dataset.width) || image.naturalWidth || box.width;
    const h = Number(stage.dataset.height) || image.naturalHeight || box.height;
    const scale = Math.min(box.width / w, box.height / h);
    const width = w * scale;
    const height = h * scale;
    return { box, left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2, width, height };
  }

  // A point on the screen in the stored image's pixels (the space of the `m` parameter).
  function sourcePoint(viewer, pic, x, y) {
    const stage = stageOf(viewer);
    const { zoom, cx, cy } = view(viewer);
    const u = Math.min(Math.max((x - pic.left) / pic.width, 0), 1);
    const v = Math.min(Math.max((y - pic.top) / pic.height, 0), 1);
    return [
      Math.round((cx - 0.5 / zoom + u / zoom) * Number(stage.dataset.width) * 10) / 10,
      Math.round((cy - 0.5 / zoom + v / zoom) * Number(stage.dataset.height) * 10) / 10,
    ];
  }

  // --- the size of the picture --------------------------------------------------------

  // The box in device pixels, rounded up to one of the server's steps (so renders are shared).
  function wantedSize(viewer) {
    const st = state(viewer);
    if (st.actual) return 0;
    const stage = stageOf(viewer);
    const image = imageOf(viewer);
    const w = Number(stage.dataset.width);
    const h = Number(stage.dataset.height);
    const box = image.getBoundingClientRect();
    if (!w || !h || !box.width) return null;
    const need = Math.min(box.width / w, box.height / h) * Math.max(w, h) * (window.devicePixelRatio || 1);
    return SIZES.find((size) => size >= need - 1) || SIZES[SIZES.length - 1];
  }

  function withSize(url, size) {
    const parsed = new URL(url, location.href);
    const current = parsed.searchParams.get("size");
    if (size ? current === String(size) : current === null) return url;
    if (size) parsed.searchParams.set("size", size);
    else parsed.searchParams.delete("size");
    return parsed.pathname + parsed.search;
  }

  // Show the picture at the size its box needs, then hold the whole stack at that size.
  function fit(viewer) {
    const st = state(viewer);
    const image = imageOf(viewer);
    const stage = stageOf(viewer);
    if (!image || !stage) return;
    if (st.actual) {
      const ratio = window.devicePixelRatio || 1;
      image.style.width = `${Number(stage.dataset.width) / ratio}px`;
      image.style.height = `${Number(stage.dataset.height) / ratio}px`;
    }
    const size = wantedSize(viewer);
    if (size === null) return;
    st.size = size;
    const wanted = withSize(image.getAttribute("src"), size);
    // The browser may already have picked that size from srcset: keep it. (Its naturalWidth
    // is then scaled by srcset's `sizes`, so the URL says which rendering it is.)
    const current = new URL(image.currentSrc || image.src, location.href).searchParams.get("size");
    if (!(image.complete && current === (size ? String(size) : null))) {
      if (!image.complete && image.srcset && !image.dataset.fitted) {
        image.dataset.fitted = "1";
        image.addEventListener("load", () => fit(viewer), { once: true });
        return;
      }
      image.removeAttribute("srcset");
      if (image.getAttribute("src") !== wanted) image.src = wanted;
    }
    stackLoad(viewer);
    const study = studyOf(viewer);
    if (study) refLinesDraw(study);
  }

  // --- the stack, held in the browser ---------------------------------------------------

  // Every slice at the current view, fetched and decoded in the background, nearest first.
  function stackLoad(viewer) {
    const st = state(viewer);
    const stage = stageOf(viewer);
    const urls = (stage.dataset.stack || "").split(" ").filter(Boolean).map((u) => withSize(u, st.size));
    if (!urls.length) return;
    const key = urls.join(" ");
    if (st.stack && st.stack.key === key) return;
    // A viewer swapped in for the same stack (the room following the presenter's slice)
    // takes over the pictures already held: no slice is fetched or decoded twice.
    const kept = held.get(stage.dataset.stack);
    if (kept && kept.key === key) {
      st.stack = kept;
      return;
    }
    const stack = { key, urls, images: [], ready: urls.map(() => false) };
    st.drawn = shown(viewer) - 1; // the 0-based slice in the picture now
    if (held.size >= HELD_STACKS) held.clear();
    held.set(stage.dataset.stack, stack);
    const waiting = new Set(urls.keys());
    let busy = 0;
    st.stack = stack;
    const pump = () => {
      while (st.stack === stack && busy < STACK_PARALLEL && waiting.size) {
        // Nearest first, and ahead of the reader before behind them.
        const here = shown(viewer) - 1;
        const dir = st.direction || 1;
        const cost = (i) => ((i - here) * dir >= 0 ? (i - here) * dir : 2 * Math.abs(i - here) + 1);
        let best = null;
        for (const i of waiting) if (best === null || cost(i) < cost(best)) best = i;
        waiting.delete(best);
        const picture = new Image();
        stack.images[best] = picture; // held, so the decoded picture stays in memory
        busy += 1;
        picture.src = urls[best];
        picture.decode().then(() => {
          stack.ready[best] = true;
          if (st.stack !== stack) return;
          // The reader is waiting on this very slice, or it lies on the way from the one
          // drawn to it (a burst ahead of the loading): show it now.
          const want = shown(viewer) - 1;
          const from = st.drawn;
          if (best === want || (from !== null && (best - from) * (want - best) > 0)) {
            imageOf(viewer).src = urls[best];
            st.drawn = best;
          }
        }, () => {}).finally(() => {
          busy -= 1;
          pump();
          if (!waiting.size && !busy) {
            stack.done = true;
            presetLoad(viewer);
          }
        });
      }
    };
    pump();
  }

  // The slice shown at another window: its stack URL with that window, at the size shown
  // (in the server's order, ww and wc first, so the fragment's picture is this very URL).
  function windowUrl(url, ww, wc, size) {
    const parsed = new URL(url, location.href);
    const query = new URLSearchParams({ ww, wc });
    for (const [name, value] of parsed.searchParams) if (name !== "ww" && name !== "wc") query.append(name, value);
    return withSize(`${parsed.pathname}?${query}`, size);
  }

  // Once the stack is held, the slice shown at each preset window too: a preset then shows at
  // once from what is held, and its fragment follows (as a slice step does).
  function presetLoad(viewer) {
    const st = state(viewer);
    if (!st.stack || !st.stack.done) return;
    const url = st.stack.urls[shown(viewer) - 1];
    if (!url) return;
    const pictures = new Map();
    for (const link of viewer.querySelectorAll(".presets a[href]")) {
      const query = new URL(link.href, location.href).searchParams;
      if (!query.has("ww") || !query.has("wc")) continue;
      const wanted = windowUrl(url, query.get("ww"), query.get("wc"), st.size);
      const kept = st.presets && st.presets.get(wanted);
      if (kept) {
        pictures.set(wanted, kept);
        continue;
      }
      const picture = new Image();
      const entry = { picture, ready: false };
      picture.src = wanted;
      picture.decode().then(() => { entry.ready = true; }, () => {});
      pictures.set(wanted, entry);
    }
    st.presets = pictures;
  }

  // A preset's picture from the held ones, shown before its fragment arrives.
  function presetShow(viewer, link) {
    const st = state(viewer);
    const query = new URL(link.href, location.href).searchParams;
    const url = st.stack && st.stack.urls[shown(viewer) - 1];
    if (!url || !st.presets || !query.has("ww") || !query.has("wc")) return;
    const wanted = windowUrl(url, query.get("ww"), query.get("wc"), st.size);
    const entry = st.presets.get(wanted);
    const image = imageOf(viewer);
    if (!entry || !entry.ready || !image) return;
    image.removeAttribute("srcset");
    image.src = wanted;
  }

  // Step to slice `number` now: the picture first, the rest of the viewer after it.
  function show(viewer, number, { fetch = true, linked = false } = {}) {
    const st = state(viewer);
    const total = count(viewer);
    if (total < 2) return false;
    number = Math.min(Math.max(number, 1), total);
    if (number === shown(viewer)) return true;
    st.direction = Math.sign(number - shown(viewer));
    st.shown = number;
    if (!st.stack) fit(viewer);
    const url = st.stack && st.stack.urls[number - 1];
    const image = imageOf(viewer);
    // A slice still on its way is shown when it arrives (if it is still wanted); until then
    // the last one stays, rather than a blank picture.
    if (url && image && st.stack.ready[number - 1]) {
      image.removeAttribute("srcset");
      image.src = url;
      st.drawn = number - 1;
    }
    if (!st.uiFrame) st.uiFrame = requestAnimationFrame(() => uiUpdate(viewer));
    if (fetch) fetchLater(viewer);
    if (!linked) studyFollow(viewer);
    return true;
  }

  function uiUpdate(viewer) {
    const st = state(viewer);
    st.uiFrame = null;
    const number = shown(viewer);
    const range = slider(viewer);
    if (range) range.value = number;
    const output = viewer.querySelector(".slice-form output");
    if (output) output.textContent = number;
    const overlay = viewer.querySelector("[data-overlay-slice]");
    if (overlay) overlay.textContent = `Im ${number}/${count(viewer)}`;
    const image = imageOf(viewer);
    if (image) image.alt = image.alt.replace(/slice \d+ of/, `slice ${number} of`);
    addressLater(viewer);
  }

  function addressLater(viewer) {
    const st = state(viewer);
    if (st.addressTimer) return;
    st.addressTimer = setTimeout(() => {
      st.addressTimer = null;
      const url = addressOf(viewer);
      // A viewer inside a page with its own address (an unknown-case step) leaves it alone.
      if (!viewer.closest("[data-keep-url]") && location.pathname + location.search !== url) {
        history.replaceState(history.state, "", url);
      }
    }, ADDRESS_EVERY_MS);
  }

  // The controls and links follow through the slider's form once stepping pauses.
  function fetchLater(viewer) {
    const st = state(viewer);
    clearTimeout(st.fetchTimer);
    if (st.cine) return;
    st.fetchTimer = setTimeout(() => {
      const range = slider(viewer);
      if (!range || !window.htmx) return;
      range.value = shown(viewer);
      range.form.requestSubmit();
    }, FETCH_AFTER_MS);
  }

  const sliceStep = (viewer, delta) => show(viewer, shown(viewer) + delta);

  // --- a study's viewports (templates/cases/study.html, cases/imaging/study.py) ------------

  const STUDY_KEYS = new Set(["layout", "link", "linkzoom", "linkwindow", "vp", "v1", "v2", "v3", "v4"]);
  const studyOf = (viewer) => viewer.closest("[data-study]");
  const viewportsOf = (study) => [...study.querySelectorAll(VIEWER)];
  const numberOf = (viewer) => Number(viewer.closest("[data-viewport]").dataset.viewport);

  // A viewport's `figure:query`, as the study's URL names it, on the slice shown here.
  function specOf(viewer) {
    const url = new URL(viewUrl(viewer), location.href);
    const own = new URLSearchParams();
    for (const [name, value] of url.searchParams) if (!STUDY_KEYS.has(name)) own.append(name, value);
    return `${viewer.dataset.figure}:${own.toString()}`;
  }

  // The study's canonical URL, every viewport as it is shown now.
  function addressOf(viewer) {
    const study = studyOf(viewer);
    if (!study) return viewUrl(viewer);
    const url = new URL(viewUrl(viewer), location.href);
    const out = new URLSearchParams();
    for (const name of ["layout", "link", "linkzoom", "linkwindow"]) {
      if (url.searchParams.has(name)) out.set(name, url.searchParams.get(name));
    }
    for (const other of viewportsOf(study)) out.set(`v${numberOf(other)}`, specOf(other));
    return `${url.pathname}?${out}`;
  }

  // A viewport's links name the others as they were when it was drawn: send them as they are.
  function studyRequest(viewer, detail) {
    const study = studyOf(viewer);
    if (!study) return;
    const url = new URL(detail.path, location.href);
    for (const other of viewportsOf(study)) {
      if (other === viewer) continue;
      const name = `v${numberOf(other)}`;
      const spec = specOf(other);
      if (url.searchParams.has(name)) url.searchParams.set(name, spec);
      if (detail.parameters[name] !== undefined) detail.parameters[name] = spec;
    }
    detail.path = url.pathname + url.search;
  }

  // Each viewport's geometry (cases.imaging.linking.Geometry.data), read once per stage.
  const geometries = new WeakMap();
  function geometryOf(viewer) {
    const stage = stageOf(viewer);
    if (!stage || !stage.dataset.geometry) return null;
    if (!geometries.has(stage)) {
      const g = JSON.parse(stage.dataset.geometry);
      const [a, b, c] = g.across;
      const [d, e, f] = g.down;
      const n = [b * f - c * e, c * d - a * f, a * e - b * d];
      const length = Math.hypot(...n);
      g.normal = n.map((x) => x / length);
      geometries.set(stage, g);
    }
    return geometries.get(stage);
  }
  const dot = (p, q) => p[0] * q[0] + p[1] * q[1] + p[2] * q[2];

  // As Python's round(): halves to even, so both sides pick the same slice.
  function roundEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // linking.linked_number: by position in mm along parallel normals, else by relative index.
  function linkedNumber(source, index, total, target, length) {
    const parallel = source && target && Math.abs(dot(source.normal, target.normal)) > 1 - 1e-3;
    if (source && target && !parallel && source.frame === target.frame) return null;
    if (parallel && index < source.origins.length) {
      const here = dot(source.origins[index], source.normal);
      let best = 0;
      let nearest = Infinity;
      target.origins.forEach((origin, i) => {
        const d = Math.abs(dot(origin, source.normal) - here);
        if (d < nearest) {
          nearest = d;
          best = i;
        }
      });
      return best;
    }
    if (total <= 1) return Math.floor(length / 2);
    return Math.min(Math.max(roundEven((index / (total - 1)) * (length - 1)), 0), length - 1);
  }

  // linking.reference_line: where the source's slice cuts the target's, in its pixels.
  function referenceLine(source, index, target, targetIndex, width, height) {
    if (source.frame !== target.frame) return null;
    const n = source.normal;
    const a = dot(n, target.across);
    const b = dot(n, target.down);
    if (Math.hypot(a / Math.hypot(...target.across), b / Math.hypot(...target.down)) < 1e-3) return null;
    const c = dot(source.origins[index], n) - dot(n, target.origins[targetIndex]);
    const points = [];
    if (Math.abs(b) > 1e-9) {
      for (const x of [0, width]) {
        const y = (c - a * x) / b;
        if (y >= -1e-6 && y <= height + 1e-6) points.push([x, y]);
      }
    }
    if (Math.abs(a) > 1e-9) {
      for (const y of [0, height]) {
        const x = (c - b * y) / a;
        if (x >= -1e-6 && x <= width + 1e-6) points.push([x, y]);
      }
    }
    const unique = [];
    for (const p of points) if (unique.every((q) => Math.hypot(p[0] - q[0], p[1] - q[1]) > 1e-6)) unique.push(p);
    return unique.length < 2 ? null : [...unique[0], ...unique[1]];
  }

  // A step in a linked study moves the others from their held stacks, with no round trip:
  // the stepping viewport's request brings their controls when it pauses.
  function studyFollow(viewer) {
    const study = studyOf(viewer);
    if (!study) return;
    if (study.hasAttribute("data-link")) {
      const source = geometryOf(viewer);
      for (const other of viewportsOf(study)) {
        if (other === viewer || count(other) < 2 || !stageOf(other)) continue;
        const index = linkedNumber(source, shown(viewer) - 1, count(viewer), geometryOf(other), count(other));
        if (index !== null) show(other, index + 1, { fetch: false, linked: true });
      }
    }
    refLinesDraw(study);
  }

  // Each viewport shows where the others' slices cut it, within one frame (linking.py:
  // a shared frame of reference, else one figure).
  function refLinesDraw(study) {
    const viewers = viewportsOf(study);
    for (const target of viewers) {
      const stage = stageOf(target);
      const svg = stage && stage.querySelector("[data-reflines]");
      const g = geometryOf(target);
      if (!svg || !g) continue;
      // Over the picture itself (not its letterbox), so a line ends where the picture does.
      const pic = picture(imageOf(target));
      const origin = stage.getBoundingClientRect();
      Object.assign(svg.style, { left: `${pic.left - origin.left}px`, top: `${pic.top - origin.top}px`,
        width: `${pic.width}px`, height: `${pic.height}px` });
      const lines = [];
      for (const source of viewers) {
        const from = geometryOf(source);
        if (source === target || !from) continue;
        const line = referenceLine(from, shown(source) - 1, g, shown(target) - 1,
          Number(stage.dataset.width), Number(stage.dataset.height));
        if (!line) continue;
        const el = document.createElementNS(SVG, "line");
        const number = numberOf(source);
        el.setAttribute("class", `refline refline-${number}`);
        el.dataset.from = number;
        ["x1", "y1", "x2", "y2"].forEach((name, i) => el.setAttribute(name, line[i]));
        el.setAttribute("vector-effect", "non-scaling-stroke");
        lines.push(el);
      }
      svg.replaceChildren(...lines);
    }
  }

  // --- cine -------------------------------------------------------------------------------

  function cine(viewer, on) {
    const st = state(viewer);
    const button = viewer.querySelector("[data-cine]");
    if (st.cine) cancelAnimationFrame(st.cine.frame);
    st.cine = null;
    if (button) button.setAttribute("aria-pressed", String(on));
    if (!on || count(viewer) < 2) {
      fetchLater(viewer);
      return;
    }
    fit(viewer);
    const play = { last: performance.now(), frame: 0 };
    st.cine = play;
    const tick = (now) => {
      if (st.cine !== play) return;
      const select = viewer.querySelector("[data-fps]");
      const every = 1000 / (Number(select && select.value) || 10);
      if (now - play.last >= every - 4) {
        const next = (shown(viewer) % count(viewer)) + 1;
        // Played from memory only: an image still on its way holds the frame.
        if (!st.stack || st.stack.ready[next - 1]) {
          show(viewer, next, { fetch: false });
          play.last = now;
        }
      }
      play.frame = requestAnimationFrame(tick);
    };
    play.frame = requestAnimationFrame(tick);
  }

  // --- tools --------------------------------------------------------------------------------

  function toolSet(viewer, tool) {
    const st = state(viewer);
    st.tool = tool;
    st.angle = null;
    draftClear(viewer);
    viewer.dataset.tool = tool;
    for (const button of viewer.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === tool));
    }
  }

  function actualPixels(viewer, on) {
    const st = state(viewer);
    st.actual = on;
    viewer.classList.toggle("is-actual", on);
    const button = viewer.querySelector("[data-actual-pixels]");
    if (button) button.setAttribute("aria-pressed", String(on));
    const image = imageOf(viewer);
    if (!on && image) image.style.width = image.style.height = "";
    fit(viewer);
  }

  function fullscreen(viewer) {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen();
  }

  function status(viewer, text) {
    const out = viewer.querySelector("[data-status]");
    if (out) out.textContent = text;
  }

  // Copy the exact view, and put it in the comment form's linked view when the page has one.
  function linkView(viewer) {
    // In a study, the study as it is shown (every viewport), not one viewport alone.
    const url = new URL(addressOf(viewer), location.href);
    const field = document.querySelector("form input[name='view']");
    let added = "";
    if (field && viewer.dataset.figure) {
      field.value = `${viewer.dataset.figure}:${url.search.slice(1)}`;
      field.dispatchEvent(new Event("input", { bubbles: true }));
      const details = field.closest("details");
      if (details) details.open = true;
      added = " and added to your comment";
    }
    const done = () => status(viewer, `Link copied${added}`);
    const failed = () => status(viewer, added ? `Added to your comment: ${url.href}` : url.href);
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url.href).then(done, failed);
    } else failed();
  }

  // --- keys --------------------------------------------------------------------------------

  function activeViewer() {
    const focused = document.activeElement && document.activeElement.closest(VIEWER);
    return focused || hovered;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const viewer = activeViewer();
    if (!viewer || !window.htmx || !stageOf(viewer)) return;
    const target = event.target;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
    if (tag === "INPUT" && target.type !== "range") return;
    // A key the page itself claims (the conference console's N and P) stays the page's.
    if (document.querySelector(`[data-console-key="${CSS.escape(event.key.toLowerCase())}"]`)) return;
    const onSlider = tag === "INPUT";
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const st = state(viewer);
    let handled = false;
    if (event.key in STEP_KEYS && !onSlider) {
      handled = sliceStep(viewer, STEP_KEYS[event.key]);
    } else if ((event.key === "Home" || event.key === "End") && !onSlider) {
      handled = show(viewer, event.key === "Home" ? 1 : count(viewer));
    } else if (key === "f") {
      fullscreen(viewer);
      handled = true;
    } else if (key === "c" && count(viewer) > 1) {
      cine(viewer, !st.cine);
      handled = true;
    } else if (key === "0") {
      actualPixels(viewer, !st.actual);
      handled = true;
    } else if (key in TOOL_KEYS && viewer.querySelector(`[data-tool="${TOOL_KEYS[key]}"]`)) {
      toolSet(viewer, TOOL_KEYS[key]);
      handled = true;
    } else if (event.key === "Escape" && (st.angle || drag)) {
      st.angle = null;
      drag = null;
      draftClear(viewer);
      handled = true;
    } else if ((event.key === "Backspace" || event.key === "Delete") && view(viewer).m) {
      go(viewer, { m: view(viewer).m.split(";").slice(0, -1).join(";") });
      handled = true;
    } else {
      const clickKey = CLICK_KEYS[event.key] || (/^[1-9]$/.test(event.key) ? event.key : null);
      const control = clickKey && viewer.querySelector(`[data-key="${clickKey}"]`);
      if (control) {
        // A key pressed right after a swap can beat htmx to the fresh controls.
        window.htmx.process(control);
        control.click();
        handled = true;
      }
    }
    if (handled) event.preventDefault();
  });

  // --- the wheel: slices, or zoom around the pointer with Ctrl (a trackpad pinch) ----------

  let wheelAcc = 0;
  document.addEventListener("wheel", (event) => {
    const viewer = event.target.closest(VIEWER);
    if (!viewer || !window.htmx || !stageOf(viewer)) return;
    if (event.ctrlKey) {
      const image = event.target.closest(".viewer-image");
      if (!image) return;
      event.preventDefault();
      wheelZoom(viewer, image, event);
      return;
    }
    if (count(viewer) < 2) return;
    event.preventDefault();
    // A mouse notch is one slice; small trackpad deltas add up first.
    const delta = event.deltaMode === 0 ? event.deltaY : event.deltaY * 40;
    wheelAcc = Math.abs(delta) >= 40 ? Math.sign(delta) * 40 : wheelAcc + delta;
    if (Math.abs(wheelAcc) >= 40) {
      sliceStep(viewer, Math.sign(wheelAcc));
      wheelAcc = 0;
    }
  }, { passive: false });

  function wheelZoom(viewer, image, event) {
    const st = state(viewer);
    if (!st.wheel) {
      const pic = picture(image);
      st.wheel = { pic, x: event.clientX, y: event.clientY, zoom: view(viewer).zoom, factor: 1 };
      image.style.transformOrigin = `${event.clientX - pic.box.left}px ${event.clientY - pic.box.top}px`;
    }
    const wheel = st.wheel;
    const delta = event.deltaMode === 0 ? event.deltaY : event.deltaY * 40;
    const zoom = Math.min(Math.max(wheel.zoom * wheel.factor * Math.exp(-delta / 300), 1), ZOOM_MAX);
    wheel.factor = zoom / wheel.zoom;
    image.style.transform = `scale(${wheel.factor})`;
    clearTimeout(wheel.timer);
    wheel.timer = setTimeout(() => {
      st.wheel = null;
      zoomTo(viewer, wheel.pic, wheel.x, wheel.y, wheel.x, wheel.y, wheel.zoom * wheel.factor);
    }, 200);
  }

  // The view at `zoom` that puts the image point under (x0, y0) at the start under (x1, y1).
  function zoomTo(viewer, pic, x0, y0, x1, y1, zoom) {
    const v = view(viewer);
    zoom = Math.round(Math.min(Math.max(zoom, 1), ZOOM_MAX) * 100) / 100;
    const px = v.cx - 0.5 / v.zoom + (x0 - pic.left) / pic.width / v.zoom;
    const py = v.cy - 0.5 / v.zoom + (y0 - pic.top) / pic.height / v.zoom;
    const cx = px - (x1 - pic.left) / pic.width / zoom + 0.5 / zoom;
    const cy = py - (y1 - pic.top) / pic.height / zoom + 0.5 / zoom;
    if (zoom <= 1) go(viewer, { zoom: null, cx: null, cy: null });
    else go(viewer, { zoom, cx: cx.toFixed(4), cy: cy.toFixed(4) });
  }

  // --- engaging a viewer: the stack is fetched once it is used, not for every figure --------

  function engage(viewer) {
    if (!viewer || viewer.dataset.engaged || !stageOf(viewer)) return;
    viewer.dataset.engaged = "1";
    const tools = viewer.querySelector("[data-tools]");
    if (tools) tools.hidden = false;
    toolSet(viewer, toolOf(viewer));
    fit(viewer);
  }
  function engageEvent(event) {
    const viewer = event.target.closest && event.target.closest(VIEWER);
    if (!viewer) return;
    if (event.type === "mouseover") hovered = viewer;
    engage(viewer);
  }
  document.addEventListener("mouseover", engageEvent);
  document.addEventListener("focusin", engageEvent);
  document.addEventListener("touchstart", engageEvent, { passive: true });

  // --- clicks -------------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const dragged = event.target.closest("[data-dragged]");
    if (dragged) {
      delete dragged.dataset.dragged;
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    const viewer = event.target.closest(VIEWER);
    // Click to magnify: send the exact point in output pixels of the size the page shows
    // ("x,y", as an ismap image does without JavaScript).
    const link = event.target.closest(".viewer-magnify");
    if (link && window.htmx && event.button === 0 && !event.ctrlKey && !event.metaKey) {
      const image = link.querySelector("img");
      const pic = picture(image);
      if (!pic.width || !pic.height) return;
      event.preventDefault();
      event.stopPropagation();
      const stage = stageOf(viewer);
      const [w, h] = [Number(stage.dataset.width), Number(stage.dataset.height)];
      const size = state(viewer).size;
      const scale = size ? size / Math.max(w, h) : 1;
      const x = Math.round(((event.clientX - pic.left) * Math.round(w * scale)) / pic.width);
      const y = Math.round(((event.clientY - pic.top) * Math.round(h * scale)) / pic.height);
      window.htmx.ajax("GET", viewUrl(viewer, { at: `${x},${y}` }), { source: link });
      return;
    }
    if (!viewer) return;
    const preset = event.target.closest(".presets a[href]");
    if (preset && event.button === 0 && !event.ctrlKey && !event.metaKey) presetShow(viewer, preset);
    const control = event.target.closest("[data-tool], [data-cine], [data-actual-pixels], [data-link-view], [data-fullscreen]");
    if (!control) return;
    if (control.dataset.tool) toolSet(viewer, control.dataset.tool);
    else if (control.hasAttribute("data-cine")) cine(viewer, !state(viewer).cine);
    else if (control.hasAttribute("data-actual-pixels")) actualPixels(viewer, !state(viewer).actual);
    else if (control.hasAttribute("data-link-view")) linkView(viewer);
    else fullscreen(viewer);
  }, true);

  // --- dragging with the mouse (or a pen) ---------------------------------------------------

  document.addEventListener("pointerdown", (event) => {
    const image = event.target.closest && event.target.closest(".viewer-image");
    const viewer = image && image.closest(VIEWER);
    if (!viewer || !window.htmx || !stageOf(viewer)) return;
    engage(viewer);
    if (event.pointerType === "touch") {
      touchDown(viewer, image, event);
      return;
    }
    const st = state(viewer);
    let kind = null;
    if (event.button === 2 || (event.button === 0 && event.shiftKey)) kind = "window";
    else if (event.button === 0) {
      kind = toolOf(viewer);
      if (kind === "scroll" && view(viewer).zoom > 1) kind = "pan";
    }
    if (!kind) return;
    drag = dragStart(viewer, image, kind, event);
    if (!drag) return;
    drag.button = event.button;
    if (st.angle && kind === "angle") drag.angle = st.angle;
    image.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

  function dragStart(viewer, image, kind, event) {
    const base = { viewer, image, kind, x: event.clientX, y: event.clientY, moved: false, pic: picture(image) };
    if (kind === "window") {
      const form = viewer.querySelector(".window-form");
      if (!form) return null;
      const width = Number(form.elements.ww.value) || 256;
      const center = form.elements.wc.value === "" ? 128 : Number(form.elements.wc.value);
      return { ...base, form, width, center, step: Math.max(width / 200, 1), loading: false, wanted: null };
    }
    if (kind === "scroll") return { ...base, start: shown(viewer) };
    if (kind === "zoom") {
      image.style.transformOrigin = `${event.clientX - base.pic.box.left}px ${event.clientY - base.pic.box.top}px`;
    }
    return base;
  }

  function windowShow(state) {
    const url = new URL(state.image.src, location.href);
    url.searchParams.set("ww", state.ww);
    url.searchParams.set("wc", state.wc);
    state.wanted = url.href;
    const label = state.viewer.querySelector("[data-window-label]");
    if (label) label.textContent = `W ${state.ww} / C ${state.wc}${label.dataset.windowLabel}`;
    if (state.loading) return;
    const probe = new Image();
    const started = performance.now();
    state.loading = true;
    probe.onload = probe.onerror = () => {
      if (probe.naturalWidth) state.image.src = probe.src;
      // At most DRAG_FRAME_MS between renderings: one drag does not keep a worker busy.
      setTimeout(() => {
        state.loading = false;
        if (state.wanted !== probe.src) windowShow(state);
      }, Math.max(0, DRAG_FRAME_MS - (performance.now() - started)));
    };
    probe.src = state.wanted;
  }

  function dragMove(d, x, y) {
    const dx = x - d.x;
    const dy = y - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    d.moved = true;
    if (d.kind === "window") {
      d.ww = Math.max(1, Math.round(d.width + dx * d.step));
      d.wc = Math.round(d.center + dy * d.step);
      windowShow(d);
    } else if (d.kind === "scroll") {
      // Dragging down goes on through the stack, about a slice per few pixels.
      const per = Math.max(3, Math.min(12, d.pic.height / count(d.viewer)));
      show(d.viewer, d.start + Math.trunc(dy / per));
    } else if (d.kind === "pan") {
      d.image.style.transform = `translate(${dx}px, ${dy}px)`;
    } else if (d.kind === "zoom") {
      d.factor = Math.min(Math.max(Math.pow(2, -dy / 150), 1 / view(d.viewer).zoom), ZOOM_MAX / view(d.viewer).zoom);
      d.image.style.transform = `scale(${d.factor})`;
    } else draftDraw(d, x, y);
  }

  function dragEnd(d, x, y) {
    const { viewer } = d;
    // The click that ends a drag (or places a measurement) must not magnify.
    if (d.moved || isMeasure(d.kind)) viewer.dataset.dragged = "1";
    if (d.kind === "window") {
      if (!d.moved) return;
      d.form.elements.ww.value = d.ww;
      d.form.elements.wc.value = d.wc;
      d.form.requestSubmit();
    } else if (d.kind === "pan") {
      const v = view(viewer);
      if (!d.moved || v.zoom <= 1) {
        d.image.style.transform = "";
        return;
      }
      const cx = v.cx - (x - d.x) / d.pic.width / v.zoom;
      const cy = v.cy - (y - d.y) / d.pic.height / v.zoom;
      go(viewer, { cx: cx.toFixed(4), cy: cy.toFixed(4) });
    } else if (d.kind === "zoom") {
      if (d.moved && d.factor) zoomTo(viewer, d.pic, d.x, d.y, d.x, d.y, view(viewer).zoom * d.factor);
    } else if (isMeasure(d.kind)) measureEnd(d, x, y);
  }

  document.addEventListener("pointermove", (event) => {
    if (touch && event.pointerType === "touch") touchMove(event);
    else if (drag) dragMove(drag, event.clientX, event.clientY);
  });
  function pointerUp(event) {
    if (event.pointerType === "touch") {
      touchUp(event);
      return;
    }
    const d = drag;
    drag = null;
    if (d) dragEnd(d, event.clientX, event.clientY);
  }
  document.addEventListener("pointerup", pointerUp);
  document.addEventListener("pointercancel", pointerUp);
  // The right button on the image drags the window, so it opens no menu.
  document.addEventListener("contextmenu", (event) => {
    const image = event.target.closest && event.target.closest(".viewer-image");
    if (image && image.closest(VIEWER)) event.preventDefault();
  });
  document.addEventListener("dragstart", (event) => {
    if (event.target.closest && event.target.closest(".viewer-image")) event.preventDefault();
  });

  // --- measurements: drawn here while placing, then computed and drawn by the server ---------

  const isMeasure = (kind) => kind === "point" || kind === "line" || kind === "angle" || kind === "ellipse";
  const SVG = "http://www.w3.org/2000/svg";

  function draftClear(viewer) {
    const old = viewer.querySelector(".viewer-draft");
    if (old) old.remove();
  }

  function draftDraw(d, x, y) {
    const stage = stageOf(d.viewer);
    let svg = stage.querySelector(".viewer-draft");
    if (!svg) {
      svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", "viewer-draft");
      svg.setAttribute("aria-hidden", "true");
      stage.append(svg);
    }
    const origin = stage.getBoundingClientRect();
    const at = (px, py) => [px - origin.left, py - origin.top];
    const shape = (name, attrs) => {
      const el = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      return el;
    };
    const [x0, y0] = d.angle ? at(...d.angle.end) : at(d.x, d.y);
    const [x1, y1] = at(x, y);
    const parts = [];
    if (d.angle) {
      const [ax, ay] = at(...d.angle.start);
      parts.push(shape("polyline", { points: `${ax},${ay} ${x0},${y0} ${x1},${y1}` }));
    } else if (d.kind === "ellipse") {
      parts.push(shape("ellipse", { cx: x0, cy: y0, rx: Math.abs(x1 - x0), ry: Math.abs(y1 - y0) }));
    } else if (d.kind === "point") {
      parts.push(shape("circle", { cx: x1, cy: y1, r: 3 }));
    } else parts.push(shape("line", { x1: x0, y1: y0, x2: x1, y2: y1 }));
    svg.replaceChildren(...parts);
  }

  function measureEnd(d, x, y) {
    const { viewer } = d;
    const st = state(viewer);
    const p = (px, py) => sourcePoint(viewer, d.pic, px, py).join(",");
    let item = null;
    if (d.kind === "point") item = `point:${p(x, y)}`;
    else if (d.kind === "line" && d.moved) item = `line:${p(d.x, d.y)},${p(x, y)}`;
    else if (d.kind === "ellipse" && d.moved) {
      const [cx, cy] = sourcePoint(viewer, d.pic, d.x, d.y);
      const [ex, ey] = sourcePoint(viewer, d.pic, x, y);
      item = `ellipse:${cx},${cy},${Math.abs(ex - cx).toFixed(1) * 1},${Math.abs(ey - cy).toFixed(1) * 1}`;
    } else if (d.kind === "angle") {
      if (d.angle) item = `angle:${p(...d.angle.start)},${p(...d.angle.end)},${p(x, y)}`;
      else if (d.moved) {
        // The first arm is drawn; a click (or another drag) places the end of the second.
        st.angle = { start: [d.x, d.y], end: [x, y] };
        return;
      }
    }
    st.angle = null;
    if (!item) {
      draftClear(viewer);
      return;
    }
    if (d.kind === "point") draftDraw({ ...d, angle: null }, x, y);
    const m = view(viewer).m;
    go(viewer, { m: m ? `${m};${item}` : item });
  }

  // --- touch: swipe for slices, pinch to zoom, two fingers to pan, long press to window ------

  let touch = null;

  function touchDown(viewer, image, event) {
    if (!touch || touch.viewer !== viewer) touch = { viewer, image, points: new Map(), mode: null };
    touch.points.set(event.pointerId, [event.clientX, event.clientY]);
    image.setPointerCapture(event.pointerId);
    clearTimeout(touch.timer);
    if (touch.points.size === 1) {
      touch.mode = "wait";
      touch.start = [event.clientX, event.clientY];
      touch.slice = shown(viewer);
      touch.pic = picture(image);
      touch.timer = setTimeout(() => {
        if (touch && touch.mode === "wait") {
          touch.mode = "window";
          touch.drag = dragStart(viewer, image, "window", { clientX: touch.start[0], clientY: touch.start[1] });
          status(viewer, "Window: drag");
        }
      }, LONG_PRESS_MS);
    } else if (touch.points.size === 2) {
      if (touch.mode === "swipe" || touch.mode === "window") return;
      const [a, b] = [...touch.points.values()];
      touch.mode = "pinch";
      touch.pic = picture(image);
      touch.distance = Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;
      touch.mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      touch.zoom = view(viewer).zoom;
      image.style.transformOrigin = `${touch.mid[0] - touch.pic.box.left}px ${touch.mid[1] - touch.pic.box.top}px`;
    }
  }

  function touchMove(event) {
    if (!touch.points.has(event.pointerId)) return;
    touch.points.set(event.pointerId, [event.clientX, event.clientY]);
    const { viewer, image } = touch;
    if (touch.mode === "wait" || touch.mode === "swipe") {
      const dy = event.clientY - touch.start[1];
      const dx = event.clientX - touch.start[0];
      if (touch.mode === "wait" && Math.hypot(dx, dy) < 8) return;
      clearTimeout(touch.timer);
      touch.mode = "swipe";
      // A finger moving up goes on through the stack, as a page scrolls on.
      const per = Math.max(6, Math.min(24, touch.pic.height / count(viewer)));
      show(viewer, touch.slice - Math.trunc(dy / per));
    } else if (touch.mode === "window" && touch.drag) {
      dragMove(touch.drag, event.clientX, event.clientY);
    } else if (touch.mode === "pinch" && touch.points.size >= 2) {
      const [a, b] = [...touch.points.values()];
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const factor = Math.hypot(a[0] - b[0], a[1] - b[1]) / touch.distance;
      touch.factor = Math.min(Math.max(factor, 1 / touch.zoom), ZOOM_MAX / touch.zoom);
      touch.end = mid;
      image.style.transform = `translate(${mid[0] - touch.mid[0]}px, ${mid[1] - touch.mid[1]}px) scale(${touch.factor})`;
    }
  }

  function touchUp(event) {
    if (!touch || !touch.points.has(event.pointerId)) return;
    touch.points.delete(event.pointerId);
    clearTimeout(touch.timer);
    const t = touch;
    if (t.mode === "swipe" || t.mode === "pinch" || t.mode === "window") t.viewer.dataset.dragged = "1";
    if (t.mode === "pinch" && t.end) {
      t.mode = "done";
      zoomTo(t.viewer, t.pic, t.mid[0], t.mid[1], t.end[0], t.end[1], t.zoom * (t.factor || 1));
    } else if (t.mode === "window" && t.drag) {
      t.mode = "done";
      dragEnd(t.drag, event.clientX, event.clientY);
      status(t.viewer, "");
    }
    if (!t.points.size) touch = null;
  }

  // --- after each swap ----------------------------------------------------------------------

  // Requests from a viewer carry the size it shows, and stay on the slice shown here.
  document.addEventListener("htmx:configRequest", (event) => {
    const viewer = event.detail.elt.closest && event.detail.elt.closest(VIEWER);
    if (!viewer || !stageOf(viewer)) return;
    const st = state(viewer);
    if (st.size !== null) event.detail.parameters.size = st.size;
    studyRequest(viewer, event.detail);
    // The controls may be a few steps behind the picture: a change they ask for (a preset,
    // invert) is for the slice shown, and it brings that slice's controls, so the pending
    // catch-up request is not needed.
    const behind = Number(stageOf(viewer).dataset.slice);
    if (!st.shown || st.shown === behind) return;
    const url = new URL(event.detail.path, location.href);
    if (url.searchParams.get("slice") === String(behind)) {
      url.searchParams.set("slice", st.shown);
      event.detail.path = url.pathname + url.search;
    }
    const params = event.detail.parameters;
    if (String(params.slice) === String(behind)) params.slice = st.shown;
    const asked = params.slice !== undefined && params.slice !== null ? params.slice : url.searchParams.get("slice");
    if (String(asked) === String(st.shown)) clearTimeout(st.fetchTimer);
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const viewer = event.detail.elt.closest && event.detail.elt.closest(VIEWER);
    if (!viewer) return;
    // An answer for a slice the reader has already left would jump back: the next is coming.
    const st = state(viewer);
    const answered = /data-slice="(\d+)"/.exec(event.detail.serverResponse || "");
    if (answered && st.shown && Number(answered[1]) !== st.shown && count(viewer) > 1) {
      event.detail.shouldSwap = false;
      fetchLater(viewer);
      return;
    }
    // A step taken between this swap and its settle is the reader's latest: keep it.
    st.shownAtSwap = st.shown;
    // Remember which control had focus: out-of-band swaps replace the controls.
    const focused = document.activeElement;
    viewer.dataset.refocus = focused && viewer.contains(focused)
      ? focused.getAttribute("aria-label") || focused.textContent.trim() : "";
  });

  function stageReady(stage) {
    const viewer = stage.closest(VIEWER);
    if (!viewer) return;
    const st = state(viewer);
    const steppedSince = st.shownAtSwap !== undefined && st.shown !== st.shownAtSwap;
    st.shownAtSwap = undefined;
    if (steppedSince) fetchLater(viewer);
    else {
      st.shown = Number(stage.dataset.slice) || null;
      st.drawn = st.shown && st.shown - 1;
    }
    st.wheel = null;
    const address = studyOf(viewer) ? addressOf(viewer) : stage.dataset.url;
    if (!viewer.closest("[data-keep-url]") && address && location.pathname + location.search !== address) {
      history.replaceState(history.state, "", address);
    }
    const range = slider(viewer);
    if (range && st.shown) range.value = st.shown;
    const wanted = viewer.dataset.refocus;
    if (wanted !== undefined) {
      delete viewer.dataset.refocus;
      const again = wanted && [...viewer.querySelectorAll("a, button, input")].find(
        (el) => (el.getAttribute("aria-label") || el.textContent.trim()) === wanted);
      if (again) again.focus();
      else if (!viewer.contains(document.activeElement)) viewer.focus({ preventScroll: true });
    }
    if (viewer.dataset.engaged) {
      fit(viewer);
      presetLoad(viewer);
    }
    fullscreenButtons(viewer);
    const study = studyOf(viewer);
    if (study) refLinesDraw(study);
  }

  // Dragging the slider shows each slice as it passes; the fragment follows when it stops.
  document.addEventListener("input", (event) => {
    const range = event.target.closest && event.target.closest("[data-slider]");
    const viewer = range && range.closest(VIEWER);
    if (viewer) show(viewer, range.valueAsNumber);
  });

  function fullscreenButtons(root) {
    for (const button of root.querySelectorAll("[data-fullscreen]")) {
      if (document.fullscreenEnabled) button.hidden = false;
    }
  }

  // A new box (full screen, a turned phone, a resized window) may need another size.
  let resizeTimer = null;
  function refit() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const viewer of document.querySelectorAll(`${VIEWER}[data-engaged]`)) fit(viewer);
    }, 150);
  }
  window.addEventListener("resize", refit);
  document.addEventListener("fullscreenchange", refit);

  document.addEventListener("htmx:afterSettle", (event) => {
    const stage = event.detail.elt;
    if (stage.classList && stage.classList.contains("viewer-stage")) stageReady(stage);
  });

  // A region swapped out of band (the room's stage) whose viewer shows a stack held here:
  // its picture comes from the held slices at once, and the new viewer keeps holding them,
  // so the presenter's scrolling steps through the room's screens instead of jumping.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const fragment = event.detail.fragment;
    if (!fragment || !fragment.querySelectorAll) return;
    for (const stage of fragment.querySelectorAll(".viewer-stage[data-stack]")) {
      const stack = held.get(stage.dataset.stack);
      const number = Number(stage.dataset.slice);
      const image = stage.querySelector(".viewer-image");
      if (!stack || !image || !number || !stack.ready[number - 1]) continue;
      image.removeAttribute("srcset");
      image.setAttribute("src", stack.urls[number - 1]);
    }
  });
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    // The event's target is the element swapped out: find its successor by id.
    const old = event.detail.target;
    const target = old && old.id ? document.getElementById(old.id) : old;
    if (!target || !target.querySelectorAll) return;
    for (const viewer of target.querySelectorAll(VIEWER)) {
      const stage = stageOf(viewer);
      if (stage && (held.has(stage.dataset.stack) || viewer.closest("[data-hold-stack]"))) {
        engage(viewer);
      }
    }
  });

  function start() {
    fullscreenButtons(document);
    // A page that is one viewer (the figure's own page) is there to be read: hold its stack.
    const viewers = document.querySelectorAll(VIEWER);
    if (viewers.length === 1) engage(viewers[0]);
    // So is a study: every viewport holds its stack, so linked ones follow from memory.
    for (const viewer of document.querySelectorAll(`[data-study] ${VIEWER}`)) engage(viewer);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
