/* Names for the admin widgets Django leaves unnamed, so screen readers (and axe) can tell
 * the fields of a case's change form apart:
 * - inputs in tabular inline rows get "<column> (<inline> row n)" from their column header;
 * - select2 autocomplete boxes point at their label (or the inline column);
 * - filter_horizontal's search icon is a span with aria-label, which no role allows: it
 *   becomes an image with that name.
 * Runs on load and again whenever an inline row is added.
 */
(function () {
  "use strict";

  function text(node) {
    return node ? node.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function labelTabular(root) {
    root.querySelectorAll("div.tabular table").forEach(function (table) {
      var heading = text(table.closest(".inline-group") && table.closest(".inline-group").querySelector("h2"));
      var columns = Array.prototype.map.call(table.querySelectorAll("thead th"), text);
      table.querySelectorAll("tbody tr.form-row").forEach(function (row, index) {
        Array.prototype.forEach.call(row.children, function (cell, column) {
          var name = columns[column] || (cell.className.match(/field-(\S+)/) || [])[1] || "";
          cell.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (field) {
            if (field.labels && field.labels.length) return;
            if (field.hasAttribute("aria-label")) return;
            var label = name || (field.type === "checkbox" && /DELETE/.test(field.name) ? "Delete" : "");
            if (!label) return;
            field.setAttribute("aria-label", label + " (" + heading + " row " + (index + 1) + ")");
          });
        });
      });
    });
  }

  function labelSelect2(root) {
    root.querySelectorAll(".select2-selection[role=combobox]").forEach(function (box) {
      if (box.hasAttribute("aria-label")) return;
      var container = box.closest(".select2-container");
      var select = container && container.previousElementSibling;
      if (!select || select.tagName !== "SELECT") return;
      var label = select.getAttribute("aria-label") || text(select.labels && select.labels[0]);
      if (!label) return;
      // select2 points aria-labelledby at the chosen value, which is empty until one is.
      box.removeAttribute("aria-labelledby");
      box.setAttribute("aria-label", label);
      box.querySelectorAll(".select2-selection__rendered[role]").forEach(function (shown) {
        shown.setAttribute("aria-label", label);
      });
    });
  }

  function fixTooltips(root) {
    root.querySelectorAll("span.help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }

  function fix() {
    labelTabular(document);
    labelSelect2(document); // after labelTabular: select2 boxes inherit the new names
    fixTooltips(document);
  }

  // After Django's own scripts (SelectFilter, select2) have built their widgets: their load
  // listeners are all registered by DOMContentLoaded, so this one runs after them.
  // select2 may build its boxes later still, so widgets that appear are named as they come.
  var pending = false;
  function fixSoon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      fix();
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    window.addEventListener("load", function () {
      fix();
      new MutationObserver(fixSoon).observe(document.body, { childList: true, subtree: true });
    });
  });
  document.addEventListener("formset:added", function () {
    window.setTimeout(fix, 0);
  });
})();
