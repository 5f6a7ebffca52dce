// Drag to reorder a collection: the numbers are filled in and the form submitted, so the
// order is saved exactly as with typed numbers or the arrow buttons (which work without JS).
(function () {
  "use strict";
  let dragged = null;

  function listOf(target) {
    return target.closest ? target.closest("[data-sortable]") : null;
  }

  document.addEventListener("dragstart", function (event) {
    const item = event.target.closest && event.target.closest("[data-sortable] > li[draggable]");
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.item);
  });

  document.addEventListener("dragover", function (event) {
    const list = listOf(event.target);
    if (!dragged || list !== dragged.parentElement) return;
    event.preventDefault();
    const over = event.target.closest("li");
    if (!over || over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    const list = dragged.parentElement;
    dragged.classList.remove("dragging");
    dragged = null;
    list.querySelectorAll("li input[type=number]").forEach(function (input, index) {
      input.value = index + 1;
    });
    const form = list.closest("form");
    if (form) form.requestSubmit();
  });
})();
