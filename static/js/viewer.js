// Optional niceties for the figure viewer; every control also works as a plain link or form.
// Mouse wheel over a stack image steps through its slices.
document.addEventListener("wheel", (event) => {
  const viewer = event.target.closest(".viewer");
  if (!viewer || !window.htmx) return;
  const link = viewer.querySelector(event.deltaY > 0 ? "a[rel=next]" : "a[rel=prev]");
  if (!link) return;
  event.preventDefault();
  if (viewer.dataset.busy) return;
  viewer.dataset.busy = "1";
  link.click();
}, { passive: false });
