"""Metrics from a real l5d: /admin/metrics.json (flat, tree, q), Prometheus text that
promtool accepts, and a real Prometheus server that scrapes l5d and answers PromQL.

Traffic is a known mix through a real backend: successes, 500s (one retried and then
answered), and an unroutable name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import requests

from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.prometheus_server import query as _query
from tests.helpers.resilience import Scripted

TIMEOUT_S = 20
SVC = "rt/http/service/svc/x/"
READ5XX = "io.l5d.http.retryableRead5XX"
#: the only lint findings promtool may report: they come with Linkerd's metric names
LINKERD_NAMING_LINTS = ("metric names should not contain ':'",
                        "metric names should not contain abbreviated units",
                        'counter metrics should have "_total" suffix')


def l5d_for(port: int) -> L5d:
    config = config_text(
        f"/svc/x=>/$/inet/127.0.0.1/{port}",
        router=f"service: {{responseClassifier: {{kind: {READ5XX}}}}}") + (
        "telemetry:\n- kind: io.l5d.prometheus\n")
    return L5d(config=config)


def send_mix(l5d: L5d) -> dict[int, int]:
    """5 GETs answered 200; 2 POSTs answered 500 (not retried: not reads); 1 GET answered
    500 then, retried, 200; 1 GET to an unroutable name (502)."""
    proxies = {"http": f"http://{l5d.proxy}"}
    got: dict[int, int] = {}
    for method, target in [("GET", "/ok")] * 5 + [("POST", "/always1"), ("POST", "/always2"),
                                                   ("GET", f"/once{time.monotonic_ns()}")]:
        code = requests.request(method, f"http://x{target}", proxies=proxies,
                                timeout=TIMEOUT_S).status_code
        got[code] = got.get(code, 0) + 1
    code = requests.get("http://nowhere/", proxies=proxies, timeout=TIMEOUT_S).status_code
    got[code] = got.get(code, 0) + 1
    return got


def admin(l5d: L5d, path: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{l5d.admin_port}{path}", timeout=TIMEOUT_S)


def test_metrics_json_counts_the_mix_in_every_scope() -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        assert send_mix(l5d) == {200: 6, 500: 2, 502: 1}
        m = admin(l5d, "/admin/metrics.json").json()
        srv = next(k for k in m if k.startswith("rt/http/server/")).split("/")[3:5]
        server = "rt/http/server/" + "/".join(srv) + "/"
        assert (m[server + "requests"], m[server + "success"], m[server + "failures"]) == (9, 6, 3)
        assert (m[server + "status/200"], m[server + "status/500"], m[server + "status/502"]) \
            == (6, 2, 1)
        assert (m[server + "status/2XX"], m[server + "status/5XX"]) == (6, 3)
        assert m[server + "request_latency_ms.count"] == 9
        assert (m[SVC + "requests"], m[SVC + "success"], m[SVC + "failures"]) == (8, 6, 2)
        assert m[SVC + "retries/total"] == 1
        assert m[SVC + "request_latency_ms.count"] == 8
        assert 0 < m[SVC + "request_latency_ms.p50"] <= m[SVC + "request_latency_ms.max"]
        client = f"rt/http/client/$/inet/127.0.0.1/{b.port}/"
        # every attempt is a client request: 8 and the retry
        assert m[client + "requests"] == 9
        assert (m[client + "status/500"], m[client + "status/200"]) == (3, 6)
        assert (m[client + "success"], m[client + "failures"]) == (6, 3)
        assert m[client + "request_latency_ms.count"] == 9
        # the client's view of the one service: the exchanges, as the service counts them
        view = client + "service/svc/x/"
        assert (m[view + "requests"], m[view + "success"], m[view + "failures"]) == (8, 6, 2)
        assert (m[view + "status/200"], m[view + "status/500"]) == (6, 2)
        # nothing is in flight once every response is in
        assert m[server + "pending"] == m[SVC + "pending"] == m[client + "pending"] == 0


def test_connections_and_bytes_at_server_and_client() -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as sock:
            request = b"GET http://x/ok HTTP/1.1\r\nHost: x\r\n\r\n"
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"ok"):
                data = sock.recv(65536)
                assert data, answer
                answer += data
            m = admin(l5d, "/admin/metrics.json").json()
            server = next(k for k in m if k.startswith("rt/http/server/")).rsplit("/", 1)[0]
            assert (m[server + "/connects"], m[server + "/connections"]) == (1, 1)
            assert m[server + "/received_bytes"] == len(request)
            assert m[server + "/sent_bytes"] == len(answer)
        client = f"rt/http/client/$/inet/127.0.0.1/{b.port}/"
        assert (m[client + "connects"], m[client + "connections"]) == (1, 1)
        # what went upstream: the request plus l5d's headers; what came back: the answer
        # less the headers l5d adds on the way down (none it removes here)
        assert m[client + "sent_bytes"] > len(request)
        assert 0 < m[client + "received_bytes"] <= len(answer) + 200
        closed = server + "/connections"
        assert wait_for(lambda: admin(l5d, "/admin/metrics.json").json()[closed] == 0,
                        TIMEOUT_S)


def test_tree_and_subtree_and_linkerd_404() -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        send_mix(l5d)
        tree = admin(l5d, "/admin/metrics.json?tree=1").json()
        assert tree["rt"]["http"]["service"]["svc/x"]["requests"] == {"counter": 8}
        sub = admin(l5d, "/admin/metrics.json?q=rt/http/service/svc/x").json()
        assert sub["requests"] == 8 and sub["status/200"] == 6
        rsp = admin(l5d, "/admin/metrics.json?q=rt/http/service/svc/nope")
        assert rsp.status_code == 404
        assert rsp.json() == {"error": "No such subtree: rt/http/service/svc/nope"}


def test_prometheus_text_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by make test"
    with Scripted() as b, l5d_for(b.port) as l5d:
        send_mix(l5d)
        rsp = admin(l5d, "/admin/metrics/prometheus")
        assert rsp.status_code == 200
        assert rsp.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = rsp.text
    assert 'rt:service:requests{rt="http",service="svc/x"} 8\n' in text
    assert 'rt:service:request_latency_ms_count{rt="http",service="svc/x"} 8\n' in text
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    findings = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    assert findings, "promtool reports Linkerd's colon names at least"
    assert not [ln for ln in findings if "error" in ln.lower()]  # the text parses
    unexpected = [ln for ln in findings if not ln.endswith(LINKERD_NAMING_LINTS)]
    assert unexpected == []


def test_a_real_prometheus_scrapes_l5d_and_answers_promql(prometheus_server) -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        url = prometheus_server(l5d.admin_port)
        up = 'up{job="l5d"}'
        assert wait_for(lambda: [r["value"][1] for r in _query(url, up)] == ["1"], 30)
        send_mix(l5d)
        total = 'rt:service:requests{rt="http",service="svc/x"}'
        assert wait_for(lambda: [r["value"][1] for r in _query(url, total)] == ["8"], 30)
        time.sleep(1.5)
        send_mix(l5d)  # 8 more requests to svc/x between scrapes
        assert wait_for(lambda: [r["value"][1] for r in _query(url, total)] == ["16"], 30)
        rate = _query(url, f"rate({total}[1m])")
        assert len(rate) == 1 and float(rate[0]["value"][1]) > 0
        assert rate[0]["metric"]["service"] == "svc/x"
        by_class = _query(url, 'sum by (rt) (rt:server:status:5XX)')
        assert [r["value"][1] for r in by_class] == ["6"]
