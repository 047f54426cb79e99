"""E6: an outgoing router in front of two incoming routers, all in one l5d process.

``out`` (the 4140 role) spreads ``/svc/x`` over the two incoming routers (the 4141 role
on two nodes) with an ``io.l5d.fs`` file. ``in-dead`` forwards to a port that refuses
connections (the app on its node is down), ``in-live`` to a working app. ``in-dead``
requeues the refused connects, then answers 502 with ``l5d-retryable: true`` (nothing
reached an app); ``out`` retries that response on ``in-live``, whatever the method, and
the client sees the app's 200. The app sees every request exactly once.

Every listener is on port 0: the fs file naming the incoming routers is written once
l5d has said where they listen, and the test waits for ``out`` to have read it.
"""

from __future__ import annotations

import itertools

import pytest
import requests

from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.raw_http import RawClient, request
from tests.helpers.resilience import Backend, free_port, stat

TIMEOUT_S = 20
_ids = itertools.count()


def chain_config(disco, refused: int, app: int, classifier: str) -> str:
    return f"""\
admin: {{ip: 127.0.0.1, port: 0}}
namers:
- kind: io.l5d.fs
  rootDir: {disco}
routers:
- protocol: http
  label: out
  dtab: /svc=>/#/io.l5d.fs
  service: {{responseClassifier: {{kind: {classifier}}}}}
  client: {{loadBalancer: {{kind: roundRobin}}}}
  servers:
  - {{ip: 127.0.0.1, port: 0}}
- protocol: http
  label: in-dead
  dtab: /svc=>/$/inet/127.0.0.1/{refused}
  servers:
  - {{ip: 127.0.0.1, port: 0}}
- protocol: http
  label: in-live
  dtab: /svc=>/$/inet/127.0.0.1/{app}
  servers:
  - {{ip: 127.0.0.1, port: 0}}
"""


def send(port: int, method: str, target: str, body: bytes = b""):
    """One request, head and body in one write: l5d has the whole request before any
    answer can come back (see test_retries.LateBodyTests for a body still on its way)."""
    with RawClient(port) as c:
        c.send(request(method, target, [("Host", "x"), ("Content-Length", str(len(body)))],
                       body))
        return c.read_response()


@pytest.fixture(params=["io.l5d.http.retryableRead5XX", "io.l5d.http.nonRetryable5XX"],
                ids=["read5XX", "default"])
def chain(request, tmp_path):
    disco = tmp_path / "disco"
    disco.mkdir()
    with Backend() as app, L5d(config=chain_config(disco, free_port(), app.port,
                                                   request.param)) as l5d:
        (disco / "x").write_text(f"127.0.0.1 {l5d.ports['in-dead']}\n"
                                 f"127.0.0.1 {l5d.ports['in-live']}\n")
        # written after x: once out routes /svc/ready, it has read x too (one poll reads all)
        (disco / "ready").write_text(f"127.0.0.1 {app.port}\n")
        assert wait_for(lambda: requests.get(
            "http://ready/", proxies={"http": f"http://127.0.0.1:{l5d.ports['out']}"},
            timeout=TIMEOUT_S).status_code == 200, timeout_s=10, interval_s=0.1)
        yield l5d, app


class ChainTests:
    """E6 through real sockets."""

    def test_refused_app_on_one_node_is_retried_on_the_other(self, chain) -> None:
        """POSTs and GETs through ``out``: all 200, each reached the app once; every request
        ``in-dead`` refused was retried once by ``out``. ``in-dead`` on its own answers a
        502 marked ``l5d-retryable: true``."""
        l5d, app = chain
        targets = []
        for method in ("POST", "POST", "POST", "POST", "GET", "GET"):
            target = f"/e6-{next(_ids)}"
            targets.append(target)
            rsp = send(l5d.ports["out"], method, target, b"order" if method == "POST" else b"")
            assert rsp.status == 200, (method, rsp.status, rsp.body)
            assert rsp.header("l5d-success-class") == "1.0"
        assert sorted(t for t in app.targets() if t != "/") == sorted(targets)
        assert [s.body for s in app.seen if s.method == "POST"] == [b"order"] * 4
        m = l5d.metrics()
        refused = stat(m, "rt/in-dead/server/", "requests")
        assert refused >= 2  # round robin: every other request at least
        assert stat(m, "rt/in-dead/server/", "failures") == refused
        assert m["rt/out/service/svc/x/retries/total"] == refused
        assert m["rt/out/service/svc/x/success"] == 6
        assert stat(m, "rt/in-live/service/", "success") == 6

        direct = send(l5d.ports["in-dead"], "POST", "/direct", b"d")
        assert direct.status == 502
        assert direct.header("l5d-retryable") == "true"
        assert "/direct" not in app.targets()
