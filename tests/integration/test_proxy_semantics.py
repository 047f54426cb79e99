"""Proxy semantics through a real l5d: reliability matrix group C (C1-C12).

Each class is one row. Requests are written byte for byte with
:class:`RawClient` (or sent with ``requests``/``curl``) and the backends record
what reached them, so "never forwarded" and "stripped" are checked on the
application side, not inferred from the status code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
import requests

from tests.helpers.backends import EchoBackend, ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.raw_http import RawClient, request

TIMEOUT_S = 20


def config(dtab: str, *, server: str = "", router: str = "", namers: str = "") -> str:
    """A whole l5d.yaml on port 0; ``server``/``router`` are extra YAML keys (flow style lines)."""
    return config_text(dtab, server=server, router=router, namers=namers)


def headers_of(rsp) -> dict[str, str]:
    return {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in rsp.headers}


def seen(backend: EchoBackend, index: int = -1) -> dict[str, str]:
    return {n.lower(): v for n, v in backend.requests[index]["headers"]}


@pytest.fixture(scope="module")
def echo_router():
    """/svc/svc and /svc/echo go to one echo backend; /svc/other to another."""
    with EchoBackend() as backend, EchoBackend() as other:
        dtab = (
            f"/svc/svc=>/$/inet/127.0.0.1/{backend.port};"
            f"/svc/echo=>/$/inet/127.0.0.1/{backend.port};"
            f"/svc/svc:8080=>/$/inet/127.0.0.1/{backend.port};"
            f"/svc/other=>/$/inet/127.0.0.1/{other.port}"
        )
        with L5d(dtab) as l5d:
            yield l5d, backend, other


class AbsoluteFormTests:
    """C1: an absolute-form request is routed by its authority and forwarded in origin-form."""

    def test_routes_by_the_uri_authority_not_the_host_header(self, echo_router) -> None:
        """GET http://svc/x with Host: other goes to svc as GET /x with Host: svc."""
        l5d, backend, other = echo_router
        before_other = len(other.requests)
        with RawClient(l5d.port) as c:
            c.send(request("GET", "http://svc/x", [("Host", "other")]))
            rsp = c.read_response()
        assert rsp.status == 200, rsp
        assert len(other.requests) == before_other
        req = backend.requests[-1]
        assert req["target"] == "/x"
        hosts = [v for n, v in req["headers"] if n.lower() == "host"]
        assert hosts == ["svc"]
        assert seen(backend)["l5d-dst-service"] == "/svc/svc"

    @pytest.mark.parametrize(
        "target, origin",
        [
            ("http://svc/a/b?q=%20x&y=1", "/a/b?q=%20x&y=1"),
            ("http://svc?q=1", "/?q=1"),
            ("http://svc", "/"),
            ("http://svc/%2F..%2F?x=a+b", "/%2F..%2F?x=a+b"),
            ("HTTP://svc/upper", "/upper"),
        ],
    )
    def test_path_and_query_are_kept_as_sent(self, echo_router, target: str, origin: str) -> None:
        """The path and the query's encoding are forwarded untouched."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(request("GET", target, [("Host", "svc")]))
            assert c.read_response().status == 200
        assert backend.requests[-1]["target"] == origin

    def test_the_authority_port_is_part_of_the_name(self, echo_router) -> None:
        """http://svc:8080/ is Host svc:8080, identified as /svc/svc:8080."""
        l5d, backend, other = echo_router
        rsp = requests.get(
            "http://svc:8080/p", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
        )
        assert rsp.status_code == 200
        assert seen(backend)["host"] == "svc:8080"
        assert seen(backend)["l5d-dst-service"] == "/svc/svc:8080"

    def test_curl_with_http_proxy_sends_absolute_form(self, echo_router) -> None:
        """curl through http_proxy: routed by the URL's host, the path arrives in origin-form."""
        l5d, backend, other = echo_router
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://echo/c?d=1"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=dict(os.environ, http_proxy=f"http://{l5d.proxy}", no_proxy=""),
        )
        assert out.stdout == "200"
        assert backend.requests[-1]["target"] == "/c?d=1"
        assert seen(backend)["host"] == "echo"


