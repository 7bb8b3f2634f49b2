// homesoc web UI: KQL syntax highlighting with the server's error span
// underlined, autocompletion of names, and Ctrl+Enter to run a query.
// Everything else is plain HTML forms, so the UI works without this script.
"use strict";

(function () {
  const KEYWORDS = new Set([
    "and", "or", "not", "by", "on", "kind", "with", "let", "in", "between",
    "has", "contains", "startswith", "endswith", "matches", "regex", "asc",
    "desc", "nulls", "first", "last", "true", "false", "typeof", "step",
    "from", "to", "withsource", "isfuzzy", "inner", "leftouter", "rightouter",
    "fullouter", "leftanti", "rightanti", "leftsemi", "rightsemi", "innerunique",
    "where", "filter", "project", "extend", "summarize", "sort", "order",
    "take", "limit", "top", "count", "distinct", "join", "union", "render",
    "parse", "mv-expand", "make-series", "evaluate", "invoke", "as", "print",
    "range", "search", "sample", "serialize", "getschema", "datatable",
    "externaldata", "project-away", "project-rename", "project-reorder",
    "project-keep", "lookup", "find", "facet", "fork", "partition", "scan",
    "top-nested", "mv-apply", "parse-where", "parse-kv", "as"
  ]);

  const TOKEN = /(\/\/[^\n]*)|(@?"(?:[^"\\\n]|\\.)*"?|@?'(?:[^'\\\n]|\\.)*'?)|(\b\d+(?:\.\d+)?(?:[a-z]+)?\b)|([A-Za-z_][A-Za-z0-9_-]*)|(\|)|([\s\S])/g;

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // Returns the highlighted HTML of `text`, with the UTF-16 range
  // [errorStart, errorEnd) wrapped in a mark.
  function highlight(text, errorStart, errorEnd) {
    const pieces = [];
    TOKEN.lastIndex = 0;
    let match;
    while ((match = TOKEN.exec(text)) !== null) {
      let kind = null;
      if (match[1] !== undefined) kind = "tok-comment";
      else if (match[2] !== undefined) kind = "tok-string";
      else if (match[3] !== undefined) kind = "tok-number";
      else if (match[4] !== undefined && KEYWORDS.has(match[4].toLowerCase())) kind = "tok-keyword";
      else if (match[5] !== undefined) kind = "tok-pipe";
      pieces.push({ start: match.index, text: match[0], kind: kind });
    }
    let html = "";
    for (const piece of pieces) {
      const end = piece.start + piece.text.length;
      // Split the token at the error span's edges.
      const cuts = [piece.start, end];
      if (errorStart > piece.start && errorStart < end) cuts.push(errorStart);
      if (errorEnd > piece.start && errorEnd < end) cuts.push(errorEnd);
      cuts.sort(function (a, b) { return a - b; });
      for (let i = 0; i + 1 < cuts.length; i++) {
        const part = text.slice(cuts[i], cuts[i + 1]);
        if (part === "") continue;
        let inner = escapeHtml(part);
        if (piece.kind) inner = '<span class="' + piece.kind + '">' + inner + "</span>";
        if (cuts[i] >= errorStart && cuts[i] < errorEnd) inner = '<mark class="error-span">' + inner + "</mark>";
        html += inner;
      }
    }
    if (errorStart >= text.length && errorEnd > errorStart) {
      html += '<mark class="error-span"> </mark>';
    }
    return html + "\n";
  }

  function setUpEditor() {
    const area = document.getElementById("kql");
    const overlay = document.getElementById("kql-highlight");
    if (!area || !overlay) return;
    const original = area.value;
    const errorStart = parseInt(area.dataset.errorStart || "-1", 10);
    const errorEnd = parseInt(area.dataset.errorEnd || "-1", 10);
    area.classList.add("overlaid");

    function refresh() {
      // The server's error span applies to the text it ran; after an
      // edit it no longer does.
      const unchanged = area.value === original;
      overlay.innerHTML = unchanged && errorStart >= 0
        ? highlight(area.value, errorStart, errorEnd)
        : highlight(area.value, -1, -1);
      overlay.scrollTop = area.scrollTop;
      overlay.scrollLeft = area.scrollLeft;
    }
    area.addEventListener("input", refresh);
    area.addEventListener("scroll", function () {
      overlay.scrollTop = area.scrollTop;
      overlay.scrollLeft = area.scrollLeft;
    });
    area.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        area.form.requestSubmit();
      }
    });
    refresh();
    setUpCompletion(area, refresh);
  }

  // Autocompletion of tables, columns, functions and operators, with the
  // names from /ui/logs/schema. Tables complete at the start of the query
  // and after union, join and "(", operators after a pipe, and columns of
  // the tables the query names (then functions) everywhere else.
  function setUpCompletion(area, refresh) {
    const editor = area.parentElement;
    const list = document.createElement("ul");
    list.id = "kql-suggestions";
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Suggestions");
    list.hidden = true;
    editor.appendChild(list);
    const mirror = document.createElement("pre");
    mirror.className = "highlight mirror";
    mirror.setAttribute("aria-hidden", "true");
    editor.appendChild(mirror);
    area.setAttribute("aria-autocomplete", "list");
    area.setAttribute("aria-controls", list.id);

    let schema = null;
    let loading = null;
    let items = [];
    let active = 0;
    let wordStart = 0;

    function load() {
      if (schema || loading) return loading;
      loading = fetch("/ui/logs/schema", { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) { schema = body; })
        .catch(function () { schema = null; });
      return loading;
    }

    function close() {
      list.hidden = true;
      items = [];
      area.removeAttribute("aria-activedescendant");
    }

    // Returns the kind of name expected at `start` in `text`: a table at
    // the start of a statement and after union, join or lookup, an
    // operator after a pipe, a column or function elsewhere.
    function context(text, start) {
      const before = text.slice(0, start).replace(/\/\/[^\n]*/g, "");
      if (/(^|;)\s*$/.test(before)) return "table";
      if (/\|\s*$/.test(before)) return "operator";
      const segment = before.slice(before.lastIndexOf("|") + 1);
      if (/^\s*union\b/i.test(segment) && /(\bunion|,|\()\s*$/i.test(before)) return "table";
      if (/\b(join|lookup)(\s+kind\s*=\s*[a-z]+)?\s*\(?\s*$/i.test(before)) return "table";
      return "column";
    }

    function candidates(kind, text) {
      if (!schema) return [];
      const tables = Object.keys(schema.tables);
      if (kind === "table") return tables.map(function (name) { return { name: name, kind: "table" }; });
      if (kind === "operator") return schema.operators.map(function (name) { return { name: name, kind: "operator" }; });
      const named = tables.filter(function (name) { return new RegExp("\\b" + name + "\\b").test(text); });
      const seen = new Set();
      const out = [];
      for (const table of named) {
        for (const column of schema.tables[table]) {
          if (!seen.has(column)) { seen.add(column); out.push({ name: column, kind: "column" }); }
        }
      }
      for (const name of schema.functions) out.push({ name: name + "(", kind: "function" });
      return out;
    }

    function place() {
      const caret = area.selectionStart;
      mirror.textContent = area.value.slice(0, caret);
      const marker = document.createElement("span");
      marker.textContent = "\u200b";
      mirror.appendChild(marker);
      const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
      list.style.top = (marker.offsetTop - area.scrollTop + lineHeight + 2) + "px";
      list.style.left = Math.min(marker.offsetLeft, Math.max(0, area.clientWidth - 280)) + "px";
    }

    function show() {
      list.innerHTML = "";
      items.forEach(function (item, index) {
        const option = document.createElement("li");
        option.id = "kql-suggestion-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", index === active ? "true" : "false");
        option.textContent = item.name;
        const kind = document.createElement("span");
        kind.className = "kind";
        kind.textContent = item.kind;
        option.appendChild(kind);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          active = index;
          accept();
        });
        list.appendChild(option);
      });
      list.hidden = items.length === 0;
      if (items.length) {
        area.setAttribute("aria-activedescendant", "kql-suggestion-" + active);
        list.children[active].scrollIntoView({ block: "nearest" });
        place();
      }
    }

    function update() {
      const caret = area.selectionStart;
      if (caret !== area.selectionEnd) return close();
      const text = area.value;
      const word = /[A-Za-z_][A-Za-z0-9_-]*$/.exec(text.slice(0, caret));
      if (!word) return close();
      wordStart = caret - word[0].length;
      const prefix = word[0].toLowerCase();
      const all = candidates(context(text, wordStart), text);
      const starts = all.filter(function (item) { return item.name.toLowerCase().startsWith(prefix); });
      items = starts.filter(function (item) { return item.name.replace(/\($/, "") !== word[0]; }).slice(0, 12);
      active = 0;
      show();
    }

    function accept() {
      const item = items[active];
      if (!item) return close();
      const caret = area.selectionStart;
      const text = area.value;
      const tail = /^[A-Za-z0-9_-]*/.exec(text.slice(caret))[0];
      area.value = text.slice(0, wordStart) + item.name + text.slice(caret + tail.length);
      const at = wordStart + item.name.length;
      area.setSelectionRange(at, at);
      close();
      refresh();
    }

    area.addEventListener("focus", load);
    area.addEventListener("input", function () {
      const pending = load();
      if (pending && !schema) pending.then(update);
      else update();
    });
    area.addEventListener("blur", close);
    area.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === " " && event.ctrlKey) {
          event.preventDefault();
          load().then(update);
        }
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : items.length - 1;
        active = (active + step) % items.length;
        show();
      } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
        event.preventDefault();
        accept();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", setUpEditor);
})();
