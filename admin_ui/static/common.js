/* l5d admin: helpers every page uses (no framework). */
"use strict";
window.L5D = (function () {
  const boot = JSON.parse(document.getElementById("boot").textContent || "{}");

  /** el("div", {class: "x", onclick: f}, child, "text", ...): one element. */
  function el(tag, attrs, ...kids) {
    const svg = tag.startsWith("svg:");
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
                     : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }

  /** Set a node's text only when it changed (no layout work for equal text). */
  function setText(node, text) {
    if (node._t !== text) { node._t = text; node.textContent = text; }
  }

  async function getJson(url) {
    const rsp = await fetch(url, {credentials: "same-origin", cache: "no-store"});
    if (!rsp.ok) {
      const err = new Error(url + ": HTTP " + rsp.status);
      err.status = rsp.status;
      err.body = await rsp.text();
      throw err;
    }
    return rsp.json();
  }

  let sessionPromise = null;
  /** /admin/session.json, or {absent: true} when the site has none (before the merge). */
  function session(refresh) {
    if (!sessionPromise || refresh) {
      sessionPromise = getJson("/admin/session.json").catch(
        () => ({authenticated: false, writable: false, csrf: null, absent: true}));
    }
    return sessionPromise;
  }

  /** A JSON write (PUT/POST) with the session's CSRF header: {status, body}. */
  async function write(method, url, doc) {
    const s = await session();
    const headers = {"Content-Type": "application/json", "Accept": "application/json"};
    if (s.csrf) headers["X-L5d-Csrf"] = s.csrf;
    const rsp = await fetch(url, {method, headers, credentials: "same-origin",
                                  body: JSON.stringify(doc)});
    let body = null;
    const text = await rsp.text();
    try { body = JSON.parse(text); } catch (e) { body = {error: text}; }
    return {status: rsp.status, body};
  }

  function loginUrl() {
    return "/admin/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return v.toFixed(digits === undefined ? 0 : digits);
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(v >= 0.9995 ? 0 : 1) + "%"; }
  function ms(v) { return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(2) : v.toFixed(0)) + " ms"; }

  async function showSession() {
    const box = document.getElementById("session");
    if (!box) return;
    const s = await session();
    if (s.absent) return;
    box.replaceChildren();
    if (s.authenticated) {
      box.append(el("span", {text: s.writable ? "logged in" : "logged in (read-only)"}),
        el("form", {method: "post", action: "/admin/logout"},
          el("input", {type: "hidden", name: "csrf", value: s.csrf || ""}),
          el("button", {type: "submit", text: "Log out"})));
    } else {
      box.append(el("a", {href: loginUrl(), text: s.writable === false ? "read-only · log in" : "log in"}));
    }
  }
  showSession();

  return {boot, el, setText, getJson, session, write, loginUrl, fmt, pct, ms};
})();
