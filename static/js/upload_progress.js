/* Upload progress on the figure's admin page.
 *
 * When images are chosen (files, a zip or a folder), the form is sent with XMLHttpRequest so
 * that a progress bar can show how much has gone up; then the server checks and
 * de-identifies the images. The server answers such a request's redirect with
 * {"location": ...}, which this script opens (the save's messages are still there); a form
 * with errors comes back as the page, whose error lines are shown beside the bar, the chosen
 * files kept for another try. Without JavaScript the form posts as any admin form does.
 */
(function () {
  "use strict";

  var form = document.getElementById("figure_form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var inputs = form.querySelectorAll("input[type=file][name=upload], input[type=file][name=folder]");
  if (!inputs.length) return;

  var panel = document.createElement("div");
  panel.className = "cv-upload-progress";
  panel.hidden = true;
  var bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.id = "cv-upload-bar";
  var label = document.createElement("label");
  label.htmlFor = bar.id;
  label.textContent = "Upload";
  var status = document.createElement("p");
  status.className = "cv-upload-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  var errors = document.createElement("ul");
  errors.className = "errorlist cv-upload-errors";
  panel.append(label, bar, status, errors);
  inputs[inputs.length - 1].closest(".form-row").after(panel);

  function chosenBytes() {
    var total = 0;
    var count = 0;
    inputs.forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (file) {
        total += file.size;
        count += 1;
      });
    });
    return { bytes: total, count: count };
  }

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function buttons(disabled) {
    form.querySelectorAll("input[type=submit], button[type=submit]").forEach(function (button) {
      button.disabled = disabled;
    });
  }

  function showErrors(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var lines = [];
    page.querySelectorAll(".errornote, .errorlist li").forEach(function (node) {
      var text = node.textContent.replace(/\s+/g, " ").trim();
      if (text && lines.indexOf(text) < 0) lines.push(text);
    });
    if (!lines.length) lines.push("The server did not save the figure.");
    errors.replaceChildren.apply(errors, lines.map(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    status.textContent = "Nothing was saved. Correct the form and save again; the chosen files are kept.";
  }

  function fail(text) {
    buttons(false);
    status.textContent = text;
  }

  form.addEventListener("submit", function (event) {
    var chosen = chosenBytes();
    if (!chosen.count) return; // nothing to upload: the ordinary post
    event.preventDefault();
    var data = new FormData(form);
    if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.setRequestHeader("X-Upload-Progress", "1");
    request.upload.addEventListener("progress", function (progress) {
      var total = progress.lengthComputable ? progress.total : chosen.bytes;
      var share = total ? Math.min(100, Math.round((100 * progress.loaded) / total)) : 0;
      bar.value = share;
      status.textContent = "Uploading " + chosen.count + " file(s): " + megabytes(progress.loaded) +
        " of " + megabytes(total) + " (" + share + "%)";
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      bar.removeAttribute("value"); // indeterminate while the server works
      status.textContent = "Uploaded. Checking and de-identifying the images…";
    });
    request.addEventListener("load", function () {
      var type = request.getResponseHeader("Content-Type") || "";
      if (request.status === 200 && type.indexOf("application/json") === 0) {
        window.location.assign(JSON.parse(request.responseText).location);
      } else if (request.status === 200 || request.status === 422) {
        bar.value = 0;
        buttons(false);
        showErrors(request.responseText);
      } else {
        fail("The upload failed (HTTP " + request.status + "). Nothing was saved.");
      }
    });
    request.addEventListener("error", function () {
      fail("The upload was interrupted. Nothing was saved; save again to retry.");
    });
    errors.replaceChildren();
    panel.hidden = false;
    buttons(true);
    request.send(data);
  });
})();
