"""The admin UI in a real browser (headless Chromium) against a real l5d serving real traffic.

One l5d (two backends, A and B, and ``io.l5d.recentRequests``) and one browser serve the
module. Every page is saved as a PNG under ``$TMPDIR/l5d-shots`` (``L5D_SHOTS``). The tests
of saving a dtab are in tests/integration/test_admin_ui_save.py; the 500-client measurement
is tests/integration/test_admin_ui_scale.py.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.helpers.browser import chromium, shot
from tests.helpers.l5d_process import L5d, config_text
from tests.helpers.resilience import Scripted

TIMEOUT_MS = 15_000


def dtab_for(a: int, b: int) -> str:
    return (f"/svc/x=>/$/inet/127.0.0.1/{a};/svc/y=>/$/inet/127.0.0.1/{a} | "
            f"/$/inet/127.0.0.1/{b};/svc/d1=>/$/inet/127.0.0.1/{a};"
            f"/svc/d2=>/$/inet/127.0.0.1/{b};/svc/z=>~ | /svc/x")


@pytest.fixture(scope="module")
def site():
    with Scripted() as a, Scripted() as b:
        cfg = config_text(dtab_for(a.port, b.port)) + (
            "telemetry:\n- kind: io.l5d.recentRequests\n  sampleRate: 1.0\n  capacity: 50\n")
        with L5d(config=cfg) as l5d, chromium() as browser:
            yield l5d, browser, a, b


def send(l5d: L5d, host: str, n: int = 1, target: str = "/hello") -> list[int]:
    conn = http.client.HTTPConnection("127.0.0.1", l5d.port, timeout=10)
    out = []
    try:
        for _ in range(n):
            conn.request("GET", target, headers={"Host": host})
            rsp = conn.getresponse()
            rsp.read()
            out.append(rsp.status)
    finally:
        conn.close()
    return out


def open_page(site, path: str):
    l5d, browser, _, _ = site
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{l5d.admin_port}{path}")
    page.js_errors = errors
    return page


def card(page, kind: str, ident: str):
    return page.locator(f".cards.{kind}s .card[data-id='{ident}']")


def test_dashboard_shows_the_requests_sent_and_its_charts_move(site) -> None:
    """7 requests to d1 and 3 to d2 show on their service cards and on B's client card; with
    traffic flowing the router's rate is a number and its chart has points."""
    l5d, _, a, b = site
    assert send(l5d, "d1", 7) == [200] * 7
    assert send(l5d, "d2", 3) == [200] * 3
    page = open_page(site, "/")
    d1 = card(page, "service", "svc/d1")
    d1.wait_for(timeout=TIMEOUT_MS)
    d1.locator("dd").first.filter(has_text="7").wait_for(timeout=TIMEOUT_MS)
    d2 = card(page, "service", "svc/d2")
    assert d2.locator("dd").first.inner_text() == "3"
    client_b = card(page, "client", f"$/inet/127.0.0.1/{b.port}")
    assert client_b.locator("dd").first.inner_text() == "3"
    assert client_b.locator(".ep .lbl").inner_text().endswith("1 / 1")
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            send(l5d, "x", 5)
            time.sleep(0.05)

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        page.wait_for_function(
            "() => window.l5dDashboard.polls >= 4 && "
            "document.querySelector('.router .metric .v').textContent !== '–' && "
            "Number(document.querySelector('.router .metric .v').textContent) > 0",
            timeout=TIMEOUT_MS)
        points = page.locator(".router .chartrow svg polyline:not(.area)").first.get_attribute(
            "points")
        assert len(points.split()) >= 2, points
        time.sleep(1.5)
        shot(page, "dashboard")
    finally:
        stop.set()
        t.join()
    assert page.js_errors == []


def test_the_filter_hides_cards_and_cards_collapse(site) -> None:
    """Typing svc/d1 in the filter hides the other service cards; clicking a card's head
    folds its body away and clicking again opens it."""
    l5d, _, _, _ = site
    send(l5d, "d1")
    send(l5d, "d2")
    page = open_page(site, "/")
    d1, d2 = card(page, "service", "svc/d1"), card(page, "service", "svc/d2")
    d2.wait_for(timeout=TIMEOUT_MS)
    page.fill("#filter", "svc/d1")
    assert d1.is_visible() and not d2.is_visible()
    page.fill("#filter", "")
    assert d2.is_visible()
    d1.locator(".head").click()
    assert "collapsed" in d1.get_attribute("class")
    assert not d1.locator(".body").is_visible()
    d1.locator(".head").click()
    assert d1.locator(".body").is_visible()
    page.evaluate("localStorage.clear()")
    assert page.js_errors == []


def test_the_playground_draws_the_tree_of_a_path(site) -> None:
    """/svc/z goes through ``~ | /svc/x``: the neg branch is greyed and not primary, the
    delegate to /svc/x and its leaf (with A's address) are the primary branch."""
    l5d, _, a, _ = site
    page = open_page(site, "/dtab?path=/svc/z")
    leaf = page.locator("#tree-live .dnode.leaf.primary")
    leaf.wait_for(timeout=TIMEOUT_MS)
    assert f"127.0.0.1:{a.port}" in leaf.inner_text()
    neg = page.locator("#tree-live .dnode.neg")
    assert neg.count() == 1 and "primary" not in neg.get_attribute("class")
    assert "/svc/z => ~ | /svc/x" in page.locator("#tree-live").inner_text()
    assert page.locator("#preview-col").is_hidden()
    shot(page, "dtab")
    assert page.js_errors == []


