// The value under the pointer (HU for CT), as a PACS shows it: on a pause of the pointer over
// a viewer's image, one small request to the stage's data-value-url (cases.imaging.views
// .slice_value, cached by the browser like an image), shown in its [data-value-readout].
//
// Contract with viewer.js (which may pan and zoom on its own): the stage carries
// data-value-url, data-source-width/-height and data-zoom/-cx/-cy (the magnified box, as
// fractions of the image). A script that transforms the image itself can set
// stage.sourcePoint = (clientX, clientY) => [x, y] in source pixels (or null when outside);
// this file then uses it instead of the data attributes.
(() => {
  const PAUSE_MS = 90;
  let timer = 0;
  let last = "";

  function sourcePoint(stage, image, event) {
    if (typeof stage.sourcePoint === "function") return stage.sourcePoint(event.clientX, event.clientY);
    const box = image.getBoundingClientRect();
    if (!box.width || !box.height) return null;
    const fx = (event.clientX - box.left) / box.width;
    const fy = (event.clientY - box.top) / box.height;
    if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return null;
    const zoom = parseFloat(stage.dataset.zoom) || 1;
    const cx = parseFloat(stage.dataset.cx) || 0.5;
    const cy = parseFloat(stage.dataset.cy) || 0.5;
    const width = parseFloat(stage.dataset.sourceWidth);
    const height = parseFloat(stage.dataset.sourceHeight);
    return [(cx - 0.5 / zoom + fx / zoom) * width, (cy - 0.5 / zoom + fy / zoom) * height];
  }

  async function show(stage, point) {
    const readout = stage.querySelector("[data-value-readout]");
    if (!readout) return;
    const x = Math.floor(point[0]);
    const y = Math.floor(point[1]);
    const url = `${stage.dataset.valueUrl}?x=${x}&y=${y}`;
    if (url === last) return;
    last = url;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok || url !== last) return;
      const value = await response.json();
      readout.textContent = `X ${value.x} Y ${value.y} · ${value.text}`;
      readout.hidden = false;
    } catch {
      // Offline or the page moved on: the readout just stays as it was.
    }
  }

  document.addEventListener("pointermove", (event) => {
    const image = event.target.closest?.(".viewer-image");
    const stage = image?.closest("[data-value-url]");
    clearTimeout(timer);
    if (!stage || !stage.dataset.valueUrl) return;
    timer = setTimeout(() => {
      const point = sourcePoint(stage, image, event);
      if (point) show(stage, point);
    }, PAUSE_MS);
  });
  document.addEventListener("pointerout", (event) => {
    const stage = event.target.closest?.("[data-value-url]");
    if (stage && !stage.contains(event.relatedTarget)) {
      clearTimeout(timer);
      last = "";
      const readout = stage.querySelector("[data-value-readout]");
      if (readout) readout.hidden = true;
    }
  });
})();
