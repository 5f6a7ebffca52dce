// Draw a click question's target: drag across the image and the region's fields fill in.
// Everything works without this file: the fields are typed. Used by the presenter's console
// (fields in percent of the image) and the conference admin's figure targets (fractions).
(() => {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const FIELDS = { x: ["left", "x"], y: ["top", "y"], w: ["width"], h: ["height"] };

  function field(form, key) {
    for (const name of FIELDS[key]) {
      const input = form.elements.namedItem(name);
      if (input) return input;
    }
    return null;
  }

  function fraction(canvas, event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1),
      y: Math.min(Math.max((event.clientY - box.top) / box.height, 0), 1),
    };
  }

  function shapeOf(form) {
    const input = form && form.elements.namedItem("shape");
    return input && input.value === "rect" ? "rect" : "ellipse";
  }

  // The region as an SVG shape in the overlay's 0-1 coordinates (attributes, not styles: CSP).
  function draw(overlay, region, shape) {
    overlay.replaceChildren();
    if (!region || region.w <= 0 || region.h <= 0) return;
    const el = document.createElementNS(SVG, shape);
    if (shape === "rect") {
      el.setAttribute("x", region.x);
      el.setAttribute("y", region.y);
      el.setAttribute("width", region.w);
      el.setAttribute("height", region.h);
    } else {
      el.setAttribute("cx", region.x + region.w / 2);
      el.setAttribute("cy", region.y + region.h / 2);
      el.setAttribute("rx", region.w / 2);
      el.setAttribute("ry", region.h / 2);
    }
    el.setAttribute("vector-effect", "non-scaling-stroke");
    overlay.appendChild(el);
  }

  function formOf(root) {
    return root.querySelector("form[data-target-form]") || root.closest("form");
  }

  function fromFields(root) {
    const form = formOf(root);
    if (!form) return null;
    const scale = Number(root.dataset.targetScale || 1);
    const region = {};
    for (const key of Object.keys(FIELDS)) {
      const input = field(form, key);
      const value = input ? Number.parseFloat(input.value) : Number.NaN;
      if (!Number.isFinite(value)) return null;
      region[key] = value / scale;
    }
    return region;
  }

  function toFields(root, region) {
    const form = formOf(root);
    if (!form) return;
    const scale = Number(root.dataset.targetScale || 1);
    const digits = scale === 100 ? 1 : 4;
    for (const key of Object.keys(FIELDS)) {
      const input = field(form, key);
      if (input) input.value = (region[key] * scale).toFixed(digits);
    }
  }

  let drag = null;

  document.addEventListener("pointerdown", (event) => {
    const canvas = event.target.closest && event.target.closest("[data-target-canvas]");
    if (!canvas || event.button !== 0) return;
    const root = canvas.closest("[data-target-draw]");
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drag = { root, canvas, start: fraction(canvas, event) };
  });

  document.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const at = fraction(drag.canvas, event);
    drag.region = {
      x: Math.min(drag.start.x, at.x),
      y: Math.min(drag.start.y, at.y),
      w: Math.abs(at.x - drag.start.x),
      h: Math.abs(at.y - drag.start.y),
    };
    const overlay = drag.canvas.querySelector("[data-target-overlay]");
    draw(overlay, drag.region, shapeOf(formOf(drag.root)));
  });

  function finish() {
    if (!drag) return;
    if (drag.region && drag.region.w > 0.005 && drag.region.h > 0.005) {
      toFields(drag.root, drag.region);
      const form = formOf(drag.root);
      const submit = form && form.querySelector("[data-target-submit]");
      if (submit) submit.focus();
    }
    drag = null;
  }
  document.addEventListener("pointerup", finish);
  document.addEventListener("pointercancel", finish);

  // Typing in the fields or changing the shape redraws the region.
  function redraw(root) {
    const overlay = root.querySelector("[data-target-overlay]");
    if (overlay) draw(overlay, fromFields(root), shapeOf(formOf(root)));
  }
  document.addEventListener("input", (event) => {
    const form = event.target.form;
    if (!form) return;
    const root = form.closest("[data-target-draw]") || form.querySelector("[data-target-draw]");
    if (root) redraw(root);
  });
  function init() {
    for (const root of document.querySelectorAll("[data-target-draw]")) redraw(root);
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
