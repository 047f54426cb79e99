"""Remembered heads through a real l5d: repeated requests and responses over real sockets.

Keep-alive clients repeat their request head byte for byte and upstreams repeat
their response heads, so after the first exchange l5d replays what it parsed
(``l5d/http/memo.py``). These tests send the same bytes again and again and check
that every exchange is still its own: fresh trace ids upstream, each response's
own body downstream, and the strict path's answers for what may not be replayed.
The in-memory versions (which also check that the memo was hit) are in
``tests/l5d/http/test_memo.py``.
"""

from __future__ import annotations

import json
import socket

import requests

from tests.helpers.backends import EchoBackend, ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d
from tests.helpers.raw_http import RawClient

TRACE_HEADERS = {"l5d-reqid", "l5d-ctx-trace"}
GET = b"GET http://svc/same?x=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n"


def _without_trace(record: dict) -> dict:
    return dict(record, headers=[(n, v) for n, v in record["headers"]
                                 if n.lower() not in TRACE_HEADERS])


def _reqid(record: dict) -> str:
    return next(v for n, v in record["headers"] if n.lower() == "l5d-reqid")


class RepeatedRequestTests:
    """One client repeating one request on one connection, to an echo backend."""

    def test_each_repeat_is_forwarded_alike_with_its_own_trace_and_gets_its_own_body(self) -> None:
        """Five identical requests: identical upstream heads but for five distinct trace ids,
        and each client response carries the body the backend wrote for that request."""
        with EchoBackend() as backend, L5d(f"/svc/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                bodies = []
                for _ in range(5):
                    c.send(GET)
                    rsp = c.read_response()
                    assert rsp.status == 200 and rsp.complete, rsp
                    bodies.append(json.loads(rsp.body))
            assert len(backend.requests) == 5
            first = _without_trace(backend.requests[0])
            assert all(_without_trace(r) == first for r in backend.requests)
            assert first["target"] == "/same?x=1"
            assert len({_reqid(r) for r in backend.requests}) == 5
            assert [_reqid(b) for b in bodies] == [_reqid(r) for r in backend.requests]

    def test_requests_session_through_http_proxy(self) -> None:
        """A real client's keep-alive session: every repeat routed and answered."""
        with EchoBackend() as backend, L5d(f"/svc/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with requests.Session() as s:
                s.proxies = {"http": l5d.proxy}
                got = [s.get("http://svc/p", timeout=10) for _ in range(6)]
            assert [r.status_code for r in got] == [200] * 6
            assert [_reqid(r.json()) for r in got] == [_reqid(r) for r in backend.requests]


def _fixed_responses(responses: list[bytes]):
    """A backend answering the n-th request on a connection with responses[n] (then closing)."""
    def serve(conn: socket.socket, log: list) -> None:
        buf = b""
        for rsp in responses:
            head, buf = read_head(conn, buf)
            if not head:
                return
            log.append(head)
            for part in rsp if isinstance(rsp, list) else [rsp]:
                conn.sendall(part)
    return serve


OK = (b"HTTP/1.1 200 OK\r\nServer: s\r\nX-A: 1\r\nl5d-extra: y\r\nContent-Length: 5\r\n\r\n")


class RepeatedResponseTests:
    """An upstream repeating one response head: each body is its own, framing still checked."""

    def test_same_head_different_bodies_and_a_head_request_between(self) -> None:
        """GET, GET, HEAD, GET with one head: the bodies are each response's own, HEAD has none."""
        script = [OK + b"one\r\n", OK + b"two\r\n", OK, OK + b"four\n"]
        with ScriptedBackend(_fixed_responses(script)) as backend, \
                L5d(f"/svc/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                got = []
                for method in (b"GET", b"GET"):
                    c.send(GET.replace(b"GET", method, 1))
                    got.append(c.read_response())
                c.send(GET.replace(b"GET", b"HEAD", 1))
                head, rest = c.read_head_response()
                c.send(GET)
                got.append(c.read_response())
            assert [r.body for r in got] == [b"one\r\n", b"two\r\n", b"four\n"]
            assert all(r.status == 200 and r.header("x-a") == "1" for r in got)
            assert got[0].headers == got[1].headers == got[2].headers
            assert b"Content-Length: 5" in head and rest == b""

    def test_a_known_head_with_a_short_body_is_never_complete(self) -> None:
        """The second response has the known head but the upstream closes 2 bytes early:
        the client's connection is cut, never handed a complete-looking response."""
        script = [OK + b"one\r\n", [OK + b"tw"]]
        with ScriptedBackend(_fixed_responses(script)) as backend, \
                L5d(f"/svc/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(GET)
                assert c.read_response().body == b"one\r\n"
                c.send(GET)
                rsp = c.read_response()
            assert not rsp.complete
