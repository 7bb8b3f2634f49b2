// homesoc web UI: KQL syntax highlighting with the server's error span
// underlined, and Ctrl+Enter to run a query. Everything else is plain
// HTML forms, so the UI works without this script.
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
  }

  document.addEventListener("DOMContentLoaded", setUpEditor);
})();