def test_the_playground_identifies_a_whole_request(site) -> None:
    """A request with Host y and an l5d-dtab header is identified as /svc/y by the router's
    identifier, and delegated with the header's dtab (y goes to d2's backend, B)."""
    l5d, _, _, b = site
    page = open_page(site, "/dtab")
    page.click("#tab-request")
    page.select_option("#pg-method", "POST")
    page.fill("#pg-host", "y")
    page.fill("#pg-uri", "/some/path?q=1")
    page.fill("#pg-headers", "l5d-dtab: /svc/y=>/svc/d2")
    page.click("#form-request button[type=submit]")
    page.locator("#pg-ident .ident-path").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#pg-ident .ident-path").inner_text() == "/svc/y"
    leaf = page.locator("#tree-live .dnode.leaf.primary")
    leaf.wait_for(timeout=TIMEOUT_MS)
    assert f"127.0.0.1:{b.port}" in leaf.inner_text()
    shot(page, "dtab-request")
    assert page.js_errors == []


def test_the_preview_shows_what_an_unsaved_edit_would_change(site) -> None:
    """Editing /svc/x to point at B (unsaved) draws a second tree ending at B next to the
    live one (still A), and says the edit changes where /svc/x goes; the live routing is
    unchanged (a request still reaches A)."""
    l5d, _, a, b = site
    page = open_page(site, "/dtab?path=/svc/x")
    page.locator("#tree-live .dnode.leaf.primary").wait_for(timeout=TIMEOUT_MS)
    text = page.input_value("#editor")
    page.fill("#editor", text + f"\n/svc/x=>/$/inet/127.0.0.1/{b.port}")
    page.locator("#tree-preview .dnode.leaf.primary").wait_for(timeout=TIMEOUT_MS)
    page.locator("#pg-change pre").wait_for(timeout=TIMEOUT_MS)
    assert f"127.0.0.1:{b.port}" in page.locator(
        "#tree-preview .dnode.leaf.primary").first.inner_text()
    assert f"127.0.0.1:{a.port}" in page.locator("#tree-live .dnode.leaf.primary").inner_text()
    assert "changes where /svc/x goes" in page.locator("#pg-change").inner_text()
    shot(page, "dtab-preview")
    before = a.count("/after-preview")
    send(l5d, "x", 1, "/after-preview")
    assert a.count("/after-preview") == before + 1
    assert page.js_errors == []


def test_requests_are_listed_filtered_and_link_into_the_playground(site) -> None:
    """A request sent through l5d is a row of /requests; the filter keeps it alone; its
    trace link opens the playground with the request filled in and identified."""
    l5d, _, _, _ = site
    send(l5d, "x", 1, "/traced-request")
    page = open_page(site, "/requests")
    row = page.locator("#requests tbody tr", has_text="/traced-request")
    row.first.wait_for(timeout=TIMEOUT_MS)
    page.fill("#filter", "traced-request")
    assert page.locator("#requests tbody tr").count() == 1
    shot(page, "requests")
    row.first.locator("a.trace").click()
    page.wait_for_url("**/dtab?**")
    page.locator("#pg-ident .ident-path").wait_for(timeout=TIMEOUT_MS)
    assert page.input_value("#pg-host") == "x"
    assert page.input_value("#pg-uri") == "/traced-request"
    assert page.locator("#pg-ident .ident-path").inner_text() == "/svc/x"
    page.locator("#tree-live .dnode.leaf.primary").wait_for(timeout=TIMEOUT_MS)
    assert page.js_errors == []


@pytest.mark.parametrize("path,ready", [
    ("/config", "#config"),
    ("/metrics", ".mtree details"),
    ("/help", ".prose"),
    ("/admin", "table.grid"),
    ("/logging", "#loggers"),
])
def test_the_other_pages_render(site, path: str, ready: str) -> None:
    """Config, metrics, help, the index and logging render in the site's frame (nav with the
    page marked) without script errors."""
    page = open_page(site, path)
    page.locator(ready).first.wait_for(timeout=TIMEOUT_MS)
    if path == "/metrics":
        page.fill("#filter", "rt/http/service")
        page.locator(".mtree .leaf").first.wait_for(timeout=TIMEOUT_MS)
    time.sleep(0.5)
    shot(page, path.strip("/"))
    assert page.js_errors == []


def test_the_playground_shows_transformer_steps(site, tmp_path) -> None:
    """Through an io.l5d.fs namer and an io.l5d.port transformer, the tree shows the
    transformer's step (its name and the addresses it started from) above the leaf with the
    transformed address."""
    disco = tmp_path / "disco"
    disco.mkdir()
    (disco / "web").write_text("127.0.0.1 7777\n")
    cfg = config_text("/svc=>/#/io.l5d.fs", router="""\
        interpreter:
          transformers:
          - kind: io.l5d.port
            port: 4141
        """, namers=f"namers:\n- kind: io.l5d.fs\n  rootDir: {disco}\n")
    with L5d(config=cfg) as l5d:
        page = site[1].new_page(viewport={"width": 1400, "height": 900})  # the module's browser
        page.goto(f"http://127.0.0.1:{l5d.admin_port}/dtab?path=/svc/web")
        step = page.locator("#tree-live .dnode.transformation")
        step.wait_for(timeout=TIMEOUT_MS)
        assert "PortTransformer" in step.inner_text()
        assert "127.0.0.1:7777" in step.inner_text()
        leaf = page.locator("#tree-live .dnode.leaf.primary")
        assert "127.0.0.1:4141" in leaf.inner_text()
        shot(page, "dtab-transformer")