class MalformedHostTests:
    """C2: requests without a usable Host are refused with 400 and never routed."""

    @pytest.mark.parametrize(
        "name, headers",
        [
            ("no-host", []),
            ("two-hosts", [("Host", "svc"), ("Host", "svc")]),
            ("two-different-hosts", [("Host", "svc"), ("Host", "other")]),
            ("space", [("Host", "svc other")]),
            ("userinfo", [("Host", "user@svc")]),
            ("control", [("Host", "svc\x01")]),
            ("tab", [("Host", "s\tvc")]),
        ],
    )
    def test_refused_with_400(self, echo_router, name: str, headers) -> None:
        """An HTTP/1.1 request with no, two, or a malformed Host: 400, nothing forwarded."""
        l5d, backend, other = echo_router
        before = len(backend.requests) + len(other.requests)
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/", headers))
            rsp = c.read_response()
        assert rsp.status == 400, (name, rsp)
        time.sleep(0.05)
        assert len(backend.requests) + len(other.requests) == before, name

    def test_absolute_form_with_userinfo_is_refused(self, echo_router) -> None:
        """http://user@svc/ is not routed (userinfo in the authority)."""
        l5d, backend, other = echo_router
        before = len(backend.requests)
        with RawClient(l5d.port) as c:
            c.send(request("GET", "http://user@svc/", [("Host", "svc")]))
            assert c.read_response().status == 400
        assert len(backend.requests) == before


class UnknownNameTests:
    """C3: a Host the dtab does not know is Linkerd's fast 502 with l5d-err (400 only if
    unidentified)."""

    def test_unknown_host_is_a_fast_502(self, echo_router) -> None:
        """No dentry for /svc/nope: 502 at once (not after the binding timeout), with l5d-err."""
        l5d, backend, other = echo_router
        started = time.monotonic()
        rsp = requests.get(
            "http://nope/", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
        )
        assert time.monotonic() - started < 5.0
        assert rsp.status_code == 502
        assert "service name: /svc/nope" in rsp.text
        assert rsp.headers["l5d-err"].startswith("Unable+to+route+request%21")

    def test_unidentified_request_is_a_400(self) -> None:
        """With the io.l5d.path identifier, a request with no path segment is unidentified: 400."""
        with EchoBackend() as backend, L5d(
            config=config(
                f"/svc/a=>/$/inet/127.0.0.1/{backend.port}",
                router="identifier: {kind: io.l5d.path, segments: 1}",
            )
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "x")]))
                rsp = c.read_response()
            assert rsp.status == 400
            assert rsp.body.decode().endswith(" / not enough segments in path")
            assert backend.requests == []
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/a/b", [("Host", "x")]))
                assert c.read_response().status == 200


class NoEndpointsTests:
    """C4: a name bound to zero endpoints fails fast with 502 (Linkerd), it does not hang."""

    def test_empty_address_set_is_a_fast_502(self, tmp_path) -> None:
        """An io.l5d.fs service file with no lines: bound, but no endpoints -> 502 at once."""
        disco = tmp_path / "disco"
        disco.mkdir()
        (disco / "empty").write_text("# no endpoints right now\n")
        namers = f"namers:\n- kind: io.l5d.fs\n  rootDir: {disco}\n"
        with L5d(config=config("/svc=>/#/io.l5d.fs", namers=namers)) as l5d:
            started = time.monotonic()
            rsp = requests.get(
                "http://empty/", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
            )
            assert time.monotonic() - started < 5.0
            assert rsp.status_code == 502
            assert rsp.text.startswith("Unable to route request!\n\nservice name: /svc/empty\n")
            assert "l5d-err" in rsp.headers

    def test_nil_is_a_fast_502(self) -> None:
        """/$/nil (Empty) is a 502 too."""
        with L5d("/svc=>/$/nil") as l5d:
            started = time.monotonic()
            rsp = requests.get(
                "http://x/", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
            )
            assert time.monotonic() - started < 5.0
            assert rsp.status_code == 502


