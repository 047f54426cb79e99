/* l5d admin: draws a /delegator.json tree the way Linkerd's /delegator does: each step with
   the dentry that fired, the branch the router uses ("primary": the first branch of an alt
   that is not negative, every branch of a union) highlighted, neg/fail greyed, bound
   addresses listed, transformer steps shown. outcome() names where the primary branch
   ends, to compare two trees. */
"use strict";
window.L5DTree = (function () {
  const {el} = L5D;

  function addrText(addr) {
    if (!addr) return "?";
    switch (addr.type) {
      case "bound": return addr.addrs.length
        ? addr.addrs.map(a => a.ip + ":" + a.port).sort().join(", ") : "(no endpoints)";
      case "neg": return "(neg)";
      case "pending": return "(pending)";
      case "failed": return "(failed: " + addr.cause + ")";
      default: return addr.type;
    }
  }

  /** True when the subtree yields nothing, so an alt falls through to its next branch. */
  function isNeg(t) {
    switch (t.type) {
      case "neg": return true;
      case "delegate": return isNeg(t.delegate);
      case "alt": return t.alt.every(isNeg);
      case "union": return t.union.every(w => isNeg(w.tree));
      case "leaf": return t.bound.addr && t.bound.addr.type === "neg";
      case "transformation": return isNeg(t.tree);
      default: return false;
    }
  }

  function children(t) {
    switch (t.type) {
      case "delegate": return [t.delegate];
      case "alt": return t.alt;
      case "union": return t.union.map(w => w.tree);
      case "transformation": return [t.tree];
      default: return [];
    }
  }

  /** The primary child indexes of an alt/union/delegate (all for a union). */
  function primaryKids(t) {
    if (t.type === "alt") { const i = t.alt.findIndex(k => !isNeg(k)); return i < 0 ? [] : [i]; }
    return children(t).map((_, i) => i);
  }

  function nodeLabel(t, weight) {
    const kids = [el("span", {class: "ty", text: t.type}),
                  weight !== undefined ? el("span", {class: "ty", text: "weight " + weight}) : null,
                  t.type === "transformation" ? "transformer " + t.name + ": " : null,
                  el("span", {class: "path", text: t.path || ""})];
    if (t.dentry) kids.push(el("span", {class: "dentry", text: t.dentry.prefix + " => " + t.dentry.dst}));
    if (t.type === "leaf") {
      kids.push(el("span", {class: "addrs", text: "bound " + t.bound.id + " → " + addrText(t.bound.addr)}));
    } else if (t.type === "transformation") {
      kids.push(el("span", {class: "addrs", text: "from " + addrText(t.bound.addr)}));
    } else if (t.type === "exception") {
      kids.push(el("span", {class: "dentry", text: t.message}));
    }
    return kids;
  }

  function draw(t, primary, weight) {
    const cls = "dnode " + t.type + (primary ? " primary" : "");
    const li = el("li", {}, el("span", {class: cls}, ...nodeLabel(t, weight)));
    const kids = children(t);
    if (kids.length) {
      const prim = primary ? primaryKids(t) : [];
      const ul = el("ul");
      kids.forEach((k, i) => ul.append(draw(k, prim.includes(i),
        t.type === "union" ? t.union[i].weight : undefined)));
      li.append(ul);
    }
    return li;
  }

  /** Draw `tree` into `container` (replacing what was there). */
  function render(container, tree) {
    container.replaceChildren(el("ul", {}, draw(tree, true)));
  }

  /** Where the primary branch ends: a sorted list of "id → addresses", "neg", "fail"... */
  function outcome(t) {
    const out = [];
    (function walk(n) {
      switch (n.type) {
        case "leaf": out.push(n.bound.id + " → " + addrText(n.bound.addr)); return;
        case "neg": out.push("neg (no route)"); return;
        case "fail": out.push("fail"); return;
        case "empty": out.push("empty"); return;
        case "exception": out.push("error: " + n.message); return;
        default: {
          const kids = children(n);
          primaryKids(n).forEach(i => walk(kids[i]));
          if (n.type === "alt" && primaryKids(n).length === 0) out.push("neg (no route)");
        }
      }
    })(t);
    return out.sort();
  }

  return {render, outcome, isNeg, addrText};
})();
