/* The scripts of a page that is one picture (a figure's own page), run after the window's load
 * event: their download and start-up then come after the picture is on screen instead of
 * before. Until they have run the page is plain HTML that works (links, forms, a click to
 * magnify). They are the page's usual script tags, kept inert in a <template> until then,
 * and run in their order as deferred scripts are. After the load event, not before: htmx
 * only starts on a document that is still loading or has finished loading. And a frame
 * later, so that the frame showing the picture is drawn before they start.
 */
(function () {
  "use strict";
  function run() {
    var later = document.getElementById("scripts-after-load");
    if (!later) return;
    var script;
    later.content.querySelectorAll("script[src]").forEach(function (tag) {
      script = document.createElement("script");
      script.src = tag.getAttribute("src");
      script.async = false;
      document.head.appendChild(script);
    });
    // Once the last has run, the page says so (the browser tests wait for it).
    if (script) {
      script.addEventListener("load", function () {
        later.dataset.ran = "";
      });
    }
  }
  function afterNextFrame() {
    requestAnimationFrame(function () {
      setTimeout(run, 0);
    });
  }
  if (document.readyState === "complete") afterNextFrame();
  else window.addEventListener("load", afterNextFrame, { once: true });
})();