class MethodTests:
    """C5: CONNECT is refused with 405 (never tunnelled); TRACE is routed like any request
    (Linkerd)."""

    @pytest.mark.parametrize("target", ["echo:443", "127.0.0.1:443", "svc:80"])
    def test_connect_is_405_and_never_forwarded(self, echo_router, target: str) -> None:
        """CONNECT host:port -> 405 and the connection closes; the backend sees nothing."""
        l5d, backend, other = echo_router
        before = len(backend.requests)
        with RawClient(l5d.port) as c:
            c.send(request("CONNECT", target, [("Host", target)]))
            rsp = c.read_response()
            assert rsp.status == 405, rsp
            assert c.closed_by_peer()
        assert len(backend.requests) == before

    def test_trace_is_routed(self, echo_router) -> None:
        """TRACE reaches the backend (Linkerd routes it; diagnostic tracing is not implemented)."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(request("TRACE", "/t", [("Host", "echo")]))
            rsp = c.read_response()
        assert rsp.status == 200
        assert backend.requests[-1]["method"] == "TRACE"
        assert backend.requests[-1]["target"] == "/t"

    @pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PATCH", "PROPFIND"])
    def test_other_methods_are_routed(self, echo_router, method: str) -> None:
        """Any other method is forwarded as is."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(request(method, "/m", [("Host", "echo")]))
            assert c.read_response().status == 200
        assert backend.requests[-1]["method"] == method


HOSTPORT_DTAB = "/svc=>/$/io.buoyant.hostportPfx/inet;/inet=>/$/inet"


class OwnAddressTests:
    """C6: l5d never forwards to its own listeners (router or admin): 403."""

    @pytest.fixture(scope="class")
    def open_router(self):
        """A router that routes any host:port (the SSRF-shaped dtab)."""
        with EchoBackend() as backend, L5d(HOSTPORT_DTAB) as l5d:
            yield l5d, backend

    def _ports(self, l5d) -> dict[str, int]:
        return {"router": l5d.port, "admin": l5d.admin_port}

    @pytest.mark.parametrize("which", ["router", "admin"])
    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "0.0.0.0"])
    def test_absolute_form(self, open_router, which: str, host: str) -> None:
        """GET http://<loopback>:<own port>/admin/ping -> 403."""
        l5d, backend = open_router
        port = self._ports(l5d)[which]
        with RawClient(l5d.port) as c:
            c.send(request("GET", f"http://{host}:{port}/admin/ping", [("Host", "x")]))
            rsp = c.read_response()
        assert rsp.status == 403, rsp
        assert b"pong" not in rsp.body
        assert rsp.header("l5d-err") is not None

    @pytest.mark.parametrize("which", ["router", "admin"])
    def test_host_header(self, open_router, which: str) -> None:
        """Origin-form with Host: 127.0.0.1:<own port> -> 403."""
        l5d, backend = open_router
        port = self._ports(l5d)[which]
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/admin/ping", [("Host", f"127.0.0.1:{port}")]))
            rsp = c.read_response()
        assert rsp.status == 403

    @pytest.mark.parametrize("which", ["router", "admin"])
    def test_dtab_override(self, open_router, which: str) -> None:
        """An l5d-dtab naming an own port -> 403."""
        l5d, backend = open_router
        port = self._ports(l5d)[which]
        with RawClient(l5d.port) as c:
            c.send(
                request(
                    "GET",
                    "/admin/ping",
                    [
                        ("Host", "innocent"),
                        ("l5d-dtab", f"/svc/innocent=>/$/inet/127.0.0.1/{port}"),
                    ],
                )
            )
            rsp = c.read_response()
        assert rsp.status == 403

    def test_base_dtab(self, tmp_path) -> None:
        """A namer naming the admin port (the file written once the port is known) -> 403."""
        namers = f"namers:\n- kind: io.l5d.fs\n  rootDir: {tmp_path}\n"
        with L5d(config=config("/svc=>/#/io.l5d.fs", namers=namers)) as l5d:
            (tmp_path / "admin").write_text(f"127.0.0.1 {l5d.admin_port}\n")

            def status() -> int:
                return requests.get(
                    "http://admin/admin/ping",
                    proxies={"http": f"http://{l5d.proxy}"},
                    timeout=TIMEOUT_S,
                ).status_code

            assert wait_for(lambda: status() == 403, timeout_s=10)

    @pytest.mark.parametrize("which", ["router", "admin"])
    def test_node_ip(self, which: str) -> None:
        """The node's own IP (POD_IP in a DaemonSet) with an own port -> 403, without connecting."""
        with L5d(HOSTPORT_DTAB, env={"POD_IP": "10.11.12.13"}) as l5d:
            port = self._ports(l5d)[which]
            started = time.monotonic()
            with RawClient(l5d.port) as c:
                c.send(request("GET", f"http://10.11.12.13:{port}/admin/ping", [("Host", "x")]))
                rsp = c.read_response()
            assert rsp.status == 403
            assert time.monotonic() - started < 5

    def test_other_local_ports_are_still_routed(self, open_router) -> None:
        """Only l5d's own ports are refused: a backend on loopback is fine."""
        l5d, backend = open_router
        with RawClient(l5d.port) as c:
            c.send(request("GET", f"http://127.0.0.1:{backend.port}/ok", [("Host", "x")]))
            assert c.read_response().status == 200
        assert backend.requests[-1]["target"] == "/ok"


