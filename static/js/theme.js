/* Theme: dark reading room by default, light a click away, remembered in a cookie.
 *
 * The server reads the cookie and sends the page with the theme already on <html>, so this
 * script is deferred: nothing waits for it before the first paint. The toggle button is
 * rendered hidden and only shown here, so without JavaScript nobody sees a button that does
 * nothing. localStorage carries the choice to other open tabs.
 */
(function () {
  "use strict";
  var KEY = "caseviewer-theme";
  var root = document.documentElement;
  var button = document.querySelector(".theme-toggle");

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    if (button) button.setAttribute("aria-pressed", theme === "light" ? "true" : "false");
  }

  function remember(theme) {
    document.cookie = "theme=" + theme + "; path=/; max-age=31536000; samesite=lax";
    try {
      window.localStorage.setItem(KEY, theme);
    } catch (e) {
      /* other tabs follow at their next page */
    }
  }

  // A choice stored by an earlier version of this script (in localStorage only): keep it.
  if (!/(^|;\s*)theme=/.test(document.cookie)) {
    var stored = null;
    try {
      stored = window.localStorage.getItem(KEY);
    } catch (e) {
      /* storage blocked */
    }
    if (stored === "light" || stored === "dark") {
      apply(stored);
      remember(stored);
    }
  }

  if (button) {
    button.hidden = false;
    apply(root.getAttribute("data-theme"));
    button.addEventListener("click", function () {
      var next = root.getAttribute("data-theme") === "light" ? "dark" : "light";
      apply(next);
      remember(next);
    });
  }

  // Another tab changed the theme: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key === KEY && (event.newValue === "light" || event.newValue === "dark")) {
      apply(event.newValue);
    }
  });
})();
