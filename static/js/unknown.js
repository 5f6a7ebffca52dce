// Unknown cases: the left and right arrow keys step back and forward (the links work alone too),
// and after a step is revealed in place, focus moves to what is new.
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  const rel = { ArrowRight: "next", ArrowLeft: "prev" }[event.key];
  if (!rel) return;
  const link = document.querySelector(`#unknown-step .step-nav a[rel=${rel}]`);
  if (!link) return;
  event.preventDefault();
  // A fast key press can land before htmx has wired up freshly swapped links.
  if (window.htmx) window.htmx.process(link);
  link.click();
});

document.addEventListener("htmx:afterSettle", (event) => {
  const step = document.getElementById("unknown-step");
  if (!step || !step.contains(event.target)) return;
  const fresh = step.querySelector(".reveal.new h2") || step.querySelector("h2");
  if (fresh) {
    fresh.setAttribute("tabindex", "-1");
    fresh.focus({ preventScroll: false });
  }
});
