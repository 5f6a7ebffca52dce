// Live conference pages. Everything works without this file (the audience page reloads every
// few seconds; the presenter posts forms); with it, the room follows the presenter: each
// change arrives on the push stream (htmx's SSE extension) as the new screen, polling once a
// second while the stream is silent, and the presenter drives with the keyboard and the viewer.
(() => {
  "use strict";

  // --- the audience ---------------------------------------------------------------------
  const poll = () => document.getElementById("live-poll");
  const bar = () => document.getElementById("live-bar");
  let following = true;
  let forceNext = false;
  // The stream counts as live while it has said something lately (the server pings every
  // 15 s): a proxy that buffers lets it open but holds its events, and then the page polls.
  const STREAM_QUIET_MS = 20000;
  const POLL_WHILE_STREAMING_MS = 15000; // still counted in the room, and a safety net
  let streamHeard = 0;
  let lastPoll = 0;

  const streamSays = (what) => { const p = poll(); if (p) p.dataset.stream = what; };
  document.addEventListener("htmx:sseOpen", (event) => {
    streamSays("open");
    const heard = () => { streamHeard = Date.now(); streamSays("heard"); };
    event.detail.source.addEventListener("state", heard);
    event.detail.source.addEventListener("ping", heard);
    event.detail.source.addEventListener("screen", (message) => {
      heard();
      showScreen(message.data);
    });
  });

  const versionOf = (html) => {
    const found = /data-version="(\d+)"/.exec(html);
    return found ? Number(found[1]) : 0;
  };

  // The stream brings the new screen itself (the bar and the stage, the same for everyone):
  // swapped in as the poll's answer would be, with no request. A question's panel holds the
  // member's own answer, so it is fetched, and only when the bar says it changed.
  function showScreen(html) {
    const p = poll();
    const shown = bar();
    if (!p || !shown || !window.htmx) return;
    // Two presenters' changes may cross on the way: never step back to an older screen.
    if (versionOf(html) <= Number(shown.dataset.version || 0)) return;
    const template = document.createElement("template");
    template.innerHTML = html;
    const fresh = template.content.getElementById("live-bar");
    const question = document.getElementById("live-question");
    // With a question put, the panel is left out of the screen: fetch it if it changed.
    const questionChanged = fresh && question && !template.content.getElementById("live-question") &&
      fresh.dataset.questionKey !== question.dataset.key;
    const select = following ? p.dataset.followSelect : p.dataset.freeSelect;
    window.htmx.swap(p, html, { swapStyle: "none" }, { selectOOB: select, contextElement: p });
    if (questionChanged) {
      forceNext = true;
      window.htmx.trigger(p, "cv:poll");
    }
  }

  document.addEventListener("htmx:sseError", () => { streamHeard = 0; streamSays("error"); });

  document.addEventListener("htmx:confirm", (event) => {
    // The timer's polls (no triggering event) wait while the stream speaks for them.
    if (event.detail.elt.id !== "live-poll" || event.detail.triggeringEvent) return;
    const now = Date.now();
    if (now - streamHeard < STREAM_QUIET_MS && now - lastPoll < POLL_WHILE_STREAMING_MS) {
      event.preventDefault();
    }
  });

  function syncFollow() {
    const p = poll();
    if (p) {
      p.setAttribute("hx-select-oob", following ? p.dataset.followSelect : p.dataset.freeSelect);
    }
    const button = document.querySelector("[data-follow]");
    if (button) {
      button.hidden = false;
      button.setAttribute("aria-pressed", String(following));
      button.textContent = following ? "Following the presenter" : "Follow the presenter";
    }
    const snap = document.querySelector("[data-snap-back]");
    if (snap) snap.hidden = following;
    document.body.classList.toggle("is-free", !following);
  }

  function follow(on) {
    const was = following;
    following = on;
    syncFollow();
    if (on && !was) {
      // Fetch the presenter's state now, whatever this page last saw.
      forceNext = true;
      const p = poll();
      if (p && window.htmx) window.htmx.trigger(p, "cv:poll");
    }
  }

  document.addEventListener("htmx:configRequest", (event) => {
    const elt = event.detail.elt;
    if (elt.id === "live-poll") {
      lastPoll = Date.now();
      const shown = bar();
      if (shown && shown.dataset.etag && !forceNext) {
        event.detail.headers["If-None-Match"] = shown.dataset.etag;
      }
      forceNext = false;
      return;
    }
    // The presenter's viewer drives the room: its links and forms post the view.
    if (elt.closest && elt.closest("[data-drive]") && event.detail.verb === "get") {
      // htmx chose the headers for a GET: name the body's encoding for the POST.
      event.detail.verb = "post";
      event.detail.useUrlParams = false;
      event.detail.headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    // Looking around on one's own: stop following until "Back to the presenter's view".
    const elt = event.detail.elt;
    if (elt.closest && elt.closest("#live-stage [data-viewer]") && following) follow(false);
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr && event.detail.xhr.status === 304) event.detail.shouldSwap = false;
    // A poll sent before the stream brought a newer screen answers with the older one.
    const shown = bar();
    if (event.detail.elt.id === "live-poll" && shown && event.detail.shouldSwap &&
        versionOf(event.detail.serverResponse || "") < Number(shown.dataset.version || 0)) {
      event.detail.shouldSwap = false;
    }
  });

  // An unchanged question keeps its half-typed answer; an unchanged stage keeps its image.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const { target, fragment } = event.detail;
    if (!target || !target.dataset || target.dataset.key === undefined) return;
    const fresh = fragment.firstElementChild;
    if (fresh && fresh.id === target.id && fresh.dataset.key === target.dataset.key) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "live-bar") syncFollow();
  });
  document.addEventListener("htmx:afterSettle", syncFollow);

  document.addEventListener("click", (event) => {
    const toggle = event.target.closest("[data-follow]");
    if (toggle) {
      follow(!following);
      return;
    }
    const snap = event.target.closest("[data-snap-back]");
    if (snap && poll() && window.htmx) {
      event.preventDefault();
      follow(true);
      return;
    }
    // A click answer: send the point in the rendered image's own pixels.
    const target = event.target.closest("[data-click-answer]");
    if (target) {
      const box = target.getBoundingClientRect();
      const form = target.form;
      if (!box.width || !box.height || !form) return;
      // An image button has no naturalWidth: its width attribute is the rendered image's.
      const width = Number(target.getAttribute("width")) || box.width;
      const height = Number(target.getAttribute("height")) || box.height;
      form.elements.px.value = Math.round(((event.clientX - box.left) * width) / box.width);
      form.elements.py.value = Math.round(((event.clientY - box.top) * height) / box.height);
    }
  }, true);

  // --- the presenter --------------------------------------------------------------------
  const KEYS = { ArrowRight: "ArrowRight", ArrowLeft: "ArrowLeft", n: "n", N: "n", p: "p", P: "p" };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const consoleElt = document.querySelector("[data-console]");
    if (!consoleElt) return;
    const tag = event.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable) return;
    const key = KEYS[event.key];
    const button = key && consoleElt.querySelector(`[data-console-key="${key}"]:not([disabled])`);
    if (button) {
      event.preventDefault();
      button.click();
    }
  });

  document.addEventListener("DOMContentLoaded", syncFollow);
})();
