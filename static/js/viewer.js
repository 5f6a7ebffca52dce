// The figure viewer's optional niceties. Every control is also a plain link or GET form, and
// htmx swaps the image area; this adds the wheel, OHIF-style keys, click-to-magnify at the
// exact point, neighbour preloading, full screen, and keeps the address bar on the view.
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
