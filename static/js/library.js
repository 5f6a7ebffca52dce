// The library's filters are a <details>: folded on phones so the first results show, open on
// wide screens (where library.css shows them regardless, in browsers that can). A results swap
// brings a fresh, folded <details>: it opens as the reader left the one before.
(() => {
  "use strict";
  const wide = window.matchMedia("(min-width: 761px)");
  let chosen = null; // the reader's own open or close, once they have clicked

  function apply(root) {
    for (const details of root.querySelectorAll("details.filters")) {
      details.open = chosen === null ? wide.matches : chosen;
    }
  }

  document.addEventListener("click", (event) => {
    const summary = event.target.closest && event.target.closest("details.filters > summary");
    if (summary) chosen = !summary.parentElement.open;
  });
  document.addEventListener("htmx:load", (event) => apply(event.detail.elt));
  wide.addEventListener("change", () => apply(document));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => apply(document));
  } else apply(document);
})();
