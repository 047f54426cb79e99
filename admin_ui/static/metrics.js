/* l5d admin: a metrics browser over /admin/metrics.json?tree=1 (scopes as folds; a filter
   keeps the metrics whose full name contains it). */
"use strict";
(function () {
  const {el, getJson, setText} = L5D;
  const tree = document.getElementById("tree");
  const filterEl = document.getElementById("filter");
  const statusEl = document.getElementById("status");
  let flat = new Map();
  //: the user's folds by scope; by default the first two levels (rt, rt/<router>) are open
  const folds = new Map();

  /** The ?tree=1 document as [scope segments..., metric] -> value (a scope such as
      svc/hello or a client id stays one segment). */
  function flatten(node, prefix, out) {
    for (const [key, value] of Object.entries(node)) {
      if (key === "counter" || key === "gauge") out.set(JSON.stringify(prefix), value);
      else if (key.startsWith("stat.")) out.set(JSON.stringify([...prefix, key.slice(5)]), value);
      else if (value && typeof value === "object") flatten(value, [...prefix, key], out);
    }
    return out;
  }

  function fold(keys) {
    const root = {kids: new Map(), leaf: null};
    for (const key of keys) {
      let node = root;
      for (const seg of JSON.parse(key)) {
        if (!node.kids.has(seg)) node.kids.set(seg, {kids: new Map(), leaf: null});
        node = node.kids.get(seg);
      }
      node.leaf = key;
    }
    return root;
  }

  function draw() {
    const f = filterEl.value.trim().toLowerCase();
    const names = [...flat.keys()].filter(k => !f || JSON.parse(k).join("/").toLowerCase().includes(f)).sort();
    const render = (node, prefix, depth) => [...node.kids].map(([seg, kid]) => {
      const full = prefix ? prefix + "/" + seg : seg;
      const out = [];
      if (kid.leaf !== null) {
        out.push(el("div", {class: "leaf"}, el("span", {text: seg}), el("span", {class: "val", text: String(flat.get(kid.leaf))})));
      }
      if (kid.kids.size) {
        const isOpen = f || (folds.has(full) ? folds.get(full) : depth < 2);
        const d = el("details", {open: isOpen ? true : null, "data-scope": full},
          el("summary", {text: seg + " (" + countLeaves(kid) + ")"}), ...render(kid, full, depth + 1));
        d.addEventListener("toggle", () => { if (!f) folds.set(full, d.open); });
        out.push(d);
      }
      return out;
    }).flat();
    tree.replaceChildren(...render(fold(names), "", 0));
    setText(statusEl, names.length + " of " + flat.size + " metrics");
  }

  function countLeaves(node) {
    let n = node.leaf !== null ? 1 : 0;
    for (const k of node.kids.values()) n += countLeaves(k);
    return n;
  }

  async function refresh() {
    try { flat = flatten(await getJson("/admin/metrics.json?tree=1"), [], new Map()); draw(); }
    catch (e) { setText(statusEl, "cannot read /admin/metrics.json: " + e.message); }
  }
  let t = null;
  filterEl.addEventListener("input", () => { clearTimeout(t); t = setTimeout(draw, 150); });
  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
})();
