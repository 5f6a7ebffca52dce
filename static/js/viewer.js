// The figure viewer's optional niceties. Every control is also a plain link or GET form, and
// htmx swaps the image area; this adds the wheel, OHIF-style keys, click-to-magnify at the
// exact point, window/level by dragging, neighbour preloading, full screen, and keeps the
// address bar on the view.
(() => {
  "use strict";
  const VIEWER = "[data-viewer]";
  const STEP_KEYS = { ArrowUp: -1, PageUp: -1, ArrowDown: 1, PageDown: 1 };
  const CLICK_KEYS = { "+": "+", "=": "+", "-": "-", "_": "-", i: "i", I: "i", a: "a", A: "a", " ": " " };
  let hovered = null;

  const slider = (viewer) => viewer.querySelector("[data-slider]");

  // Scroll the stack by moving the slider: its form asks for exactly that slice, so fast
  // wheel or key repeats coalesce into one request for where the user ended up.
  function sliceTo(viewer, target) {
    const range = slider(viewer);
    if (!range) return false;
    const value = Math.min(Math.max(target, Number(range.min)), Number(range.max));
    if (value === range.valueAsNumber) return true;
    range.value = value;
    viewer.dataset.pending = String(value);
    const output = viewer.querySelector("output");
    if (output) output.textContent = value;
    range.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function sliceStep(viewer, delta) {
    const range = slider(viewer);
    return range ? sliceTo(viewer, range.valueAsNumber + delta) : false;
  }

  function activeViewer() {
    const focused = document.activeElement && document.activeElement.closest(VIEWER);
    return focused || hovered;
  }

  function fullscreen(viewer) {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const viewer = activeViewer();
    if (!viewer || !window.htmx) return;
    const target = event.target;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) return;
    if (tag === "INPUT" && target.type !== "range") return;
    const onSlider = tag === "INPUT";
    let handled = false;
    if (event.key in STEP_KEYS && !onSlider) {
      handled = sliceStep(viewer, STEP_KEYS[event.key]);
    } else if ((event.key === "Home" || event.key === "End") && !onSlider) {
      const range = slider(viewer);
      handled = range ? sliceTo(viewer, Number(event.key === "Home" ? range.min : range.max)) : false;
    } else if (event.key === "f" || event.key === "F") {
      fullscreen(viewer);
      handled = true;
    } else {
      const key = CLICK_KEYS[event.key] || (/^[1-9]$/.test(event.key) ? event.key : null);
      const control = key && viewer.querySelector(`[data-key="${key}"]`);
      if (control) {
        // A key pressed right after a swap can beat htmx to the fresh controls.
        window.htmx.process(control);
        control.click();
        handled = true;
      }
    }
    if (handled) event.preventDefault();
  });

  let wheelAcc = 0;
  document.addEventListener("wheel", (event) => {
    const viewer = event.target.closest(VIEWER);
    if (!viewer || !window.htmx || !slider(viewer) || event.ctrlKey) return;
    event.preventDefault();
    // A mouse notch is one slice; small trackpad deltas add up first.
    const delta = event.deltaMode === 0 ? event.deltaY : event.deltaY * 40;
    wheelAcc = Math.abs(delta) >= 40 ? Math.sign(delta) * 40 : wheelAcc + delta;
    if (Math.abs(wheelAcc) >= 40) {
      sliceStep(viewer, Math.sign(wheelAcc));
      wheelAcc = 0;
    }
  }, { passive: false });

  // Neighbouring slices are fetched once a viewer is used, not for every figure on a page.
  function engage(event) {
    const viewer = event.target.closest && event.target.closest(VIEWER);
    if (!viewer) return;
    if (event.type === "mouseover") hovered = viewer;
    if (!viewer.dataset.engaged) {
      viewer.dataset.engaged = "1";
      const stage = viewer.querySelector(".viewer-stage");
      if (stage) preload(stage);
    }
  }
  document.addEventListener("mouseover", engage);
  document.addEventListener("focusin", engage);

  // Click to magnify: send the exact point in the image's own pixels ("x,y", as an ismap
  // image does without JavaScript, but corrected for the image being shown scaled).
  document.addEventListener("click", (event) => {
    const dragged = event.target.closest("[data-dragged]");
    if (dragged) {
      delete dragged.dataset.dragged;
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    const link = event.target.closest(".viewer-magnify");
    if (link && window.htmx && event.button === 0 && !event.ctrlKey && !event.metaKey) {
      const image = link.querySelector("img");
      const box = image.getBoundingClientRect();
      if (!box.width || !box.height) return;
      event.preventDefault();
      event.stopPropagation();
      const x = Math.round(((event.clientX - box.left) * image.naturalWidth) / box.width);
      const y = Math.round(((event.clientY - box.top) * image.naturalHeight) / box.height);
      window.htmx.ajax("GET", `${link.getAttribute("href")}${x},${y}`, { source: link });
      return;
    }
    const button = event.target.closest("[data-fullscreen]");
    if (button) fullscreen(button.closest(VIEWER));
  }, true);

  // Window/level by dragging, as on a PACS: with the right button (or Shift and the left),
  // right widens the window and down raises the centre. While dragging, the image alone is
  // swapped for the server's rendering at the new window (one request in flight, the latest
  // wins); letting go applies the window through the form, so the address bar and the
  // controls follow.
  const DRAG_FRAME_MS = 40;
  let drag = null;
  document.addEventListener("pointerdown", (event) => {
    const image = event.target.closest && event.target.closest(".viewer-image");
    const viewer = image && image.closest(VIEWER);
    const form = viewer && viewer.querySelector(".window-form");
    if (!form || !window.htmx || event.pointerType === "touch") return;
    if (!(event.button === 2 || (event.button === 0 && event.shiftKey))) return;
    const width = Number(form.elements.ww.value) || 256;
    const center = form.elements.wc.value === "" ? 128 : Number(form.elements.wc.value);
    drag = {
      image, viewer, form, button: event.button, x: event.clientX, y: event.clientY,
      width, center, step: Math.max(width / 200, 1), moved: false, loading: false, wanted: null,
    };
    image.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

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

  document.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    drag.moved = true;
    drag.ww = Math.max(1, Math.round(drag.width + dx * drag.step));
    drag.wc = Math.round(drag.center + dy * drag.step);
    windowShow(drag);
  });

  function dragEnd() {
    const state = drag;
    drag = null;
    if (!state || !state.moved) return;
    // Shift and the left button end with a click, which must not magnify.
    if (state.button === 0) state.viewer.dataset.dragged = "1";
    state.form.elements.ww.value = state.ww;
    state.form.elements.wc.value = state.wc;
    state.form.requestSubmit();
  }
  document.addEventListener("pointerup", dragEnd);
  document.addEventListener("pointercancel", dragEnd);
  // The right button on the image drags the window, so it opens no menu.
  document.addEventListener("contextmenu", (event) => {
    const image = event.target.closest && event.target.closest(".viewer-image");
    if (image && image.closest(VIEWER)) event.preventDefault();
  });
  document.addEventListener("dragstart", (event) => {
    if (event.target.closest && event.target.closest(".viewer-image")) event.preventDefault();
  });

  // Remember which control had focus: out-of-band swaps replace the controls.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const viewer = event.detail.elt.closest && event.detail.elt.closest(VIEWER);
    if (!viewer) return;
    const focused = document.activeElement;
    viewer.dataset.refocus = focused && viewer.contains(focused)
      ? focused.getAttribute("aria-label") || focused.textContent.trim() : "";
  });

  function stageReady(stage) {
    const viewer = stage.closest(VIEWER);
    if (!viewer) return;
    // A viewer inside a page with its own address (an unknown-case step) leaves it alone.
    const keepUrl = stage.closest("[data-keep-url]");
    if (!keepUrl && stage.dataset.url && location.pathname + location.search !== stage.dataset.url) {
      history.replaceState(history.state, "", stage.dataset.url);
    }
    const range = slider(viewer);
    const shown = stage.dataset.slice;
    if (viewer.dataset.pending === shown) delete viewer.dataset.pending;
    if (range && !viewer.dataset.pending && shown) range.value = shown;
    const wanted = viewer.dataset.refocus;
    if (wanted !== undefined) {
      delete viewer.dataset.refocus;
      const again = wanted && [...viewer.querySelectorAll("a, button, input")].find(
        (el) => (el.getAttribute("aria-label") || el.textContent.trim()) === wanted);
      if (again) again.focus();
      else if (!viewer.contains(document.activeElement)) viewer.focus({ preventScroll: true });
    }
    preload(stage);
    fullscreenButtons(viewer);
  }

  function preload(stage) {
    for (const url of (stage.dataset.preload || "").split(" ")) {
      if (url) new Image().src = url;
    }
  }

  function fullscreenButtons(root) {
    for (const button of root.querySelectorAll("[data-fullscreen]")) {
      if (document.fullscreenEnabled) button.hidden = false;
    }
  }

  document.addEventListener("htmx:afterSettle", (event) => {
    const stage = event.detail.elt;
    if (stage.classList && stage.classList.contains("viewer-stage")) stageReady(stage);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => fullscreenButtons(document));
  } else fullscreenButtons(document);
})();