class LoopTests:
    """C7: Via entries over maxCallDepth are a 400; a loop between two l5ds ends there."""

    def test_via_over_max_call_depth_is_a_400(self) -> None:
        """maxCallDepth 3: three Via entries pass, four are refused with Linkerd's message."""
        with EchoBackend() as backend, L5d(
            config=config(f"/svc=>/$/inet/127.0.0.1/{backend.port}", server="maxCallDepth: 3")
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(
                    request("GET", "/", [("Host", "a"), ("Via", "1.1 a, 1.1 b"), ("Via", "1.1 c")])
                )
                assert c.read_response().status == 200
                assert seen(backend)["via"] == "1.1 a, 1.1 b, 1.1 c, 1.1 linkerd"
                c.send(
                    request(
                        "GET",
                        "/",
                        [("Host", "a"), ("Via", "1.1 a, 1.1 b"), ("Via", "1.1 c, 1.1 d")],
                    )
                )
                rsp = c.read_response()
            assert rsp.status == 400
            assert rsp.body == (
                b"Maximum number of calls (3) has been exceeded. " b"Please check for proxy loops."
            )
            assert len(backend.requests) == 1

    def test_a_loop_between_two_routers_ends_with_400(self, tmp_path) -> None:
        """A -> B -> A -> ... : each hop adds Via, so the loop stops at maxCallDepth."""
        disco = tmp_path / "disco"
        disco.mkdir()
        namers = f"namers:\n- kind: io.l5d.fs\n  rootDir: {disco}\n"
        with L5d(config=config("/svc=>/#/io.l5d.fs", server="maxCallDepth: 5", namers=namers)) as a:
            with L5d(
                config=config(f"/svc=>/$/inet/127.0.0.1/{a.port}", server="maxCallDepth: 5")
            ) as b:
                (disco / "loop").write_text(f"127.0.0.1 {b.port}\n")

                def status() -> int:
                    return requests.get(
                        "http://loop/", proxies={"http": f"http://{a.proxy}"}, timeout=TIMEOUT_S
                    ).status_code

                assert wait_for(lambda: status() != 502, timeout_s=10)
                rsp = requests.get(
                    "http://loop/", proxies={"http": f"http://{a.proxy}"}, timeout=TIMEOUT_S
                )
                assert rsp.status_code == 400
                assert "Maximum number of calls (5) has been exceeded" in rsp.text


class HopByHopRequestTests:
    """C8: hop-by-hop request headers, and every header Connection names, are not forwarded."""

    def test_stripped_upstream(self, echo_router) -> None:
        """Connection (and what it lists), Keep-Alive, TE, Trailer, Upgrade, Proxy-* never reach
        the app."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(
                request(
                    "GET",
                    "/",
                    [
                        ("Host", "echo"),
                        ("Connection", "keep-alive, X-Secret"),
                        ("X-Secret", "s3cret"),
                        ("Keep-Alive", "timeout=5"),
                        ("TE", "trailers"),
                        ("Trailer", "X-T"),
                        ("Upgrade", "websocket"),
                        ("Proxy-Connection", "keep-alive"),
                        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                        ("X-Kept", "yes"),
                    ],
                )
            )
            assert c.read_response().status == 200
        names = set(seen(backend))
        for name in (
            "connection",
            "x-secret",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "proxy-connection",
            "proxy-authorization",
        ):
            assert name not in names, name
        assert seen(backend)["x-kept"] == "yes"

    def test_connection_close_is_not_forwarded_but_honoured(self, echo_router) -> None:
        """Connection: close from the client closes the client connection, not the pooled upstream
        one."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/", [("Host", "echo"), ("Connection", "close")]))
            rsp = c.read_response()
            assert rsp.status == 200
            assert rsp.header("Connection") == "close"
            assert c.closed_by_peer()
        assert "connection" not in seen(backend)

    def test_upgrade_request_is_forwarded_as_a_plain_request(self, echo_router) -> None:
        """Connection: Upgrade + Upgrade: websocket is not tunnelled (Linkerd #1140): plain GET
        upstream."""
        l5d, backend, other = echo_router
        with RawClient(l5d.port) as c:
            c.send(
                request(
                    "GET",
                    "/ws",
                    [
                        ("Host", "echo"),
                        ("Connection", "Upgrade"),
                        ("Upgrade", "websocket"),
                        ("Sec-WebSocket-Key", "x"),
                    ],
                )
            )
            rsp = c.read_response()
        assert rsp.status == 200
        assert "upgrade" not in seen(backend) and "connection" not in seen(backend)


