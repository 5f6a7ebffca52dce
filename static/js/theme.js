/* Theme: dark reading room by default, light a click away, remembered in localStorage.
 *
 * Loaded synchronously in <head>, before the stylesheets, so a stored choice is on <html>
 * before the first paint (no flash of the wrong theme). The toggle button is rendered
 * hidden and only shown here, so without JavaScript nobody sees a button that does nothing.
 */
(function () {
  "use strict";
  var KEY = "caseviewer-theme";
  var root = document.documentElement;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch (e) {
      return null; // storage blocked: fall back to the default
    }
  }

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.querySelector(".theme-toggle");
    if (button) button.setAttribute("aria-pressed", theme === "light" ? "true" : "false");
  }

  apply(stored() || "dark");

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector(".theme-toggle");
    if (!button) return;
    button.hidden = false;
    apply(root.getAttribute("data-theme"));
    button.addEventListener("click", function () {
      var next = root.getAttribute("data-theme") === "light" ? "dark" : "light";
      apply(next);
      try {
        window.localStorage.setItem(KEY, next);
      } catch (e) {
        /* not remembered, still applied */
      }
    });
  });

  // Another tab changed the theme: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key === KEY && (event.newValue === "light" || event.newValue === "dark")) {
      apply(event.newValue);
    }
  });
})();
