/* l5d admin: tiny SVG line charts drawn by hand. A chart owns one <svg> and reuses its
   nodes: update() only rewrites two `points` attributes and one label. */
"use strict";
window.L5DChart = (function () {
  const NS = "http://www.w3.org/2000/svg";
  function mk(tag, attrs) {
    const n = document.createElementNS(NS, tag);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    return n;
  }

  /** A line chart of the last `points` values: {svg, update(values)}.
      opts: width, height, min, max (null: from the data), label (fn of the last value). */
  function line(opts) {
    const w = opts.width || 160, h = opts.height || 36;
    const svg = mk("svg", {class: "chart", width: w, height: h, viewBox: `0 0 ${w} ${h}`,
                           role: "img"});
    svg.append(mk("line", {class: "grid", x1: 0, x2: w, y1: h / 2, y2: h / 2}));
    const area = mk("polyline", {class: "area", points: ""});
    const stroke = mk("polyline", {points: ""});
    const text = mk("text", {x: 3, y: 10});
    svg.append(area, stroke, text);
    const n = opts.points || 60;
    let last = "";

    function update(values) {
      const vs = values.slice(-n);
      let lo = opts.min, hi = opts.max;
      const real = vs.filter(v => v !== null && v !== undefined);
      if (lo === null || lo === undefined) lo = real.length ? Math.min(...real) : 0;
      if (hi === null || hi === undefined) hi = real.length ? Math.max(...real) : 1;
      if (hi <= lo) hi = lo + 1;
      const dx = w / Math.max(1, n - 1), x0 = w - (vs.length - 1) * dx;
      const pts = [];
      vs.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const y = h - 2 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo) * (h - 4);
        pts.push((x0 + i * dx).toFixed(1) + "," + y.toFixed(1));
      });
      const p = pts.join(" ");
      if (p !== last) {
        last = p;
        stroke.setAttribute("points", p);
        area.setAttribute("points", pts.length ? `${pts[0].split(",")[0]},${h} ${p} ${pts[pts.length - 1].split(",")[0]},${h}` : "");
      }
      if (opts.label) {
        const t = opts.label(real.length ? real[real.length - 1] : null, hi);
        if (text.textContent !== t) text.textContent = t;
      }
    }
    return {svg, update};
  }
  return {line};
})();
