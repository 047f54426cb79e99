/* l5d admin: recent requests (io.l5d.recentRequests' /requests.json), filterable; each row
   links to the dtab playground with its request filled in. */
"use strict";
(function () {
  const {el, boot, getJson, setText} = L5D;
  const body = document.querySelector("#requests tbody");
  const filterEl = document.getElementById("filter");
  const statusEl = document.getElementById("status");
  const live = document.getElementById("live");
  let rows = [];
  let shown = "";

  if (!boot.available) {
    document.getElementById("absent").hidden = false;
    document.getElementById("requests").hidden = true;
    return;
  }

  function playground(r) {
    const q = new URLSearchParams({router: r.router, method: r.method, host: r.host, uri: r.uri});
    return "/dtab?" + q.toString();
  }

  function text(r) {
    return [r.time, r.router, r.source, r.method, r.host, r.uri, r.service, r.client, r.endpoint,
            String(r.status), r.error].join(" ").toLowerCase();
  }

  function draw() {
    const f = filterEl.value.trim().toLowerCase();
    const keep = rows.filter(r => !f || r._text.includes(f));
    const key = f + "|" + keep.map(r => r.time + r.source + r.uri).join(",");
    if (key === shown) return;
    shown = key;
    body.replaceChildren(...keep.map(r => el("tr", {},
      el("td", {text: r.time.replace("T", " ").replace("Z", "")}), el("td", {text: r.router}),
      el("td", {text: r.source}), el("td", {text: r.method}), el("td", {text: r.host}),
      el("td", {class: "uri", title: r.uri, text: r.uri}), el("td", {text: r.service}),
      el("td", {text: r.client}), el("td", {text: r.endpoint}),
      el("td", {class: r.status < 0 ? "st-err" : "st-" + String(r.status)[0], text: r.status < 0 ? "cut" : r.status}),
      el("td", {text: r.latency_ms.toFixed(1)}), el("td", {class: "st-err err", title: r.error, text: r.error}),
      el("td", {}, el("a", {href: playground(r), class: "trace", title: "trace this request in the dtab playground", text: "trace ›"})))));
    setText(statusEl, keep.length + " of " + rows.length + " requests");
  }

  async function poll() {
    if (!live.checked) { setTimeout(poll, 2000); return; }
    try {
      rows = await getJson("/requests.json");
      for (const r of rows) r._text = text(r);
      draw();
    } catch (e) { setText(statusEl, "cannot read /requests.json: " + e.message); }
    setTimeout(poll, 2000);
  }
  filterEl.addEventListener("input", draw);
  poll();
})();
