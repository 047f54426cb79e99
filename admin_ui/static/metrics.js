/* l5d admin: a metrics browser over /admin/metrics.json (flat names folded into a tree at
   each "/"; a filter keeps the names that contain it). */
"use strict";
(function () {
  const {el, getJson, setText} = L5D;
  const tree = document.getElementById("tree");
  const filterEl = document.getElementById("filter");
  const statusEl = document.getElementById("status");
  let flat = {};
  const open = new Set(["rt"]);

  function fold(names) {
    const root = {kids: new Map(), leaf: null};
    for (const name of names) {
      let node = root;
      for (const seg of name.split("/")) {
        if (!node.kids.has(seg)) node.kids.set(seg, {kids: new Map(), leaf: null});
        node = node.kids.get(seg);
      }
      node.leaf = name;
    }
    return root;
  }

  function draw() {
    const f = filterEl.value.trim().toLowerCase();
    const names = Object.keys(flat).filter(n => !f || n.toLowerCase().includes(f)).sort();
    const render = (node, prefix) => [...node.kids].map(([seg, kid]) => {
      const full = prefix ? prefix + "/" + seg : seg;
      const out = [];
      if (kid.leaf !== null) {
        out.push(el("div", {class: "leaf"}, el("span", {text: seg}), el("span", {class: "val", text: String(flat[kid.leaf])})));
      }
      if (kid.kids.size) {
        const d = el("details", {open: f || open.has(full) ? true : null, "data-scope": full},
          el("summary", {text: seg + " (" + countLeaves(kid) + ")"}), ...render(kid, full));
        d.addEventListener("toggle", () => { if (d.open) open.add(full); else open.delete(full); });
        out.push(d);
      }
      return out;
    }).flat();
    tree.replaceChildren(...render(fold(names), ""));
    setText(statusEl, names.length + " of " + Object.keys(flat).length + " metrics");
  }

  function countLeaves(node) {
    let n = node.leaf !== null ? 1 : 0;
    for (const k of node.kids.values()) n += countLeaves(k);
    return n;
  }

  async function refresh() {
    try { flat = await getJson("/admin/metrics.json"); draw(); }
    catch (e) { setText(statusEl, "cannot read /admin/metrics.json: " + e.message); }
  }
  let t = null;
  filterEl.addEventListener("input", () => { clearTimeout(t); t = setTimeout(draw, 150); });
  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
})();