def _serve(responses: dict[str, bytes], log: list):
    """A keep-alive scripted backend: answers each request with ``responses[target]``."""

    def handler(conn: socket.socket, _log: list) -> None:
        buf = b""
        while True:
            head, buf = read_head(conn, buf)
            if not head:
                return
            target = head.split(b" ", 2)[1].decode()
            log.append((id(conn), target))
            conn.sendall(responses[target])

    return handler


class ExpectContinueTests:
    """C9: Expect: 100-continue; an upstream that answers before the body."""

    def test_early_final_status_is_relayed_and_the_connection_not_reused(self) -> None:
        """Upstream answers 401 without reading the body: the client gets 401; that upstream
        connection is closed, and the next request opens a new one."""
        closed: list[bool] = []

        def handler(conn: socket.socket, log: list) -> None:
            head, rest = read_head(conn)
            if not head:
                return
            log.append(head.split(b"\r\n")[0])
            if b"/reject" in head:
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
                conn.settimeout(10)
                try:
                    while conn.recv(65536):
                        pass
                    closed.append(True)
                except OSError:
                    closed.append(True)
                return
            n = int(
                [
                    line
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ][0].split(b":")[1]
            )
            while len(rest) < n:
                rest += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(rest), rest))

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(
                    request(
                        "POST",
                        "/reject",
                        [("Host", "a"), ("Content-Length", "10"), ("Expect", "100-continue")],
                    )
                )
                rsp = c.read_final_response()
                assert rsp.status == 401
                assert rsp.body == b"nope"
                assert rsp.header("Connection") == "close"  # the body was never read
            assert wait_for(lambda: closed == [True])
            with RawClient(l5d.port) as c:
                c.send(
                    request(
                        "POST",
                        "/ok",
                        [("Host", "a"), ("Content-Length", "5"), ("Expect", "100-continue")],
                    )
                )
                first = c.read_response()
                assert first.status == 100
                c.send(b"hello")
                rsp = c.read_final_response()
                assert rsp.status == 200 and rsp.body == b"hello"
            assert backend.connections == 2

    def test_expect_is_answered_once_the_upstream_is_there(self) -> None:
        """The client gets 100 Continue, sends the body, and the upstream sees it once."""
        with EchoBackend() as backend, L5d(f"/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(
                    request(
                        "PUT",
                        "/x",
                        [("Host", "a"), ("Content-Length", "3"), ("Expect", "100-continue")],
                    )
                )
                assert c.read_response().status == 100
                c.send(b"abc")
                assert c.read_final_response().status == 200
            assert backend.requests[-1]["body_length"] == 3


