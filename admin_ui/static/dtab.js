/* l5d admin: the dtab page. The editor reads and saves /admin/dtab/<router>.json (the dtab
   store: {dtab, version}; a save names the version it edits: 409 shows the other version
   and a diff, 400 points at the line and column, 401/403 link to the login); without that
   API it shows the config's dtab, read-only. The playground delegates a path, or a whole
   request identified by /admin/identify.json, through /delegator.json, and previews the
   unsaved editor text (delegator.json with replace) next to the live routing. */
"use strict";
(function () {
  const {el, boot, getJson, write, loginUrl} = L5D;
  const $ = (id) => document.getElementById(id);
  const routerSel = $("router"), editor = $("editor"), msg = $("save-msg");
  const state = {router: null, current: null, api: false, lastRun: null};
  const pg = window.l5dPlayground = {runs: 0, last: null};

  for (const r of boot.routers) routerSel.append(el("option", {value: r.label, text: r.label}));
  const params = new URLSearchParams(location.search);
  if (params.get("router")) routerSel.value = params.get("router");

  function say(cls, ...kids) { msg.className = "msg " + (cls || ""); msg.replaceChildren(...kids); }

  /** A line diff (longest common subsequence): [[" "|"-"|"+", line]]. */
  function diff(a, b) {
    const x = a.split("\n"), y = b.split("\n"), n = x.length, m = y.length;
    const L = Array.from({length: n + 1}, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    const out = [];
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
      else if (L[i + 1][j] >= L[i][j + 1]) out.push(["-", x[i++]]);
      else out.push(["+", y[j++]]);
    }
    while (i < n) out.push(["-", x[i++]]);
    while (j < m) out.push(["+", y[j++]]);
    return out;
  }

  function diffNode(theirs, mine) {
    return el("pre", {class: "diff"}, ...diff(theirs, mine).map(([op, line]) =>
      el("span", {class: op === "+" ? "add" : op === "-" ? "del" : "", text: op + " " + line})));
  }

  function showCurrent() {
    const c = state.current;
    $("dtab-meta").textContent = state.api
      ? `version ${c.version} · ${c.source === "store" ? "saved in the " + c.store + " store" : "from the config"}`
      : "from the config (no dtab store API)";
    $("source-note").textContent = state.api
      ? "Edit the dtab and save it: new requests through this router use it at once."
      : "The dtab store API (/admin/dtab/" + state.router + ".json) is not available: this is the config's dtab; edits can be previewed in the playground but not saved.";
    $("save").disabled = !state.api || c.writable === false;
    $("writable").textContent = !state.api ? "" : c.writable === false ? "read-only: writes are off" : "";
  }

  /** A dtab's text one dentry a line, each ending in ";" (so a line can be added below). */
  function lines(text) {
    return text.split(";").map(s => s.trim()).filter(Boolean).map(s => s + ";").join("\n");
  }

  async function load() {
    state.router = routerSel.value;
    const cfg = boot.routers.find(r => r.label === state.router) || {dtab: ""};
    try {
      state.current = await getJson("/admin/dtab/" + encodeURIComponent(state.router) + ".json");
      state.api = true;
    } catch (e) {
      state.current = {router: state.router, dtab: lines(cfg.dtab), version: null, source: "config", writable: false};
      state.api = false;
    }
    editor.value = state.current.dtab;
    $("config-dtab-text").textContent = lines(cfg.dtab);
    showCurrent();
    loadHistory();
  }

  async function loadHistory() {
    const list = $("history");
    if (!state.api) { list.replaceChildren(el("li", {class: "muted", text: "no dtab store"})); return; }
    let hist = [];
    try { hist = (await getJson("/admin/dtab/" + encodeURIComponent(state.router) + "/history.json")).history; }
    catch (e) { list.replaceChildren(el("li", {class: "muted", text: "history unavailable"})); return; }
    if (!hist.length) { list.replaceChildren(el("li", {class: "muted", text: "no saved versions"})); return; }
    list.replaceChildren(...hist.map((ch, i) => {
      const when = new Date(ch.at * 1000).toLocaleString();
      const current = ch.version === state.current.version;
      // undoing the first save brings the config's dtab back (nothing was stored before it)
      const before = ch.previous !== null && ch.previous !== undefined ? ch.previous
        : lines((boot.routers.find(r => r.label === state.router) || {dtab: ""}).dtab);
      const restore = current
        ? el("button", {type: "button", class: "rollback", onclick: () => save(before, state.current.version, "undo"), text: "undo"})
        : el("button", {type: "button", class: "rollback", onclick: () => save(ch.dtab, state.current.version, "restore"), text: "restore"});
      return el("li", {"data-version": ch.version, title: ch.dtab},
        el("code", {text: ch.version}), current ? " (current) " : " ",
        el("span", {class: "who", text: "by " + ch.who + ", " + when}),
        el("button", {type: "button", onclick: () => { editor.value = ch.dtab; rerun(); }, text: "load"}), restore);
    }));
  }

  async function save(text, version, why) {
    say("", "saving…");
    const {status, body} = await write("PUT", "/admin/dtab/" + encodeURIComponent(state.router) + ".json",
                                       {dtab: text, version});
    if (status === 200) {
      state.current = body; editor.value = body.dtab; showCurrent();
      say("ok", (why ? why + ": " : "") + "saved version " + body.version + "; new requests use it now.");
      loadHistory(); rerun();
    } else if (status === 409) {
      const theirs = body.current;
      say("error conflict", "Someone saved version " + (theirs ? theirs.version : "?") + " after you loaded version " +
          version + ". Their dtab (−) against yours (+):", diffNode(theirs ? theirs.dtab : "", text),
        el("button", {type: "button", onclick: () => { state.current = theirs; editor.value = theirs.dtab; showCurrent(); say("", "loaded version " + theirs.version); rerun(); }, text: "load their version"}),
        " ", el("button", {type: "button", onclick: () => save(text, theirs.version, "overwrite"), text: "save mine over it"}));
    } else if (status === 400) {
      const line = text.split("\n")[(body.line || 1) - 1] || "";
      say("error invalid", `line ${body.line}, column ${body.column}: ${body.error}`,
          el("pre", {text: line + "\n" + " ".repeat(Math.max(0, (body.column || 1) - 1)) + "^"}));
      if (typeof body.offset === "number") { editor.focus(); editor.setSelectionRange(body.offset, body.offset + 1); }
    } else if (status === 401 || status === 403) {
      say("error auth", (body && body.error ? body.error + ". " : "") + "Saving needs a login: ",
          el("a", {href: loginUrl(), text: "log in"}));
    } else {
      say("error", "HTTP " + status + ": " + (body && body.error ? body.error : ""));
    }
  }

  // ---- playground ----------------------------------------------------------
  function setMode(request) {
    $("tab-path").classList.toggle("current", !request);
    $("tab-request").classList.toggle("current", request);
    $("form-path").hidden = request;
    $("form-request").hidden = !request;
  }
  $("tab-path").addEventListener("click", () => setMode(false));
  $("tab-request").addEventListener("click", () => setMode(true));

  async function delegate(path, dtab, replace) {
    const rsp = await fetch("/delegator.json", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({namespace: state.router, path, dtab: dtab || "", replace: !!replace})});
    const text = await rsp.text();
    if (!rsp.ok) return {error: text.trim()};
    return JSON.parse(text);
  }

  function drawInto(box, tree) {
    if (tree.error) { box.replaceChildren(el("div", {class: "msg error", text: tree.error})); return; }
    L5DTree.render(box, tree);
  }

  async function run(path, requestDtab) {
    state.lastRun = {path, requestDtab};
    const edited = editor.value !== state.current.dtab;
    const trees = document.querySelector(".trees");
    trees.classList.toggle("single", !edited);
    const live = await delegate(path, requestDtab, false);
    drawInto($("tree-live"), live);
    const change = $("pg-change");
    change.className = "msg";
    change.replaceChildren();
    let preview = null;
    if (edited) {
      preview = await delegate(path, editor.value + "\n" + (requestDtab || ""), true);
      drawInto($("tree-preview"), preview);
      if (!live.error && !preview.error) {
        const a = L5DTree.outcome(live), b = L5DTree.outcome(preview);
        const same = a.join("\n") === b.join("\n");
        $("tree-preview").classList.toggle("changed", !same);
        change.className = "msg " + (same ? "ok" : "error");
        change.replaceChildren(same ? "The unsaved edit does not change where " + path + " goes."
          : el("span", {}, "The unsaved edit changes where " + path + " goes: ",
               el("pre", {text: "now:       " + a.join("; ") + "\nafter edit: " + b.join("; ")})));
      }
    }
    pg.runs++;
    pg.last = {path, live, preview};
  }

  function rerun() { if (state.lastRun) run(state.lastRun.path, state.lastRun.requestDtab); }
  let typing = null;
  editor.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(rerun, 400); });

  $("form-path").addEventListener("submit", (e) => {
    e.preventDefault();
    $("pg-ident").replaceChildren();
    run($("pg-path").value.trim() || "/", "");
  });

  function headerLines() {
    return $("pg-headers").value.split("\n").map(l => l.trim()).filter(Boolean).map(l => {
      const i = l.indexOf(":");
      return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
  }

  $("form-request").addEventListener("submit", async (e) => {
    e.preventDefault();
    const req = {router: state.router, method: $("pg-method").value, host: $("pg-host").value.trim(),
                 path: $("pg-uri").value.trim() || "/", headers: headerLines()};
    const ident = $("pg-ident");
    const rsp = await fetch("/admin/identify.json", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(req)});
    const body = await rsp.json().catch(() => ({error: "HTTP " + rsp.status}));
    if (!rsp.ok || body.error) { ident.className = "msg error"; ident.textContent = body.error; return; }
    if (!body.identified) {
      ident.className = "msg error";
      ident.textContent = "The router would answer 400: " + body.reason;
      $("tree-live").replaceChildren(); $("tree-preview").replaceChildren(); return;
    }
    ident.className = "msg";
    ident.replaceChildren("Identified as ", el("code", {class: "ident-path", text: body.path}),
      " (forwarded as ", el("code", {text: body.uri}), ")",
      body.dtab ? el("span", {}, " with the request's dtab ", el("code", {text: body.dtab})) : "");
    $("pg-path").value = body.path;
    run(body.path, body.dtab);
  });

  routerSel.addEventListener("change", () => { load().then(rerun); });
  $("save").addEventListener("click", () => save(editor.value, state.current.version));
  editor.addEventListener("keydown", (e) => {  // Ctrl+S / Cmd+S saves
    if ((e.ctrlKey || e.metaKey) && e.key === "s") {
      e.preventDefault();
      if (!$("save").disabled) save(editor.value, state.current.version);
    }
  });
  $("revert").addEventListener("click", () => { editor.value = state.current.dtab; say("", ""); msg.replaceChildren(); rerun(); });

  load().then(() => {
    if (params.get("method") || params.get("host") || params.get("uri")) {
      setMode(true);
      $("pg-method").value = params.get("method") || "GET";
      $("pg-host").value = params.get("host") || "";
      $("pg-uri").value = params.get("uri") || "/";
      $("pg-headers").value = params.getAll("h").join("\n");
      $("form-request").requestSubmit();
    } else if (params.get("path")) {
      $("pg-path").value = params.get("path");
      $("form-path").requestSubmit();
    }
  });
})();
