"""io.l5d.recentRequests in a real l5d: the last requests at /requests.json and /requests.

A real client (``http.client``, one keep-alive connection) sends 8 requests through l5d
to a real backend: 200s, a 500 and an unroutable name (l5d's 502). With ``sampleRate``
1.0 and ``capacity`` 5, the admin server shows the last 5, newest first, each with the
source the client sent from, the logical name, the client, the endpoint and the status.
``/requests`` is the admin UI's page (fed by ``/requests.json``: its browser test is
tests/integration/test_admin_ui_browser.py); the telemeter's own plain table
(:func:`~l5d.telemetry.recent_requests.requests_html`) is checked over the same rows.
"""

from __future__ import annotations

import http.client

import requests

from l5d.telemetry.recent_requests import requests_html
from tests.helpers.l5d_process import L5d, config_text
from tests.helpers.resilience import Scripted

TIMEOUT_S = 20
#: (method, Host, target): 8 requests, the last 5 kept
SENT = [("GET", "x", "/ok1"), ("GET", "x", "/ok2"), ("GET", "x", "/ok3"),
        ("GET", "x", "/ok4"), ("POST", "x", "/always"), ("GET", "nowhere", "/lost"),
        ("GET", "x", "/ok5"), ("GET", "x", "/ok6")]


def l5d_for(port: int) -> L5d:
    return L5d(config=config_text(f"/svc/x=>/$/inet/127.0.0.1/{port}") + (
        "telemetry:\n- kind: io.l5d.recentRequests\n  sampleRate: 1.0\n  capacity: 5\n"))


def send(l5d: L5d) -> list[tuple[int, str]]:
    """Send :data:`SENT`; ``(status, source ip:port)`` of each."""
    conn = http.client.HTTPConnection("127.0.0.1", l5d.port, timeout=TIMEOUT_S)
    out = []
    try:
        for method, host, target in SENT:
            conn.request(method, target, body=b"" if method == "POST" else None,
                         headers={"Host": host})
            ip, port = conn.sock.getsockname()[:2]
            rsp = conn.getresponse()
            rsp.read()
            out.append((rsp.status, f"{ip}:{port}"))
    finally:
        conn.close()
    return out


def admin(l5d: L5d, path: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{l5d.admin_port}{path}", timeout=TIMEOUT_S)


def test_the_last_five_requests_with_their_names_and_statuses() -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        sent = send(l5d)
        assert [s for s, _ in sent] == [200, 200, 200, 200, 500, 502, 200, 200]
        rsp = admin(l5d, "/requests.json")
        assert rsp.status_code == 200
        assert rsp.headers["content-type"] == "application/json"
        rows = rsp.json()
        html = admin(l5d, "/requests")
        limited = admin(l5d, "/requests.json?router=http&limit=2").json()
        other = admin(l5d, "/requests.json?router=nope").json()

    client = f"/$/inet/127.0.0.1/{b.port}"
    endpoint = f"127.0.0.1:{b.port}"
    got = [(r["method"], r["uri"], r["host"], r["status"], r["service"], r["client"],
            r["endpoint"], r["source"]) for r in rows]
    newest = list(zip(SENT, sent))[:2:-1]  # the last 5, newest first
    want = []
    for (method, host, target), (status, source) in newest:
        routed = host == "x"
        want.append((method, target, host, status, "/svc/" + host,
                     client if routed else "", endpoint if routed else "", source))
    assert got == want
    assert {r["router"] for r in rows} == {"http"}
    assert all(r["latency_ms"] > 0 and r["time"].endswith("Z") for r in rows)
    assert [r["time"] for r in rows] == sorted((r["time"] for r in rows), reverse=True)
    lost = next(r for r in rows if r["status"] == 502)
    assert "/svc/nowhere" in lost["error"]
    assert [r["uri"] for r in limited] == ["/ok6", "/ok5"]
    assert other == []
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "/static/requests.js" in html.text  # the admin UI's page
    table = requests_html(rows)
    assert table.count("<tr>") == 6  # the heading and 5 requests
    assert f"<td>{endpoint}</td>" in table and "<td>/svc/nowhere</td>" in table