class BodylessResponseTests:
    """C10: HEAD, 204 and 304 responses with stray Content-Length/Transfer-Encoding."""

    RESPONSES = {
        "/head": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        "/head-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "/204": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "/304": b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "/304-cl": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
        "/204-stray": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        "/next": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext",
    }

    @pytest.fixture()
    def router(self):
        log: list = []
        with ScriptedBackend(_serve(self.RESPONSES, log)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            yield l5d, backend, log

    def _next_is_clean(self, c: RawClient) -> None:
        c.send(request("GET", "/next", [("Host", "a")]))
        rsp = c.read_response()
        assert (rsp.status, rsp.body, rsp.complete) == (200, b"next", True), rsp

    @pytest.mark.parametrize("target", ["/head", "/head-chunked"])
    def test_head(self, router, target: str) -> None:
        """HEAD: the head only; the next response on the connection is framed correctly."""
        l5d, backend, log = router
        with RawClient(l5d.port) as c:
            c.send(request("HEAD", target, [("Host", "a")]))
            head, rest = c.read_head_response()
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert rest == b""
            if target == "/head":
                assert b"\r\nContent-Length: 100" in head
            else:
                assert b"Transfer-Encoding" not in head
            self._next_is_clean(c)
        assert [t for _, t in log] == [target, "/next"]
        assert len({conn for conn, _ in log}) == 1  # the upstream connection was reused cleanly

    @pytest.mark.parametrize("target", ["/204", "/304", "/304-cl"])
    def test_204_304(self, router, target: str) -> None:
        """204/304: no body forwarded, no chunked framing added; the next response is intact."""
        l5d, backend, log = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", target, [("Host", "a")]))
            rsp = c.read_response()
            assert rsp.status == int(target[1:4]) and rsp.body == b"" and rsp.complete
            names = rsp.header_names()
            assert "transfer-encoding" not in names
            if target == "/204":
                assert "content-length" not in names
            if target == "/304-cl":
                assert rsp.header("Content-Length") == "7"
            self._next_is_clean(c)

    def test_stray_bytes_after_a_204_are_dropped_with_the_connection(self, router) -> None:
        """A 204 followed by body bytes: the client gets a clean 204; the next request is answered
        on a new upstream connection (the one with the stray bytes is never reused)."""
        l5d, backend, log = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/204-stray", [("Host", "a")]))
            rsp = c.read_response()
            assert (rsp.status, rsp.body) == (204, b"")
            time.sleep(0.2)
            self._next_is_clean(c)
            assert c.parse_error is None
            assert b"hello" not in c.raw
        conns = [conn for conn, _ in log]
        assert conns[0] != conns[1]


class ContextHeaderTests:
    """C11: l5d-dtab overrides are honoured as in Linkerd, unless the server has clearContext:
    true."""

    def test_honoured_by_default(self) -> None:
        """Without clearContext an l5d-dtab header re-routes the request (Linkerd's behaviour)."""
        with EchoBackend() as a, EchoBackend() as b, L5d(
            f"/svc/x=>/$/inet/127.0.0.1/{a.port};/b=>/$/inet/127.0.0.1/{b.port}"
        ) as l5d:
            rsp = requests.get(
                "http://x/",
                headers={"l5d-dtab": "/svc/x=>/b"},
                proxies={"http": f"http://{l5d.proxy}"},
                timeout=TIMEOUT_S,
            )
            assert rsp.status_code == 200
            assert len(b.requests) == 1 and a.requests == []

    @pytest.fixture(scope="class")
    def edge(self):
        """A clearContext server in front of backend a; b is only reachable by an override."""
        with EchoBackend() as a, EchoBackend() as b:
            dtab = f"/svc/x=>/$/inet/127.0.0.1/{a.port};/b=>/$/inet/127.0.0.1/{b.port}"
            with L5d(config=config(dtab, server="clearContext: true")) as l5d:
                yield l5d, a, b

    @pytest.mark.parametrize("header", ["l5d-dtab", "l5d-ctx-dtab"])
    def test_clear_context_ignores_dtab_overrides(self, edge, header: str) -> None:
        """clearContext: the override is stripped, not applied, and not propagated."""
        l5d, a, b = edge
        rsp = requests.get(
            "http://x/",
            headers={header: "/svc/x=>/b"},
            proxies={"http": f"http://{l5d.proxy}"},
            timeout=TIMEOUT_S,
        )
        assert rsp.status_code == 200
        assert b.requests == []
        names = set(seen(a))
        assert "l5d-dtab" not in names and "l5d-ctx-dtab" not in names

    def test_clear_context_strips_incoming_context(self, edge) -> None:
        """Every l5d-* header from the client is dropped; l5d's own dst/trace headers are still
        set."""
        l5d, a, b = edge
        rsp = requests.get(
            "http://x/",
            headers={
                "l5d-ctx-foo": "1",
                "l5d-ctx-deadline": "1 2",
                "l5d-sample": "1.0",
                "l5d-dst-service": "/evil",
            },
            proxies={"http": f"http://{l5d.proxy}"},
            timeout=TIMEOUT_S,
        )
        assert rsp.status_code == 200
        got = seen(a)
        assert {n for n in got if n.startswith("l5d-")} == {
            "l5d-dst-service",
            "l5d-dst-client",
            "l5d-reqid",
            "l5d-ctx-trace",
        }
        assert got["l5d-dst-service"] == "/svc/x"

    def test_clear_context_strips_l5d_response_headers(self, edge) -> None:
        """No l5d-* header reaches the client, and l5d's errors have no body and no l5d-err."""
        l5d, a, b = edge
        ok = requests.get("http://x/", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S)
        assert not [h for h in ok.headers if h.lower().startswith("l5d-")]
        err = requests.get(
            "http://nope/", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
        )
        assert err.status_code == 502
        assert err.content == b""
        assert not [h for h in err.headers if h.lower().startswith("l5d-")]

    def test_clear_context_bad_dtab_header_is_not_an_error(self, edge) -> None:
        """An unparsable l5d-dtab is simply dropped on a clearContext server."""
        l5d, a, b = edge
        rsp = requests.get(
            "http://x/",
            headers={"l5d-dtab": "/a=>"},
            proxies={"http": f"http://{l5d.proxy}"},
            timeout=TIMEOUT_S,
        )
        assert rsp.status_code == 200


class ResponseFramingTests:
    """C12: responses through l5d: correct Content-Length, no hop-by-hop leakage, Via added."""

    RESPONSES = {
        "/hop": (
            b"HTTP/1.1 200 OK\r\nConnection: X-Resp-Secret\r\nX-Resp-Secret: 1\r\n"
            b"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n"
            b"Proxy-Connection: keep-alive\r\n"
            b"Trailer: X-T\r\nUpgrade: h2c\r\nVia: 1.0 backend-proxy\r\nX-Kept: yes\r\n"
            b"Content-Length: 5\r\n\r\nhello"
        ),
        "/chunked": (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"
        ),
        "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        "/empty": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "/500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
    }

    @pytest.fixture(scope="class")
    def router(self):
        log: list = []
        with ScriptedBackend(_serve(self.RESPONSES, log)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            yield l5d, backend

    def test_hop_by_hop_response_headers_are_stripped(self, router) -> None:
        """Connection (and what it lists), Keep-Alive, Proxy-*, Trailer, Upgrade never reach the
        client."""
        l5d, backend = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/hop", [("Host", "a")]))
            rsp = c.read_response()
        assert rsp.status == 200 and rsp.body == b"hello"
        names = rsp.header_names()
        for name in (
            "connection",
            "x-resp-secret",
            "keep-alive",
            "proxy-authenticate",
            "proxy-connection",
            "trailer",
            "upgrade",
        ):
            assert name not in names, name
        assert rsp.header("X-Kept") == "yes"
        assert rsp.header("Via") == "1.0 backend-proxy, 1.1 linkerd"
        assert rsp.header("Content-Length") == "5"
        assert names.count("content-length") == 1

    def test_chunked_response_is_rechunked(self, router) -> None:
        """A chunked response arrives chunked (no Content-Length), extensions and trailers
        dropped."""
        l5d, backend = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/chunked", [("Host", "a")]))
            rsp = c.read_response()
            assert rsp.complete and rsp.body == b"abcdefg"
            assert rsp.header("Transfer-Encoding") == "chunked"
            assert "content-length" not in rsp.header_names()
            assert b"ext=1" not in c.raw and b"X-Trailer" not in c.raw
            assert rsp.header("Via") == "1.1 linkerd"

    @pytest.mark.parametrize(
        "target, body", [("/length", b"hello world"), ("/empty", b""), ("/500", b"boom")]
    )
    def test_content_length_is_exact(self, router, target: str, body: bytes) -> None:
        """Fixed-length responses keep exactly one, correct Content-Length; a 500 passes through."""
        l5d, backend = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", target, [("Host", "a")]))
            rsp = c.read_response()
            assert rsp.body == body and rsp.complete
            assert rsp.header("Content-Length") == str(len(body))
            assert rsp.header_names().count("content-length") == 1
            assert "transfer-encoding" not in rsp.header_names()
            assert rsp.keep_alive

    def test_keep_alive_sequence_on_one_connection(self, router) -> None:
        """Several responses in a row on one client connection: each framed, nothing left over."""
        l5d, backend = router
        with RawClient(l5d.port) as c:
            for target in ["/length", "/chunked", "/empty", "/hop", "/500", "/length"]:
                c.send(request("GET", target, [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.complete, target
            assert c.parse_error is None

    def test_http10_client_gets_a_close_delimited_or_sized_response(self, router) -> None:
        """An HTTP/1.0 client is never sent chunked: the chunked body ends with the connection."""
        l5d, backend = router
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/chunked", [("Host", "a")], version="HTTP/1.0"))
            rsp = c.read_response()
            assert rsp.body == b"abcdefg" and rsp.complete
            assert "transfer-encoding" not in rsp.header_names()
            assert c.eof

    def test_requests_and_curl_agree(self, router) -> None:
        """Real clients read the same bodies."""
        l5d, backend = router
        rsp = requests.get(
            "http://a/chunked", proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S
        )
        assert rsp.content == b"abcdefg"
        out = subprocess.run(
            ["curl", "-s", "--fail-with-body", "http://a/length"],
            capture_output=True,
            timeout=TIMEOUT_S,
            env=dict(os.environ, http_proxy=f"http://{l5d.proxy}", no_proxy=""),
        )
        assert out.returncode == 0 and out.stdout == b"hello world"
