/* l5d admin: the dashboard. Polls /admin/dashboard.json every second and computes rates from
   the difference of two polls' running totals over the difference of their `t`.
   Built for hundreds of clients: a card is made once and kept; a poll rewrites only the text
   that changed, and only in cards that are open, on screen and not filtered out (the others
   are marked dirty and painted when they come into view). window.l5dDashboard exposes
   timings (performance.now() around each update) for the browser tests. */
"use strict";
(function () {
  const {el, setText, getJson, fmt, pct, ms} = L5D;
  const POLL_MS = 1000, HIST = 60, ROUTER_HIST = 120;
  const root = document.getElementById("routers");
  const statusEl = document.getElementById("status");
  const filterEl = document.getElementById("filter");
  const perf = window.l5dDashboard = {polls: 0, errors: 0, lastUpdateMs: 0, lastParseMs: 0,
    maxUpdateMs: 0, totalUpdateMs: 0, lastPainted: 0, cards: 0, updates: []};
  const routers = new Map();
  let filter = "";
  let prevT = null;
  //: a section with more cards than this starts with them folded (the user's choice per
  //: card, kept in localStorage, wins)
  const AUTO_FOLD = 40;
  let stored = [];
  try { stored = JSON.parse(localStorage.getItem("l5d.folds") || "[]"); } catch (e) { /* none */ }
  const folds = new Map(stored);
  const onScreen = new Set();
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const card = e.target._card;
      if (e.isIntersecting) { onScreen.add(card); if (card.dirty) paint(card); }
      else onScreen.delete(card);
    }
  }, {rootMargin: "150px"});

  function delta(cur, prev) { return prev === undefined || cur < prev ? cur : cur - prev; }
  function rate(d, dt) { return dt > 0 ? d / dt : null; }
  function push(hist, v, n) { hist.push(v); if (hist.length > n) hist.shift(); }
  function saveCollapsed() { localStorage.setItem("l5d.folds", JSON.stringify([...folds])); }

  function metric(key, cls) {
    const v = el("div", {class: "v", text: "–"});
    const box = el("div", {class: "metric" + (cls ? " " + cls : "")}, v, el("div", {class: "k", text: key}));
    return {box, v};
  }

  function routerView(label) {
    const m = {rps: metric("requests / s"), sr: metric("success rate"), p50: metric("p50"),
      p95: metric("p95"), p99: metric("p99"), retries: metric("retries / s"),
      conns: metric("connections in / out"), pending: metric("pending"), total: metric("requests")};
    const budgetBar = el("span");
    const budget = el("div", {class: "metric"},
      el("div", {class: "v budget-text", text: "–"}),
      el("div", {class: "bar"}, budgetBar), el("div", {class: "k", text: "retry budget used"}));
    const rpsChart = L5DChart.line({width: 360, height: 60, min: 0, points: ROUTER_HIST,
      label: (v, hi) => "req/s " + fmt(v, 1) + " (max " + fmt(hi, 1) + ")"});
    const srChart = L5DChart.line({width: 360, height: 60, min: 0, max: 1, points: ROUTER_HIST,
      label: (v) => "success " + pct(v)});
    const clientCards = el("div", {class: "cards clients"});
    const serviceCards = el("div", {class: "cards services"});
    const clientCount = el("span", {class: "muted"});
    const serviceCount = el("span", {class: "muted"});
    const section = (title, count, cards, kind) => [
      el("div", {class: "section-title"}, el("h3", {text: title}), count,
        el("button", {type: "button", class: "small", onclick: () => setAll(view, kind, true), text: "collapse all"}),
        el("button", {type: "button", class: "small", onclick: () => setAll(view, kind, false), text: "expand all"})),
      cards];
    const node = el("section", {class: "router", "data-router": label},
      el("h2", {}, "rt/" + label, el("span", {class: "muted", text: "router"})),
      el("div", {class: "summary"}, m.rps.box, m.sr.box, m.p50.box, m.p95.box, m.p99.box,
        m.retries.box, budget, m.conns.box, m.pending.box, m.total.box),
      el("div", {class: "chartrow"}, rpsChart.svg, srChart.svg),
      ...section("Clients", clientCount, clientCards, "client"),
      ...section("Services", serviceCount, serviceCards, "service"));
    root.append(node);
    const view = {label, node, m, budget, budgetBar, rpsChart, srChart, prev: {}, rpsHist: [],
      srHist: [], clients: new Map(), services: new Map(), clientCards, serviceCards,
      clientCount, serviceCount};
    return view;
  }

  function setAll(view, kind, value) {
    for (const card of (kind === "client" ? view.clients : view.services).values()) {
      setCollapsed(card, value);
    }
    saveCollapsed();
  }

  function setCollapsed(card, value) {
    card.node.classList.toggle("collapsed", value);
    card.head.setAttribute("aria-expanded", String(!value));
    setText(card.tw, value ? "▸" : "▾");
    folds.set(card.key, value);
    if (!value && card.dirty && onScreen.has(card)) paint(card);
  }

  function makeCard(view, kind, id, many) {
    const key = view.label + "|" + kind + "|" + id;
    const tw = el("span", {class: "tw"});
    const sum = el("span", {class: "sum"});
    const head = el("button", {type: "button", class: "head", title: id},
      tw, el("span", {class: "name", text: id}), sum);
    const kv = el("dl", {class: "kv"});
    const vals = {};
    const names = kind === "client"
      ? ["requests", "success rate", "failures", "connections", "retries", "p50", "p95", "p99"]
      : ["requests", "success rate", "failures", "pending", "retries", "p50", "p95", "p99"];
    for (const n of names) { vals[n] = el("dd", {text: "–"}); kv.append(el("dt", {text: n}), vals[n]); }
    const chart = L5DChart.line({width: 120, height: 46, min: 0, max: 1, points: HIST,
      label: (v) => pct(v)});
    const body = el("div", {class: "body"}, kv, chart.svg);
    let ep = null;
    if (kind === "client") {
      const epText = el("span");
      const epBar = el("span");
      const epBox = el("div", {class: "bar"}, epBar);
      body.append(el("div", {class: "ep"},
        el("div", {class: "lbl"}, el("span", {text: "endpoints available"}), epText), epBox));
      ep = {text: epText, bar: epBar, box: epBox};
    }
    const node = el("div", {class: "card", "data-id": id}, head, body);
    const card = {key, kind, id, lower: id.toLowerCase(), node, head, tw, sum, vals, chart, ep,
      hist: [], prev: null, row: null, rps: null, sr: null, dirty: true};
    node._card = card;
    head.addEventListener("click", () => { setCollapsed(card, !card.node.classList.contains("collapsed")); saveCollapsed(); });
    card.node.classList.toggle("collapsed", folds.has(key) ? folds.get(key) : many);
    head.setAttribute("aria-expanded", String(!card.node.classList.contains("collapsed")));
    setText(tw, card.node.classList.contains("collapsed") ? "▸" : "▾");
    node.hidden = !matches(card);
    observer.observe(node);
    return card;
  }

  function matches(card) { return !filter || card.lower.includes(filter); }

  function paint(card) {
    card.dirty = false;
    perf.lastPainted++;
    const f = card.f, r = card.row;
    setText(card.sum, fmt(card.rps, card.rps !== null && card.rps < 10 ? 1 : 0) + "/s · " + pct(card.sr));
    card.node.classList.toggle("failing", card.sr !== null && card.sr < 0.9);
    if (card.node.classList.contains("collapsed")) return;
    const v = card.vals;
    setText(v["requests"], fmt(r[f.requests]));
    setText(v["success rate"], pct(card.sr));
    setText(v["failures"], fmt(r[f.failures]));
    if (card.kind === "client") {
      setText(v["connections"], fmt(r[f.connections]));
      setText(v["retries"], fmt(r[f.requeues]));
      const avail = r[f.available], size = r[f.size];
      setText(card.ep.text, fmt(avail) + " / " + fmt(size));
      const share = size > 0 ? avail / size : 0;
      const w = (share * 100).toFixed(0) + "%";
      if (card.ep.bar.style.width !== w) card.ep.bar.style.width = w;
      card.ep.box.classList.toggle("warn", share < 0.5);
    } else {
      setText(v["pending"], fmt(r[f.pending]));
      setText(v["retries"], fmt(r[f.retries]));
    }
    setText(v["p50"], ms(r[f.p50])); setText(v["p95"], ms(r[f.p95])); setText(v["p99"], ms(r[f.p99]));
    card.chart.update(card.hist);
  }

  function updateCards(view, kind, rows, fields, dt, fragment) {
    const f = {};
    fields.forEach((name, i) => { f[name] = i; });
    const cards = kind === "client" ? view.clients : view.services;
    const seen = new Set();
    for (const row of rows) {
      const id = row[0];
      seen.add(id);
      let card = cards.get(id);
      if (!card) {
        card = makeCard(view, kind, id, rows.length > AUTO_FOLD);
        cards.set(id, card);
        fragment.append(card.node);
      }
      card.f = f;
      const prev = card.row;
      const dreq = delta(row[f.requests], prev ? prev[f.requests] : undefined);
      const dok = delta(row[f.success], prev ? prev[f.success] : undefined);
      card.rps = prev ? rate(dreq, dt) : null;
      card.sr = dreq > 0 ? dok / dreq : (prev ? card.sr : null);
      if (prev) push(card.hist, dreq > 0 ? dok / dreq : null, HIST);
      card.row = row;
      if (!card.node.hidden && onScreen.has(card)) paint(card); else card.dirty = true;
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) { observer.unobserve(card.node); onScreen.delete(card); card.node.remove(); cards.delete(id); }
    }
    return cards.size;
  }

  function updateRouter(view, r, dt, doc) {
    const p = view.prev, first = p.requests === undefined;
    const dreq = delta(r.requests, p.requests), dok = delta(r.success, p.success);
    const dretries = delta(r.retries, p.retries);
    const rps = first ? null : rate(dreq, dt);
    const sr = dreq > 0 ? dok / dreq : (first ? (r.requests > 0 ? r.success / r.requests : null) : view.sr);
    view.sr = sr;
    setText(view.m.rps.v, fmt(rps, rps !== null && rps < 10 ? 1 : 0));
    setText(view.m.sr.v, pct(sr));
    view.m.sr.box.classList.toggle("bad", sr !== null && sr < 0.9);
    setText(view.m.p50.v, ms(r.p50)); setText(view.m.p95.v, ms(r.p95)); setText(view.m.p99.v, ms(r.p99));
    setText(view.m.retries.v, fmt(first ? null : rate(dretries, dt), 1));
    setText(view.m.conns.v, fmt(r.connections) + " / " + fmt(r.client_connections));
    setText(view.m.pending.v, fmt(r.pending));
    setText(view.m.total.v, fmt(r.requests));
    const retryShare = dreq > 0 ? dretries / dreq : 0;
    const used = r.percent_can_retry > 0 ? Math.min(1, retryShare / r.percent_can_retry) : 0;
    setText(view.budget.firstChild, (used * 100).toFixed(0) + "% of " + (r.percent_can_retry * 100).toFixed(0) + "%");
    view.budgetBar.style.width = (used * 100).toFixed(0) + "%";
    view.budgetBar.parentNode.className = "bar" + (used > 0.75 ? " bad" : used > 0.5 ? " warn" : "");
    if (!first) { push(view.rpsHist, rps, ROUTER_HIST); push(view.srHist, dreq > 0 ? dok / dreq : null, ROUTER_HIST); }
    view.rpsChart.update(view.rpsHist);
    view.srChart.update(view.srHist);
    view.prev = {requests: r.requests, success: r.success, retries: r.retries};
    const cf = document.createDocumentFragment(), sf = document.createDocumentFragment();
    const nc = updateCards(view, "client", r.clients, doc.client_fields, dt, cf);
    const ns = updateCards(view, "service", r.services, doc.service_fields, dt, sf);
    if (cf.childNodes.length) view.clientCards.append(cf);
    if (sf.childNodes.length) view.serviceCards.append(sf);
    setText(view.clientCount, "(" + nc + ")");
    setText(view.serviceCount, "(" + ns + ")");
    return nc + ns;
  }

  function apply(doc) {
    const dt = prevT === null ? 0 : doc.t - prevT;
    prevT = doc.t;
    perf.lastPainted = 0;
    let cards = 0;
    for (const r of doc.routers) {
      let view = routers.get(r.label);
      if (!view) { view = routerView(r.label); routers.set(r.label, view); }
      cards += updateRouter(view, r, dt, doc);
    }
    perf.cards = cards;
  }

  async function poll() {
    try {
      const rsp = await fetch("/admin/dashboard.json", {cache: "no-store"});
      if (!rsp.ok) throw new Error("HTTP " + rsp.status);
      const text = await rsp.text();
      const t0 = performance.now();
      const doc = JSON.parse(text);
      const t1 = performance.now();
      apply(doc);
      const t2 = performance.now();
      perf.polls++;
      perf.lastParseMs = t1 - t0;
      perf.lastUpdateMs = t2 - t1;
      perf.totalUpdateMs += t2 - t1;
      perf.maxUpdateMs = Math.max(perf.maxUpdateMs, t2 - t1);
      push(perf.updates, t2 - t1, 600);
      setText(statusEl, "updated " + new Date().toLocaleTimeString() + " · " + perf.cards +
        " cards · update " + (t2 - t1).toFixed(1) + " ms");
    } catch (e) {
      perf.errors++;
      setText(statusEl, "cannot read /admin/dashboard.json: " + e.message);
    }
    setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  filterEl.addEventListener("input", () => {
    filter = filterEl.value.trim().toLowerCase();
    for (const view of routers.values()) {
      for (const cards of [view.clients, view.services]) {
        for (const card of cards.values()) {
          const hide = !matches(card);
          if (card.node.hidden !== hide) card.node.hidden = hide;
          if (!hide && card.dirty && onScreen.has(card)) paint(card);
        }
      }
    }
  });
  poll();
})();
