/* llmx review: the document list and the document view, built with DOM calls only.
 * Nothing from a document, record or note is ever parsed as HTML: every piece of
 * data reaches the page through textContent, .value or a property. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("llmx-config").textContent);
  var dataNode = document.getElementById("llmx-data");
  var DATA = dataNode ? JSON.parse(dataNode.textContent) : null;
  var app = document.getElementById("app");
  var FILTER_LABELS = {
    all: "All",
    failed: "Failed",
    ungrounded: "Not grounded",
    noted: "Corrected by normalisers",
    low_confidence: "Low confidence",
    empty: "No records"
  };
  var PAGE_SIZE = 50;

  document.getElementById("file").textContent = cfg.file || "";

  /* ------------------------------------------------------------ DOM helpers */

  function el(tag, props) {
    var node = document.createElement(tag);
    var key;
    if (props) {
      for (key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        if (key === "text") node.textContent = props[key];
        else if (key === "cls") node.className = props[key];
        else if (key === "on") {
          var ev;
          for (ev in props.on) node.addEventListener(ev, props.on[ev]);
        } else if (key === "dataset") {
          var d;
          for (d in props.dataset) node.dataset[d] = String(props.dataset[d]);
        } else node[key] = props[key];
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  /* ------------------------------------------------------------ data access */

  function api(path, params) {
    var qs = new URLSearchParams(params || {});
    qs.set("token", cfg.token);
    return fetch(path + "?" + qs.toString(), {
      headers: { "X-Llmx-Token": cfg.token },
      credentials: "same-origin"
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
        return body;
      });
    });
  }

  function matches(d, flt) {
    if (flt === "failed") return d.failed;
    if (flt === "ungrounded") return d.ungrounded > 0;
    if (flt === "noted") return d.notes > 0;
    if (flt === "low_confidence") return d.min_confidence !== null && d.min_confidence < cfg.low;
    if (flt === "empty") return !d.failed && d.records === 0;
    return true;
  }

  function listDocs(flt, q, page) {
    if (!DATA) return api("api/docs", { filter: flt, q: q, page: page, size: PAGE_SIZE });
    var needle = q.trim().toLowerCase();
    var hits = DATA.summaries.filter(function (d) {
      return matches(d, flt) && (!needle || d.search.indexOf(needle) >= 0);
    });
    var pages = Math.max(1, Math.ceil(hits.length / PAGE_SIZE));
    page = Math.max(1, Math.min(page, pages));
    return Promise.resolve({
      items: hits.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE),
      total: hits.length,
      page: page,
      pages: pages,
      counts: DATA.counts
    });
  }

  function getDoc(n) {
    if (!DATA) return api("api/doc/" + n);
    var doc = DATA.docs[n];
    return doc ? Promise.resolve(doc) : Promise.reject(new Error("no such document"));
  }

  function saveFixture(n, record) {
    return fetch("api/doc/" + n + "/fixture?token=" + encodeURIComponent(cfg.token), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Llmx-Token": cfg.token },
      credentials: "same-origin",
      body: JSON.stringify({ record: record })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
        return body;
      });
    });
  }

  /* ------------------------------------------------------------ routing */

  function parseHash() {
    var h = location.hash.replace(/^#/, "");
    var m = /^\/doc\/(\d+)$/.exec(h);
    if (m) return { view: "doc", n: parseInt(m[1], 10) };
    var qs = new URLSearchParams(h.replace(/^\/?\??/, ""));
    return {
      view: "list",
      filter: FILTER_LABELS[qs.get("filter")] ? qs.get("filter") : "all",
      q: qs.get("q") || "",
      page: parseInt(qs.get("page") || "1", 10) || 1
    };
  }

  function listHash(state) {
    var qs = new URLSearchParams();
    if (state.filter !== "all") qs.set("filter", state.filter);
    if (state.q) qs.set("q", state.q);
    if (state.page > 1) qs.set("page", String(state.page));
    return "#/?" + qs.toString();
  }

  var lastList = "#/";

  function route() {
    var r = parseHash();
    if (r.view === "doc") renderDoc(r.n);
    else {
      lastList = location.hash || "#/";
      renderList(r);
    }
  }

  /* ------------------------------------------------------------ list view */

  var listColours = {};

  function renderList(state) {
    document.title = cfg.title;
    listDocs(state.filter, state.q, state.page).then(function (page) {
      clear(app);
      var filters = el("div", { cls: "filters", id: "filters" });
      cfg.filters.forEach(function (f) {
        var b = el("button", {
          cls: f === state.filter ? "on" : "",
          text: FILTER_LABELS[f] + " (" + page.counts[f] + ")",
          dataset: { filter: f },
          on: {
            click: function () {
              location.hash = listHash({ filter: f, q: state.q, page: 1 });
            }
          }
        });
        filters.appendChild(b);
      });
      var search = el("input", {
        cls: "search",
        id: "search",
        type: "search",
        placeholder: "search ids, sources, titles, records, notes",
        value: state.q
      });
      var timer = null;
      search.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          location.hash = listHash({ filter: state.filter, q: search.value, page: 1 });
        }, 250);
      });
      app.appendChild(
        el("p", null, el("b", { text: String(page.counts.all) }), " documents; showing ",
          el("b", { id: "shown", text: String(page.total) }), " — page " + page.page + " of " + page.pages)
      );
      app.appendChild(filters);
      app.appendChild(search);
      var table = el("table", { cls: "docs", id: "doclist" },
        el("thead", null, el("tr", null,
          el("th", { text: "document" }), el("th", { text: "title / source" }),
          el("th", { text: "records" }), el("th", { text: "flags" }))));
      var body = el("tbody");
      page.items.forEach(function (d) {
        var chips = el("td");
        Object.keys(d.lists).forEach(function (name) {
          chips.appendChild(el("span", { cls: "chip", text: name + " " + d.lists[name] }));
        });
        var flags = el("td");
        if (d.failed) flags.appendChild(el("span", { cls: "flag bad", text: "failed: " + (d.error || "") }));
        if (d.ungrounded) flags.appendChild(el("span", { cls: "flag bad", text: d.ungrounded + " not grounded" }));
        if (d.notes) flags.appendChild(el("span", { cls: "flag", text: d.notes + " notes" }));
        if (d.min_confidence !== null && d.min_confidence !== undefined) {
          flags.appendChild(el("span", {
            cls: d.min_confidence < cfg.low ? "flag bad" : "flag",
            text: "min confidence " + d.min_confidence.toFixed(2)
          }));
        }
        if (!d.failed && d.records === 0) flags.appendChild(el("span", { cls: "flag", text: "no records" }));
        body.appendChild(el("tr", { cls: d.failed ? "failed" : "", dataset: { n: d.n } },
          el("td", null, el("a", { href: "#/doc/" + d.n, text: d.doc_id })),
          el("td", { text: d.title || d.source }),
          chips, flags));
      });
      table.appendChild(body);
      app.appendChild(table);
      var pager = el("div", { cls: "pager" },
        el("button", {
          cls: "act", id: "prev", text: "‹ previous", disabled: page.page <= 1,
          on: { click: function () { location.hash = listHash({ filter: state.filter, q: state.q, page: page.page - 1 }); } }
        }),
        el("span", { text: "page " + page.page + " / " + page.pages }),
        el("button", {
          cls: "act", id: "next", text: "next ›", disabled: page.page >= page.pages,
          on: { click: function () { location.hash = listHash({ filter: state.filter, q: state.q, page: page.page + 1 }); } }
        }));
      app.appendChild(pager);
      if (document.activeElement === document.body && state.q) search.focus();
    }).catch(showError);
  }

  function showError(err) {
    clear(app);
    app.appendChild(el("div", { cls: "banner err", id: "error", text: String(err && err.message || err) }));
  }

  /* ------------------------------------------------------------ offsets */

  /* Offsets from llmx count code points; the DOM counts UTF-16 units. */
  function offsetMaps(text) {
    var toUnit = [0];
    var toPoint = {};
    var unit = 0;
    toPoint[0] = 0;
    for (var cp = 0; unit < text.length; cp++) {
      var code = text.charCodeAt(unit);
      unit += code >= 0xd800 && code <= 0xdbff && unit + 1 < text.length ? 2 : 1;
      toUnit.push(unit);
      toPoint[unit] = cp + 1;
    }
    return {
      unit: function (p) { return toUnit[Math.max(0, Math.min(p, toUnit.length - 1))]; },
      point: function (u) {
        while (u > 0 && toPoint[u] === undefined) u--;
        return toPoint[u];
      }
    };
  }

  /* ------------------------------------------------------------ document view */

  var docState = null;

  function leafPaths(value, prefix, out) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      Object.keys(value).forEach(function (k) { leafPaths(value[k], prefix.concat([k]), out); });
    } else out.push(prefix);
    return out;
  }

  function getPath(obj, path) {
    for (var i = 0; i < path.length; i++) {
      if (obj === null || obj === undefined) return null;
      obj = obj[path[i]];
    }
    return obj === undefined ? null : obj;
  }

  function setPath(obj, path, value) {
    for (var i = 0; i < path.length - 1; i++) {
      if (obj[path[i]] === null || typeof obj[path[i]] !== "object") obj[path[i]] = {};
      obj = obj[path[i]];
    }
    obj[path[path.length - 1]] = value;
  }

  function typeOf(list, path) {
    var info = docState.lists[list];
    var kinds = info ? info.kinds || {} : {};
    return kinds[path.join(".")] || null;
  }

  function coerce(text, before, kind) {
    var t = text.trim();
    if (t === "" || t === "null") return null;
    var numeric = typeof before === "number" || (before === null && kind === "number");
    if (numeric && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t.replace(/,/g, ""))) {
      return Number(t.replace(/,/g, ""));
    }
    if (typeof before === "boolean" || kind === "boolean") {
      if (t === "true") return true;
      if (t === "false") return false;
    }
    if (Array.isArray(before)) {
      try { var parsed = JSON.parse(t); if (Array.isArray(parsed)) return parsed; } catch (e) { /* keep text */ }
    }
    return text;
  }

  function recordLabel(rec) {
    var f = rec.fields || {};
    var keys = Object.keys(f);
    for (var i = 0; i < keys.length; i++) {
      var v = f[keys[i]];
      var info = docState.lists[rec.list];
      if (typeof v === "string" && v && (!info || keys[i] !== info.evidence)) return v;
    }
    return rec.path;
  }

  function renderDoc(n) {
    getDoc(n).then(function (doc) {
      var lists = {};
      doc.lists.forEach(function (l) { lists[l.name] = l; listColours[l.name] = l.colour; });
      docState = {
        n: n,
        doc: doc,
        lists: lists,
        records: doc.records.map(function (r, i) {
          return Object.assign({}, r, { id: i, deleted: false, added: false, edited: false,
            fields: JSON.parse(JSON.stringify(r.fields)) });
        }),
        root: JSON.parse(JSON.stringify(doc.root_fields || {})),
        selected: null,
        maps: doc.text !== null ? offsetMaps(doc.text) : null
      };
      document.title = "llmx review · " + doc.doc_id;
      drawDoc();
    }).catch(showError);
  }

  function drawDoc() {
    var doc = docState.doc;
    clear(app);
    app.appendChild(el("p", null,
      el("a", { id: "back", href: lastList, text: "← all documents" }), "  ",
      el("b", { id: "docid", text: doc.doc_id }), "  ",
      el("span", { cls: "muted", text: doc.source || "" })));
    var meta = doc.meta || {};
    var metaKeys = Object.keys(meta);
    if (metaKeys.length) {
      var mt = el("table", { cls: "meta" });
      metaKeys.forEach(function (k) {
        mt.appendChild(el("tr", null, el("td", { cls: "muted", text: k }), el("td", { text: show(meta[k]) })));
      });
      app.appendChild(mt);
    }
    if (doc.error) {
      app.appendChild(el("div", { cls: "banner err", id: "docerror",
        text: "Failed: " + (doc.error.kind ? doc.error.kind + ": " : "") + (doc.error.message || show(doc.error)) }));
    }
    if (doc.text_problem) app.appendChild(el("div", { cls: "banner warn", text: "No highlights: " + doc.text_problem }));
    if (doc.source_changed) {
      app.appendChild(el("div", { cls: "banner warn", text: "The source changed since the run (content_sha256 differs): offsets may be off." }));
    }
    var grid = el("div", { cls: "docview" });
    var textPane = el("div", { cls: "textpane", id: "text" });
    drawText(textPane);
    var side = el("div", { cls: "side", id: "side" });
    drawSide(side);
    grid.appendChild(textPane);
    grid.appendChild(side);
    app.appendChild(grid);
  }

  function located(rec) {
    return !rec.deleted && rec.start !== null && rec.start !== undefined && rec.end > rec.start;
  }

  function drawText(pane) {
    var doc = docState.doc;
    if (doc.text === null) {
      pane.appendChild(el("span", { cls: "muted", text: "(text not available)" }));
      return;
    }
    var text = doc.text;
    var maps = docState.maps;
    var recs = docState.records.filter(located);
    var cuts = [0, text.length];
    recs.forEach(function (r) { cuts.push(maps.unit(r.start), maps.unit(r.end)); });
    cuts = cuts.filter(function (c, i, a) { return a.indexOf(c) === i; }).sort(function (a, b) { return a - b; });
    for (var i = 0; i < cuts.length - 1; i++) {
      var a = cuts[i], b = cuts[i + 1];
      if (b <= a) continue;
      var covering = recs.filter(function (r) { return maps.unit(r.start) <= a && maps.unit(r.end) >= b; });
      var seg = el("span", { cls: "seg", text: text.slice(a, b), dataset: { start: maps.point(a), end: maps.point(b) } });
      if (covering.length) {
        var first = covering[0];
        seg.className = "seg hl";
        seg.dataset.recs = covering.map(function (r) { return r.id; }).join(",");
        seg.dataset.list = first.list;
        seg.style.backgroundColor = (docState.lists[first.list] || {}).colour || "#ffe08a";
        if (docState.selected !== null && covering.some(function (r) { return r.id === docState.selected; })) {
          seg.className += " sel";
        }
        seg.addEventListener("click", onHighlightClick);
      }
      pane.appendChild(seg);
    }
  }

  function onHighlightClick(event) {
    var ids = event.currentTarget.dataset.recs.split(",").map(Number);
    var at = ids.indexOf(docState.selected);
    docState.selected = ids[(at + 1) % ids.length];
    drawDoc();
  }

  function select(id) {
    docState.selected = id;
    drawDoc();
  }

  function drawSide(side) {
    var doc = docState.doc;
    var legend = el("div", { cls: "panel legend" }, el("h3", { text: "Lists" }));
    Object.keys(docState.lists).forEach(function (name) {
      var sw = el("span", { cls: "chip", text: name });
      sw.style.backgroundColor = docState.lists[name].colour;
      legend.appendChild(sw);
    });
    side.appendChild(legend);

    var sel = docState.records.filter(function (r) { return r.id === docState.selected; })[0];
    if (sel) side.appendChild(recordPanel(sel));

    var found = el("div", { cls: "panel", id: "grounded" }, el("h3", { text: "Records over the text" }));
    var missing = el("div", { cls: "panel", id: "ungrounded" }, el("h3", { text: "Evidence not found in the text" }));
    var nFound = 0, nMissing = 0;
    docState.records.forEach(function (r) {
      var colour = (docState.lists[r.list] || {}).colour || "#ccc";
      var status = r.added ? "added" : r.grounding ? r.grounding.status : "no grounding";
      if (r.confidence !== null && r.confidence !== undefined) status += " · conf " + r.confidence.toFixed(2);
      var row = el("div", {
        cls: "rec" + (r.id === docState.selected ? " sel" : "") + (r.deleted ? " deleted" : ""),
        dataset: { id: r.id, path: r.path, list: r.list },
        on: { click: function () { select(r.id); } }
      }, el("span", { cls: "st", text: status }), r.path + "  ", el("b", { text: recordLabel(r) }));
      row.style.borderLeftColor = colour;
      if (r.start !== null && r.start !== undefined) { found.appendChild(row); nFound++; }
      else { missing.appendChild(row); nMissing++; }
    });
    if (!nFound) found.appendChild(el("p", { cls: "muted", text: "none" }));
    if (!nMissing) missing.appendChild(el("p", { cls: "muted", text: "none" }));
    side.appendChild(found);
    side.appendChild(missing);

    if (Object.keys(docState.root).length) side.appendChild(rootPanel());

    if (doc.doc_notes && doc.doc_notes.length) {
      var np = el("div", { cls: "panel", id: "docnotes" }, el("h3", { text: "Notes" }));
      doc.doc_notes.forEach(function (t) { np.appendChild(el("div", { cls: "note", text: t })); });
      side.appendChild(np);
    }
    if (cfg.mode === "server") side.appendChild(editPanel());
  }

  function fieldsTable(obj, onChange, listName) {
    var table = el("table", { cls: "fields" });
    leafPaths(obj, [], []).forEach(function (path) {
      if (!path.length) return;
      var value = getPath(obj, path);
      var cell;
      if (cfg.mode === "server") {
        cell = el("input", {
          value: value === null ? "" : typeof value === "string" ? value : JSON.stringify(value),
          placeholder: "null",
          dataset: { field: path.join(".") }
        });
        cell.addEventListener("change", function (e) {
          onChange(path, coerce(e.target.value, value, listName ? typeOf(listName, path) : null));
        });
      } else cell = el("span", { text: show(value), dataset: { field: path.join(".") } });
      table.appendChild(el("tr", null, el("td", { cls: "k", text: path.join(".") }), el("td", null, cell)));
    });
    return table;
  }

  function recordPanel(rec) {
    var panel = el("div", { cls: "panel", id: "record" });
    var colour = (docState.lists[rec.list] || {}).colour || "#ccc";
    var title = el("h3", null, rec.path + (rec.added ? " (added)" : "") + (rec.edited ? " (edited)" : ""));
    title.style.borderLeft = "6px solid " + colour;
    title.style.paddingLeft = "4px";
    panel.appendChild(title);
    panel.appendChild(fieldsTable(rec.fields, function (path, v) {
      setPath(rec.fields, path, v);
      rec.edited = true;
      var label = document.querySelector(".rec[data-id='" + rec.id + "'] b");
      if (label) label.textContent = recordLabel(rec);
    }, rec.list));
    var g = rec.grounding;
    var where = rec.start !== null && rec.start !== undefined ? "characters " + rec.start + "–" + rec.end : "not in the text";
    var gl = g ? "grounding: " + g.status + " (score " + show(g.score) + "), " + where : rec.added ? "from the selection, " + where : "no grounding";
    panel.appendChild(el("p", { cls: "muted", id: "grounding", text: gl }));
    if (g && g.checks && Object.keys(g.checks).length) {
      var checks = el("p", { cls: "muted" }, "value checks: ");
      Object.keys(g.checks).forEach(function (k) {
        checks.appendChild(el("span", { cls: g.checks[k] ? "flag" : "flag bad", text: k + (g.checks[k] ? " ✓" : " ✗") }));
      });
      panel.appendChild(checks);
    }
    if (rec.confidence !== null && rec.confidence !== undefined) {
      panel.appendChild(el("p", { cls: "muted", text: "confidence: " + rec.confidence }));
    }
    (rec.notes || []).forEach(function (t) { panel.appendChild(el("div", { cls: "note", text: t })); });
    if (cfg.mode === "server") {
      panel.appendChild(el("button", {
        cls: "act", id: "delete", text: rec.deleted ? "restore record" : "delete record",
        on: { click: function () { rec.deleted = !rec.deleted; drawDoc(); } }
      }));
    }
    return panel;
  }

  function rootPanel() {
    var panel = el("div", { cls: "panel", id: "rootfields" }, el("h3", { text: "Document fields" }));
    panel.appendChild(fieldsTable(docState.root, function (path, v) { setPath(docState.root, path, v); }, null));
    return panel;
  }

  function selectionOffsets() {
    var pane = document.getElementById("text");
    var sel = window.getSelection();
    if (!pane || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    var range = sel.getRangeAt(0);
    if (!pane.contains(range.startContainer) || !pane.contains(range.endContainer)) return null;
    var pre = document.createRange();
    pre.setStart(pane, 0);
    pre.setEnd(range.startContainer, range.startOffset);
    var a = pre.toString().length;
    var b = a + range.toString().length;
    var text = docState.doc.text;
    while (a < b && /\s/.test(text.charAt(a))) a++;
    while (b > a && /\s/.test(text.charAt(b - 1))) b--;
    if (b <= a) return null;
    return { start: docState.maps.point(a), end: docState.maps.point(b), quote: text.slice(a, b) };
  }

  function editPanel() {
    var panel = el("div", { cls: "panel", id: "edit" }, el("h3", { text: "Correct" }));
    var names = Object.keys(docState.lists);
    if (docState.doc.text !== null && names.length) {
      var choose = el("select", { id: "addlist" });
      names.forEach(function (name) { choose.appendChild(el("option", { value: name, text: name })); });
      panel.appendChild(el("div", null, "Select text in the document, then ", el("button", {
        cls: "act", id: "add", text: "add record from selection",
        on: { mousedown: function (e) { e.preventDefault(); }, click: function () { addFromSelection(choose.value); } }
      }), " to ", choose));
    }
    var status = el("div", { id: "status" });
    panel.appendChild(el("div", null, el("button", {
      cls: "act primary", id: "save", text: "save as fixture",
      disabled: !cfg.can_save || docState.doc.text === null,
      on: { click: function () { doSave(status); } }
    }), cfg.can_save ? el("span", { cls: "muted", text: " into " + cfg.fixtures }) :
      el("span", { cls: "muted", text: " (start llmx review with --fixtures DIR to save)" })));
    panel.appendChild(status);
    return panel;
  }

  function addFromSelection(list) {
    var off = selectionOffsets();
    var status = document.getElementById("status");
    if (!off) {
      status.className = "banner warn";
      status.textContent = "Select some text of the document first.";
      return;
    }
    var info = docState.lists[list];
    var fields = JSON.parse(JSON.stringify(info.template || {}));
    if (info.evidence) fields[info.evidence] = off.quote;
    var count = docState.records.filter(function (r) { return r.list === list; }).length;
    var rec = {
      id: docState.records.length, list: list, index: count, path: list + "[" + count + "]",
      fields: fields, grounding: null, start: off.start, end: off.end, notes: [], confidence: null,
      deleted: false, added: true, edited: false
    };
    docState.records.push(rec);
    docState.selected = rec.id;
    drawDoc();
  }

  function correctedRecord() {
    var record = JSON.parse(JSON.stringify(docState.root));
    Object.keys(docState.lists).forEach(function (name) { record[name] = []; });
    docState.records.forEach(function (r) {
      if (r.deleted) return;
      if (!record[r.list]) record[r.list] = [];
      record[r.list].push(r.fields);
    });
    return record;
  }

  function doSave(status) {
    status.className = "banner";
    status.textContent = "saving…";
    saveFixture(docState.n, correctedRecord()).then(function (body) {
      status.className = "banner ok";
      status.textContent = "Saved " + body.saved.text + " and " + body.saved.gold +
        (body.saved.replaced ? " (replaced the earlier fixture)" : "") + " in " + body.folder;
    }).catch(function (err) {
      status.className = "banner err";
      status.textContent = "Not saved: " + err.message;
    });
  }

  window.addEventListener("hashchange", route);
  route();
})();
