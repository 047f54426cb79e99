"""The dashboard with 500 clients, measured in a real browser (headless Chromium).

500 backends (tests/helpers/many_backends.py) each get one request through a real l5d
(``/svc=>/$/inet/127.0.0.1``, Host ``<port>``: 500 clients and 500 services), then a
little traffic keeps flowing to 50 of them while the dashboard polls. Over
:data:`WINDOW_S` seconds the test reads Chromium's own accounting (CDP
``Performance.getMetrics``: ``TaskDuration``, ``ScriptDuration``) and the dashboard's
``performance.now()`` timing of each update (``window.l5dDashboard``), prints them and
writes them to ``$L5D_SHOTS/scale.json``; docs/admin.md quotes a run. Nothing here
asserts a time: it asserts that the page shows the 500 clients, keeps polling, reuses its
card nodes and paints only the cards on screen.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time

from tests.helpers.browser import SHOTS, chromium
from tests.helpers.l5d_process import L5d, config_text
from tests.helpers.many_backends import ManyBackends

N_CLIENTS = 500
WINDOW_S = 10.0
TIMEOUT_MS = 60_000


def hit(port: int, hosts: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for host in hosts:
            conn.request("GET", "/", headers={"Host": str(host)})
            rsp = conn.getresponse()
            rsp.read()
            assert rsp.status == 200, (host, rsp.status)
    finally:
        conn.close()


def test_the_dashboard_with_500_clients() -> None:
    """500 clients: every card exists once, updates repaint only the cards on screen, and
    the page's CPU and update times are measured and recorded."""
    with ManyBackends(N_CLIENTS) as backends, \
            L5d(config=config_text("/svc=>/$/inet/127.0.0.1")) as l5d, chromium() as browser:
        hit(l5d.port, backends.ports)
        stop = threading.Event()
        rng = random.Random(12)
        busy = rng.sample(backends.ports, 50)

        def traffic() -> None:
            while not stop.is_set():
                hit(l5d.port, rng.sample(busy, 10))
                time.sleep(0.1)

        t = threading.Thread(target=traffic, daemon=True)
        t.start()
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{l5d.admin_port}/")
            page.wait_for_function(f"() => window.l5dDashboard.cards >= {2 * N_CLIENTS}",
                                   timeout=TIMEOUT_MS)
            page.wait_for_function("() => window.l5dDashboard.polls >= 3", timeout=TIMEOUT_MS)
            assert page.locator(".cards.clients .card").count() == N_CLIENTS
            page.evaluate("document.querySelector('.cards.clients .card')._mark = 'kept'")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            folded = measure(page, cdp, l5d)
            assert folded["cards_painted_last_poll"] < perf_cards(page)
            for button in page.get_by_role("button", name="expand all").all():
                button.click()
            time.sleep(2)
            expanded = measure(page, cdp, l5d)
            result = {"clients": N_CLIENTS, "folded (default)": folded,
                      "all expanded": expanded}
            print("dashboard at 500 clients:", json.dumps(result, indent=2))
            SHOTS.mkdir(parents=True, exist_ok=True)
            (SHOTS / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
            shot_viewport(page)
            perf = page.evaluate("window.l5dDashboard")
            assert folded["polls"] >= 2 and expanded["polls"] >= 2
            assert page.evaluate(
                "document.querySelector('.cards.clients .card')._mark") == "kept"
            assert 0 < perf["lastPainted"] < perf["cards"]
            assert errors == []
        finally:
            stop.set()
            t.join()


def perf_cards(page) -> int:
    return page.evaluate("window.l5dDashboard.cards")


def measure(page, cdp, l5d: L5d) -> dict:
    """Chromium's CPU accounting and the dashboard's update times over WINDOW_S."""
    def metrics() -> dict:
        got = cdp.send("Performance.getMetrics")["metrics"]
        return {m["name"]: m["value"] for m in got}

    polls0 = page.evaluate("window.l5dDashboard.polls")
    m0, w0 = metrics(), time.monotonic()
    time.sleep(WINDOW_S)
    m1, w1 = metrics(), time.monotonic()
    perf = page.evaluate("window.l5dDashboard")
    elapsed = w1 - w0
    updates = perf["updates"][-(perf["polls"] - polls0):]
    return {
        "cards": perf["cards"], "window_s": round(elapsed, 2),
        "polls": perf["polls"] - polls0,
        "task_cpu_share": round((m1["TaskDuration"] - m0["TaskDuration"]) / elapsed, 4),
        "script_cpu_share": round((m1["ScriptDuration"] - m0["ScriptDuration"]) / elapsed, 4),
        "layout_s": round(m1["LayoutDuration"] - m0["LayoutDuration"], 4),
        "first_update_ms": round(perf["updates"][0], 2),
        "update_ms_median": round(statistics.median(updates), 2),
        "update_ms_max": round(max(updates), 2),
        "parse_ms_last": round(perf["lastParseMs"], 2),
        "cards_painted_last_poll": perf["lastPainted"],
        "dashboard_json_bytes": len(json.dumps(l5d_dashboard(l5d))),
        "dom_nodes": int(m1["Nodes"]),
    }


def l5d_dashboard(l5d: L5d) -> dict:
    import urllib.request
    with urllib.request.urlopen(
            f"http://127.0.0.1:{l5d.admin_port}/admin/dashboard.json", timeout=10) as rsp:
        return json.loads(rsp.read())


def shot_viewport(page) -> None:
    """The first screen of the 500-client dashboard (a full page would be 100 screens)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-500.png"))

