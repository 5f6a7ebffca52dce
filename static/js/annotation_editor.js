/* The figure page's annotation editor: marks drawn on the rendered slice.
 *
 * The numeric inline rows below it are its storage: placing, moving, rotating, relabelling
 * and deleting write into those rows' fields, and the admin's own Save saves them (without
 * JavaScript the rows are edited as numbers). The marks are drawn as the server draws them
 * (cases/imaging/render.py, _annotations_draw): in units of 1/512 of the image's longest side.
 * Slices are counted from 1 here and in the rows, as in the viewer.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var COLOUR = "rgb(255, 214, 10)";
  var KINDS = [
    ["select", "Select"],
    ["arrow", "Arrow"],
    ["thin-arrow", "Thin arrow"],
    ["arrowhead", "Arrowhead"],
    ["star", "Star"],
    ["ellipse", "Circle / ellipse"],
    ["text", "Text label"],
  ];
  var NAMES = {};
  KINDS.forEach(function (k) { NAMES[k[0]] = k[1]; });
  var ARROW_LENGTH = 60, HEAD_LENGTH = 20, LABEL_PX = 16, DRAG_MIN = 4;

  function el(tag, attrs, text) {
    var node = tag.indexOf("svg:") === 0
      ? document.createElementNS(SVG, tag.slice(4))
      : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) node.textContent = text;
    return node;
  }

  function round(value, digits) {
    var scale = Math.pow(10, digits);
    return Math.round(value * scale) / scale;
  }

  function clamp(value, low, high) { return Math.min(Math.max(value, low), high); }

  function Editor(root, data) {
    this.root = root;
    this.data = data;
    this.prefix = root.getAttribute("data-formset");
    this.group = document.getElementById(this.prefix + "-group");
    this.tool = "select";
    this.selected = null; // the selected mark's inline row
    this.undoStack = [];
    this.index = this.startIndex();
    this.presetIndex = 0;
    this.build();
    this.showSlice();
    this.draw();
  }

  Editor.prototype = {
    // --- the inline rows: the editor's storage ----------------------------------------------

    rows: function () {
      var template = document.getElementById(this.prefix + "-empty");
      return Array.prototype.filter.call(
        this.group.querySelectorAll("tr.form-row"),
        function (row) { return row !== template && !row.classList.contains("empty-form"); }
      );
    },

    field: function (row, name) {
      return row.querySelector("[name^='" + this.prefix + "-'][name$='-" + name + "']");
    },

    read: function (row) {
      var self = this;
      function number(name, fallback) {
        var input = self.field(row, name);
        var value = input ? parseFloat(input.value) : NaN;
        return isFinite(value) ? value : fallback;
      }
      var slice = this.field(row, "slice_number");
      var sliceNumber = slice && slice.value.trim() !== "" ? parseInt(slice.value, 10) : null;
      return {
        kind: (this.field(row, "kind") || {}).value || "arrow",
        x: number("x", NaN),
        y: number("y", NaN),
        angle: number("angle", 225),
        radius_x: number("radius_x", 0.08),
        radius_y: number("radius_y", 0.08),
        slice: isFinite(sliceNumber) ? sliceNumber : null,
        label: (this.field(row, "label") || {}).value || "",
      };
    },

    write: function (row, values) {
      var self = this;
      var text = {
        kind: values.kind,
        x: String(round(values.x, 4)),
        y: String(round(values.y, 4)),
        angle: String(round(((values.angle % 360) + 360) % 360, 1)),
        radius_x: String(round(values.radius_x, 4)),
        radius_y: String(round(values.radius_y, 4)),
        slice_number: values.slice === null ? "" : String(values.slice),
        label: values.label,
      };
      Object.keys(text).forEach(function (name) {
        var input = self.field(row, name);
        if (input && input.value !== text[name]) input.value = text[name];
      });
    },

    isDeleted: function (row) {
      var box = this.field(row, "DELETE");
      return row.classList.contains("annotation-row-dropped") || Boolean(box && box.checked);
    },

    setDeleted: function (row, deleted) {
      var box = this.field(row, "DELETE");
      if (row.classList.contains("has_original")) {
        if (box) box.checked = deleted;
        return;
      }
      // A row not yet saved keeps its place (so an undo can bring it back) and is dropped
      // by the formset's own DELETE field, which the admin renders only for saved rows.
      if (!box) {
        var id = row.id.replace(this.prefix + "-", "");
        box = el("input", { type: "hidden", name: this.prefix + "-" + id + "-DELETE", value: "" });
        row.lastElementChild.appendChild(box);
      }
      box.value = deleted ? "on" : "";
      row.classList.toggle("annotation-row-dropped", deleted);
    },

    addRow: function () {
      var add = this.group.querySelector(".add-row a");
      add.click();
      var template = document.getElementById(this.prefix + "-empty");
      return template.previousElementSibling;
    },

    live: function () {
      var self = this;
      return this.rows().filter(function (row) { return !self.isDeleted(row); });
    },

    onSlice: function (values) {
      return values.slice === null || values.slice === this.index + 1;
    },

    startIndex: function () {
      var count = this.data.slices.length;
      var self = this;
      var first = this.rows().map(function (row) { return self.read(row); })
        .find(function (v) { return v.slice !== null && v.slice >= 1 && v.slice <= count; });
      return first ? first.slice - 1 : Math.floor(count / 2);
    },

    // --- undo ----------------------------------------------------------------------------

    remember: function () {
      var self = this;
      this.undoStack.push({
        selected: this.selected,
        rows: this.rows().map(function (row) {
          return { row: row, values: self.read(row), deleted: self.isDeleted(row) };
        }),
      });
      if (this.undoStack.length > 100) this.undoStack.shift();
      this.undoButton.disabled = false;
    },

    undo: function () {
      var snapshot = this.undoStack.pop();
      if (!snapshot) return;
      var self = this;
      var known = snapshot.rows.map(function (entry) { return entry.row; });
      this.rows().forEach(function (row) {
        var index = known.indexOf(row);
        if (index === -1) {
          self.setDeleted(row, true); // added after the snapshot
        } else {
          self.write(row, snapshot.rows[index].values);
          self.setDeleted(row, snapshot.rows[index].deleted);
        }
      });
      this.selected = snapshot.selected && !this.isDeleted(snapshot.selected) ? snapshot.selected : null;
      this.undoButton.disabled = this.undoStack.length === 0;
      this.say("Undone.");
      this.draw(true);
    },

    // --- the page ------------------------------------------------------------------------

    build: function () {
      var self = this;
      var root = this.root;
      var count = this.data.slices.length;

      var tools = el("div", { class: "annotation-editor-tools", role: "toolbar", "aria-label": "Mark to place" });
      this.toolButtons = KINDS.map(function (kind) {
        var button = el("button", { type: "button", "data-tool": kind[0], "aria-pressed": "false" }, kind[1]);
        button.addEventListener("click", function () { self.setTool(kind[0]); });
        tools.appendChild(button);
        return button;
      });
      this.undoButton = el("button", { type: "button", class: "annotation-editor-undo", disabled: "" }, "Undo");
      this.undoButton.addEventListener("click", function () { self.undo(); });
      tools.appendChild(this.undoButton);

      var view = el("div", { class: "annotation-editor-view" });
      var sliceLabel = el("label", { class: "annotation-editor-slice" });
      sliceLabel.appendChild(document.createTextNode("Slice "));
      this.sliceInput = el("input", { type: "number", min: "1", max: String(count), step: "1", value: String(this.index + 1) });
      sliceLabel.appendChild(this.sliceInput);
      sliceLabel.appendChild(document.createTextNode(" of " + count));
      this.sliceRange = el("input", { type: "range", min: "1", max: String(count), value: String(this.index + 1), "aria-label": "Slice" });
      if (count < 2) {
        this.sliceInput.disabled = true;
        this.sliceRange.hidden = true;
      }
      [this.sliceInput, this.sliceRange].forEach(function (input) {
        input.addEventListener("input", function () {
          var value = parseInt(input.value, 10);
          if (isFinite(value)) self.goTo(value - 1);
        });
      });
      view.appendChild(sliceLabel);
      view.appendChild(this.sliceRange);
      var windowLabel = el("label", { class: "annotation-editor-window" }, "Window ");
      this.windowSelect = el("select");
      this.data.presets.forEach(function (preset, i) {
        var text = preset.label + (preset.ww === null ? "" : " " + preset.ww + "/" + preset.wc);
        self.windowSelect.appendChild(el("option", { value: String(i) }, text));
      });
      this.windowSelect.addEventListener("change", function () {
        self.presetIndex = parseInt(self.windowSelect.value, 10) || 0;
        self.showSlice();
      });
      windowLabel.appendChild(this.windowSelect);
      view.appendChild(windowLabel);

      var stage = el("div", { class: "annotation-editor-stage" });
      this.image = el("img", { alt: "", draggable: "false" });
      this.svg = el("svg:svg", {
        class: "annotation-editor-canvas", tabindex: "0", role: "application",
        "aria-describedby": "annotation-editor-help",
      });
      stage.appendChild(this.image);
      stage.appendChild(this.svg);

      var props = el("fieldset", { class: "annotation-editor-selected" });
      this.legend = el("legend", {}, "No mark selected");
      props.appendChild(this.legend);
      var labelField = el("label", {}, "Label ");
      this.labelInput = el("input", { type: "text", maxlength: "120", placeholder: "e.g. mass" });
      labelField.appendChild(this.labelInput);
      var angleField = el("label", {}, "Angle ");
      this.angleInput = el("input", { type: "number", step: "1", min: "0", max: "359" });
      angleField.appendChild(this.angleInput);
      var everyField = el("label", {});
      this.everyInput = el("input", { type: "checkbox" });
      everyField.appendChild(this.everyInput);
      everyField.appendChild(document.createTextNode(" On every slice"));
      this.rotateLeft = el("button", { type: "button", "aria-label": "Rotate counter-clockwise 15°" }, "↺ 15°");
      this.rotateRight = el("button", { type: "button", "aria-label": "Rotate clockwise 15°" }, "↻ 15°");
      this.deleteButton = el("button", { type: "button", class: "annotation-editor-delete" }, "Delete mark");
      [labelField, angleField, this.rotateLeft, this.rotateRight, everyField, this.deleteButton].forEach(function (node) {
        props.appendChild(node);
      });
      this.status = el("p", { class: "annotation-editor-status", role: "status", "aria-live": "polite" });

      root.appendChild(tools);
      root.appendChild(view);
      root.appendChild(stage);
      root.appendChild(props);
      root.appendChild(this.status);
      root.hidden = false;

      this.labelInput.addEventListener("focus", function () { self.labelEdited = false; });
      this.labelInput.addEventListener("input", function () {
        if (!self.selected) return;
        if (!self.labelEdited) { self.remember(); self.labelEdited = true; }
        self.change(function (v) { v.label = self.labelInput.value; });
      });
      this.labelInput.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { // not the admin's Save
          event.preventDefault();
          self.focusSelected();
        }
      });
      this.angleInput.addEventListener("change", function () {
        var value = parseFloat(self.angleInput.value);
        if (!self.selected || !isFinite(value)) return;
        self.remember();
        self.change(function (v) { v.angle = value; });
      });
      this.angleInput.addEventListener("keydown", function (event) {
        if (event.key === "Enter") event.preventDefault();
      });
      this.rotateLeft.addEventListener("click", function () { self.rotate(15); });
      this.rotateRight.addEventListener("click", function () { self.rotate(-15); });
      this.everyInput.addEventListener("change", function () {
        if (!self.selected) return;
        self.remember();
        var every = self.everyInput.checked;
        self.change(function (v) { v.slice = every ? null : self.index + 1; });
      });
      this.deleteButton.addEventListener("click", function () { self.remove(); });

      this.svg.addEventListener("pointerdown", function (event) { self.pointerDown(event); });
      this.svg.addEventListener("pointermove", function (event) { self.pointerMove(event); });
      this.svg.addEventListener("pointerup", function (event) { self.pointerUp(event); });
      this.svg.addEventListener("pointercancel", function () { self.drag = null; });
      this.svg.addEventListener("keydown", function (event) { self.key(event); });
      root.addEventListener("keydown", function (event) {
        if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z"
            && event.target.tagName !== "INPUT") {
          event.preventDefault();
          self.undo();
        }
      });
      // Numbers typed into the rows show at once; rows removed with their X disappear.
      this.group.addEventListener("input", function () { self.draw(); });
      this.group.addEventListener("change", function () { self.draw(); });
      document.addEventListener("formset:removed", function () { self.draw(); });
      this.setTool("select");
    },

    setTool: function (tool) {
      this.tool = tool;
      this.toolButtons.forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.getAttribute("data-tool") === tool));
      });
      this.svg.classList.toggle("is-placing", tool !== "select");
      this.describeCanvas();
    },

    describeCanvas: function () {
      var what = this.tool === "select"
        ? "select a mark with Tab"
        : "click, or press Enter, to place a " + NAMES[this.tool].toLowerCase();
      this.svg.setAttribute("aria-label", "Slice " + (this.index + 1) + " of " + this.data.slices.length + ": " + what);
    },

    say: function (text) { this.status.textContent = text; },

    goTo: function (index) {
      index = clamp(index, 0, this.data.slices.length - 1);
      if (index === this.index) return;
      this.index = index;
      if (this.selected && !this.onSlice(this.read(this.selected))) this.selected = null;
      this.showSlice();
      this.draw();
    },

    showSlice: function () {
      var slice = this.data.slices[this.index];
      var preset = this.data.presets[this.presetIndex] || { ww: null, wc: null };
      var url = new URL(slice.url, window.location.href);
      if (preset.ww !== null && preset.wc !== null) {
        url.searchParams.set("ww", preset.ww);
        url.searchParams.set("wc", preset.wc);
      }
      this.image.src = url.pathname + url.search;
      var longest = Math.max(slice.width, slice.height) || 1;
      this.width = 512 * (slice.width || 1) / longest;
      this.height = 512 * (slice.height || 1) / longest;
      this.svg.setAttribute("viewBox", "0 0 " + this.width + " " + this.height);
      this.image.setAttribute("width", String(Math.round(this.width * 2)));
      this.image.setAttribute("height", String(Math.round(this.height * 2)));
      this.sliceInput.value = String(this.index + 1);
      this.sliceRange.value = String(this.index + 1);
      this.describeCanvas();
    },

    // --- drawing (as render.py draws) ------------------------------------------------------

    draw: function (refocus) {
      var self = this;
      while (this.svg.firstChild) this.svg.removeChild(this.svg.firstChild);
      var live = this.live();
      var elsewhere = 0;
      if (this.selected && live.indexOf(this.selected) === -1) this.selected = null;
      live.forEach(function (row, number) {
        var values = self.read(row);
        if (!isFinite(values.x) || !isFinite(values.y)) return;
        if (!self.onSlice(values)) { elsewhere += 1; return; }
        var group = self.shape(values);
        var name = NAMES[values.kind] || values.kind;
        group.setAttribute("tabindex", "0");
        group.setAttribute("role", "button");
        group.setAttribute("aria-label", name + " " + (number + 1) + (values.label ? ": " + values.label : ""));
        group.classList.add("annotation-mark");
        if (row === self.selected) {
          group.classList.add("is-selected");
          group.setAttribute("aria-pressed", "true");
        }
        group.addEventListener("focus", function () {
          if (self.selected !== row) { self.selected = row; self.draw(true); }
        });
        group.annotationRow = row;
        self.svg.appendChild(group);
      });
      this.elsewhere = elsewhere;
      this.panel();
      if (refocus) this.focusSelected();
    },

    focusSelected: function () {
      var self = this;
      var target = Array.prototype.find.call(this.svg.querySelectorAll(".annotation-mark"), function (g) {
        return g.annotationRow === self.selected;
      });
      (target || this.svg).focus({ preventScroll: true });
    },

    shape: function (v) {
      var g = el("svg:g");
      var x = v.x * this.width, y = v.y * this.height;
      var rx = v.radius_x * this.width, ry = v.radius_y * this.height;
      var a = v.angle * Math.PI / 180;
      var dx = Math.cos(a), dy = -Math.sin(a), px = -dy, py = dx;
      function polygon(points) {
        g.appendChild(el("svg:polygon", {
          points: points.map(function (p) { return p[0] + "," + p[1]; }).join(" "),
          fill: COLOUR, stroke: "#000", "stroke-width": "1",
        }));
      }
      if (v.kind === "star") {
        var star = [];
        for (var i = 0; i < 10; i++) {
          var r = i % 2 === 0 ? 14 : 14 * 0.45;
          var t = (-90 + 36 * i) * Math.PI / 180;
          star.push([x + r * Math.cos(t), y + r * Math.sin(t)]);
        }
        polygon(star);
      } else if (v.kind === "ellipse") {
        var transform = "rotate(" + (-v.angle) + " " + x + " " + y + ")";
        g.appendChild(el("svg:ellipse", { cx: x, cy: y, rx: rx, ry: ry, fill: "none", stroke: "#000", "stroke-width": "5", transform: transform }));
        g.appendChild(el("svg:ellipse", { cx: x, cy: y, rx: rx, ry: ry, fill: "none", stroke: COLOUR, "stroke-width": "3", transform: transform }));
        // A transparent fill to grab the ring by.
        g.appendChild(el("svg:ellipse", { cx: x, cy: y, rx: rx, ry: ry, fill: "transparent", transform: transform }));
      } else if (v.kind !== "text") {
        var base = [x - dx * HEAD_LENGTH, y - dy * HEAD_LENGTH];
        if (v.kind !== "arrowhead") {
          var half = v.kind === "thin-arrow" ? 1.5 : 3;
          var start = [x - dx * ARROW_LENGTH, y - dy * ARROW_LENGTH];
          polygon([
            [start[0] + px * half, start[1] + py * half], [base[0] + px * half, base[1] + py * half],
            [base[0] - px * half, base[1] - py * half], [start[0] - px * half, start[1] - py * half],
          ]);
        }
        polygon([[x, y], [base[0] + px * 10, base[1] + py * 10], [base[0] - px * 10, base[1] - py * 10]]);
      }
      if (v.label || v.kind === "text") {
        var place = this.labelPlace(v, x, y, rx, ry, dx, dy);
        var text = el("svg:text", {
          x: place.x, y: place.y, "font-size": String(LABEL_PX), "text-anchor": place.anchor,
          "dominant-baseline": place.baseline, fill: COLOUR, stroke: "#000", "stroke-width": "2",
          "paint-order": "stroke", class: "annotation-label",
        }, v.label || "(label)");
        g.appendChild(text);
      }
      // The selection ring, and a larger target for the pointer.
      g.appendChild(el("svg:circle", { cx: x, cy: y, r: v.kind === "ellipse" ? 6 : 18, class: "annotation-handle" }));
      return g;
    },

    labelPlace: function (v, x, y, rx, ry, dx, dy) {
      if (v.kind === "text") return { x: x, y: y, anchor: "middle", baseline: "central" };
      if (v.kind === "star") return { x: x + 17, y: y, anchor: "start", baseline: "central" };
      if (v.kind === "ellipse") {
        var a = v.angle * Math.PI / 180;
        var half = Math.hypot(rx * Math.sin(a), ry * Math.cos(a));
        return { x: x, y: y - half - 4, anchor: "middle", baseline: "text-after-edge" };
      }
      var length = (v.kind === "arrowhead" ? HEAD_LENGTH : ARROW_LENGTH) + 4;
      return {
        x: x - dx * length,
        y: y - dy * length,
        anchor: dx > 0.38 ? "end" : dx < -0.38 ? "start" : "middle",
        baseline: dy > 0.38 ? "text-after-edge" : dy < -0.38 ? "text-before-edge" : "central",
      };
    },

    panel: function () {
      var has = Boolean(this.selected);
      var values = has ? this.read(this.selected) : null;
      [this.labelInput, this.angleInput, this.everyInput, this.rotateLeft, this.rotateRight, this.deleteButton]
        .forEach(function (input) { input.disabled = !has; });
      var others = this.elsewhere ? " · " + this.elsewhere + " on other slices" : "";
      if (!has) {
        this.legend.textContent = "No mark selected" + others;
        this.labelInput.value = "";
        this.angleInput.value = "";
        this.everyInput.checked = false;
        return;
      }
      var number = this.live().indexOf(this.selected) + 1;
      this.legend.textContent = (NAMES[values.kind] || values.kind) + " " + number + " selected" + others;
      if (document.activeElement !== this.labelInput) this.labelInput.value = values.label;
      if (document.activeElement !== this.angleInput) this.angleInput.value = String(round(values.angle, 1));
      this.everyInput.checked = values.slice === null;
      this.everyInput.disabled = this.data.slices.length < 2;
    },

    // --- editing ---------------------------------------------------------------------------

    change: function (update) {
      var values = this.read(this.selected);
      update(values);
      this.write(this.selected, values);
      this.draw();
    },

    place: function (x, y) {
      this.remember();
      var row = this.addRow();
      var kind = this.tool;
      this.write(row, {
        kind: kind, x: clamp(x, 0, 1), y: clamp(y, 0, 1),
        angle: kind === "ellipse" || kind === "text" ? 0 : 225,
        radius_x: 0.08 * Math.max(this.width, this.height) / this.width,
        radius_y: 0.08 * Math.max(this.width, this.height) / this.height,
        slice: this.data.slices.length > 1 ? this.index + 1 : null,
        label: "",
      });
      this.selected = row;
      this.say(NAMES[kind] + " placed on slice " + (this.index + 1) + ".");
      this.draw(true);
      return row;
    },

    rotate: function (degrees) {
      if (!this.selected) return;
      this.remember();
      this.change(function (v) { v.angle += degrees; });
      this.focusSelected();
    },

    nudge: function (dx, dy) {
      if (!this.selected) return;
      var self = this;
      this.remember();
      this.change(function (v) {
        v.x = clamp(v.x + dx / self.width, 0, 1);
        v.y = clamp(v.y + dy / self.height, 0, 1);
      });
      this.focusSelected();
    },

    remove: function () {
      if (!this.selected) return;
      this.remember();
      var name = NAMES[this.read(this.selected).kind];
      this.setDeleted(this.selected, true);
      this.selected = null;
      this.say(name + " deleted (Undo brings it back).");
      this.draw();
      this.svg.focus({ preventScroll: true });
    },

    point: function (event) {
      var box = this.svg.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) / box.width,
        y: (event.clientY - box.top) / box.height,
      };
    },

    pointerDown: function (event) {
      if (event.button !== 0) return;
      var p = this.point(event);
      var mark = event.target.closest ? event.target.closest(".annotation-mark") : null;
      event.preventDefault();
      this.svg.setPointerCapture(event.pointerId);
      // With a mark tool chosen, a press on the selected mark still moves it.
      if (mark && (this.tool === "select" || mark.annotationRow === this.selected)) {
        this.selected = mark.annotationRow;
        var values = this.read(this.selected);
        this.drag = { mode: "move", start: p, origin: { x: values.x, y: values.y }, remembered: false };
        this.draw(true);
        return;
      }
      if (this.tool === "select") {
        this.selected = null;
        this.drag = null;
        this.draw();
        this.svg.focus({ preventScroll: true });
        return;
      }
      var row = this.place(p.x, p.y);
      this.drag = { mode: "shape", start: p, row: row };
    },

    pointerMove: function (event) {
      if (!this.drag) return;
      var p = this.point(event);
      var self = this;
      var dx = (p.x - this.drag.start.x) * this.width;
      var dy = (p.y - this.drag.start.y) * this.height;
      if (this.drag.mode === "move") {
        if (!this.drag.remembered) {
          if (Math.hypot(dx, dy) < 1) return;
          this.remember();
          this.drag.remembered = true;
        }
        var origin = this.drag.origin;
        this.change(function (v) {
          v.x = clamp(origin.x + p.x - self.drag.start.x, 0, 1);
          v.y = clamp(origin.y + p.y - self.drag.start.y, 0, 1);
        });
        return;
      }
      if (Math.hypot(dx, dy) < DRAG_MIN) return;
      this.change(function (v) {
        if (v.kind === "ellipse") {
          var rx = Math.abs(dx), ry = Math.abs(dy);
          if (event.shiftKey) rx = ry = Math.max(rx, ry);
          v.radius_x = Math.max(rx, 2) / self.width;
          v.radius_y = Math.max(ry, 2) / self.height;
        } else if (v.kind !== "star" && v.kind !== "text") {
          // The press marks what the arrow points at; it comes from where the pointer went.
          v.angle = Math.atan2(dy, -dx) * 180 / Math.PI;
        }
      });
    },

    pointerUp: function () {
      if (!this.drag) return;
      var placed = this.drag.mode === "shape" ? this.drag.row : null;
      this.drag = null;
      this.focusSelected();
      if (placed && this.read(placed).kind === "text") this.labelInput.focus();
    },

    key: function (event) {
      var step = event.shiftKey ? 10 : 1;
      var handled = true;
      switch (event.key) {
        case "ArrowLeft": this.nudge(-step, 0); break;
        case "ArrowRight": this.nudge(step, 0); break;
        case "ArrowUp": this.nudge(0, -step); break;
        case "ArrowDown": this.nudge(0, step); break;
        case "[": this.rotate(event.shiftKey ? 1 : 15); break;
        case "]": this.rotate(event.shiftKey ? -1 : -15); break;
        case "Delete":
        case "Backspace": this.remove(); break;
        case "Escape": this.selected = null; this.draw(); this.svg.focus({ preventScroll: true }); break;
        case "PageUp": this.goTo(this.index - 1); break;
        case "PageDown": this.goTo(this.index + 1); break;
        case "Enter":
          if (this.tool !== "select") this.place(0.5, 0.5);
          else handled = false;
          break;
        default: handled = false;
      }
      if (handled) event.preventDefault();
    },
  };

  function start() {
    var root = document.getElementById("annotation-editor");
    var source = document.getElementById("annotation-editor-data");
    if (!root || !source) return;
    var data = JSON.parse(source.textContent);
    if (!data.slices.length || !document.getElementById(root.getAttribute("data-formset") + "-group")) return;
    window.annotationEditor = new Editor(root, data);
  }

  // On "load": Django's inlines.js sets up the rows (and their "Add another" link) on ready.
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
