/* l5d admin: log levels (GET /logging.json; a change is PUT /logging.json {logger, level},
   a write: it needs a login). */
"use strict";
(function () {
  const {el, getJson, write, loginUrl, setText} = L5D;
  const body = document.querySelector("#loggers tbody");
  const filterEl = document.getElementById("filter");
  const statusEl = document.getElementById("status");
  let doc = {loggers: [], levels: []};

  async function change(logger, level, select) {
    const {status, body: rsp} = await write("PUT", "/logging.json", {logger, level});
    if (status === 200) { select.dataset.level = level; setText(statusEl, logger + " is now " + level); return; }
    select.value = select.dataset.level;
    statusEl.replaceChildren(el("span", {class: "st-err", text: "not changed: " + (rsp && rsp.error ? rsp.error : "HTTP " + status) + " "}),
      status === 401 || status === 403 ? el("a", {href: loginUrl(), text: "log in"}) : "");
  }

  function draw() {
    const f = filterEl.value.trim().toLowerCase();
    body.replaceChildren(...doc.loggers.filter(l => !f || l.name.toLowerCase().includes(f)).map(l => {
      const select = el("select", {"aria-label": "level of " + (l.name || "root"), "data-level": l.level},
        ...doc.levels.map(v => el("option", {value: v, selected: v === l.level ? true : null, text: v})));
      select.addEventListener("change", () => change(l.name, select.value, select));
      return el("tr", {}, el("td", {}, el("code", {text: l.name || "(root)"})), el("td", {}, select));
    }));
  }

  getJson("/logging.json").then((d) => { doc = d; draw(); },
    (e) => setText(statusEl, "cannot read /logging.json: " + e.message));
  filterEl.addEventListener("input", draw);
})();
