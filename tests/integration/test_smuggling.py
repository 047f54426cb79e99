"""Request smuggling and RFC 9112 framing answers, against a real l5d and a recording origin.

Each case of issue 8 is a raw-socket test. The origin (:class:`RecordingOrigin`) parses
what l5d forwards with h11, a parser independent of l5d's llhttp, and records every
request it saw: a request there without ``l5d-reqid`` was never framed by l5d (it was
smuggled inside another request's bytes), and each body must arrive byte for byte.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.helpers.backends import ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d
from tests.helpers.raw_http import RawClient
from tests.helpers.recording_origin import RecordingOrigin

CRLF = b"\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: svc\r\n\r\n"


def head(*lines: bytes) -> bytes:
    return b"".join(line + CRLF for line in lines) + CRLF


def inet(port: int) -> str:
    return f"/svc=>/$/inet/127.0.0.1/{port}"


@pytest.fixture(scope="module")
def routed():
    with RecordingOrigin() as origin, L5d(inet(origin.port)) as l5d:
        yield l5d, origin


def exchange(l5d: L5d, data: bytes, n: int, *, timeout_s: float = 5.0) -> list:
    """Send ``data`` on one connection and read ``n`` responses (fewer if it closes)."""
    out = []
    with RawClient(l5d.port, timeout_s=timeout_s) as c:
        c.send(data)
        for _ in range(n):
            rsp = c.read_response()
            out.append(rsp)
            if not rsp.complete:
                break
    return out


def assert_clean(origin: RecordingOrigin, mark: int) -> None:
    """Every request the origin parsed since ``mark`` was framed by l5d; h11 refused nothing."""
    assert origin.smuggled(mark) == [], origin.smuggled(mark)
    assert origin.errors == [], origin.errors


def assert_refused(routed, data: bytes, status: int) -> None:
    l5d, origin = routed
    mark = origin.mark()
    with RawClient(l5d.port, timeout_s=5) as c:
        c.send(data)
        rsp = c.read_response()
        assert (rsp.status, rsp.complete) == (status, True), rsp
        assert rsp.header("l5d-err") and rsp.header("connection") == "close", rsp
        assert c.closed_by_peer(5), "the connection stayed open"
    time.sleep(0.05)
    assert origin.since(mark) == []
    assert_clean(origin, mark)


# -- hole 1: Connection naming a framing header ----------------------------------------------

CONNECTION_NAMES_FRAMING = {
    "connection-content-length": (b"POST /a HTTP/1.1", [b"Connection: content-length"]),
    "capitalised": (b"POST /a HTTP/1.1", [b"Connection: Content-Length"]),
    "in-a-list": (b"POST /a HTTP/1.1", [b"Connection: close, content-length"]),
    "second-connection-line": (b"POST /a HTTP/1.1",
                               [b"Connection: keep-alive", b"Connection: content-length"]),
    "http-1.0": (b"POST /a HTTP/1.0", [b"Connection: keep-alive, content-length"]),
}


class ConnectionNamingFramingTests:
    """``Connection`` may never remove Content-Length, Transfer-Encoding or Host upstream."""

    @pytest.mark.parametrize("line,extra", CONNECTION_NAMES_FRAMING.values(),
                             ids=CONNECTION_NAMES_FRAMING.keys())
    def test_body_stays_one_request(self, routed, line: bytes, extra: list[bytes]) -> None:
        """The 35 body bytes (a whole GET) reach the origin as the POST's body, never as a
        request of their own, and the upstream head says ``content-length: 35``."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(line, b"Host: svc", *extra, b"Content-Length: %d" % len(SMUGGLED)) + SMUGGLED
        rsps = exchange(l5d, data, 1)
        assert rsps[0].status == 200, rsps
        assert json.loads(rsps[0].body)["target"] == "/a"
        time.sleep(0.1)
        seen = origin.since(mark)
        assert [(r.method, r.target, r.body) for r in seen] == [("POST", "/a", SMUGGLED)]
        assert seen[0].values("content-length") == [str(len(SMUGGLED))]
        assert_clean(origin, mark)

    def test_connection_host_keeps_host(self, routed) -> None:
        """``Connection: host`` does not strip Host: the origin sees ``Host: svc``."""
        l5d, origin = routed
        mark = origin.mark()
        rsps = exchange(l5d, head(b"GET /h HTTP/1.1", b"Host: svc", b"Connection: host"), 1)
        assert rsps[0].status == 200, rsps
        assert origin.since(mark)[0].values("host") == ["svc"]
        assert_clean(origin, mark)

    def test_connection_transfer_encoding_keeps_chunked(self, routed) -> None:
        """``Connection: transfer-encoding`` on a chunked request: still chunked upstream, the
        body whole, and the pipelined request after it is its own request."""
        l5d, origin = routed
        mark = origin.mark()
        data = (head(b"POST /c HTTP/1.1", b"Host: svc", b"Connection: transfer-encoding",
                     b"Transfer-Encoding: chunked")
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED) + NEXT)
        rsps = exchange(l5d, data, 2)
        assert [r.status for r in rsps] == [200, 200], rsps
        seen = origin.since(mark)
        assert [(r.target, r.body) for r in seen] == [("/c", SMUGGLED), ("/next", b"")]
        assert seen[0].values("transfer-encoding") == ["chunked"]
        assert_clean(origin, mark)

    def test_connection_listed_ordinary_header_is_still_dropped(self, routed) -> None:
        """What ``Connection`` may name is still removed (hop-by-hop, reliability C8)."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(b"GET /x HTTP/1.1", b"Host: svc", b"Connection: x-secret, content-length",
                    b"X-Secret: s", b"Content-Length: 0")
        assert exchange(l5d, data, 1)[0].status == 200
        seen = origin.since(mark)[0]
        assert seen.values("x-secret") == [] and seen.values("content-length") == ["0"]


# -- hole 2: Upgrade with a body ---------------------------------------------------------------

def upgrade_head(protocol: bytes, *framing: bytes) -> bytes:
    return head(b"POST /up HTTP/1.1", b"Host: svc", b"Connection: Upgrade",
                b"Upgrade: " + protocol, *framing)


class UpgradeWithBodyTests:
    """An upgrade request is forwarded as a plain request, body intact, upgrade headers gone."""

    @pytest.mark.parametrize("protocol", [b"websocket", b"h2c"])
    def test_content_length_body_is_forwarded_whole(self, routed, protocol: bytes) -> None:
        """The body reaches the origin byte for byte; the pipelined GET after it is never read
        as part of the upgrade nor sent without l5d's framing."""
        l5d, origin = routed
        mark = origin.mark()
        data = upgrade_head(protocol, b"Content-Length: %d" % len(SMUGGLED)) + SMUGGLED + NEXT
        rsps = exchange(l5d, data, 2)
        assert rsps[0].status == 200 and json.loads(rsps[0].body)["target"] == "/up", rsps
        seen = origin.since(mark)
        assert (seen[0].target, seen[0].body) == ("/up", SMUGGLED)
        assert seen[0].values("upgrade") == [] and seen[0].values("connection") in ([], ["close"])
        assert [r.target for r in seen[1:]] in ([], ["/next"])
        assert_clean(origin, mark)

    def test_chunked_body_is_forwarded_whole(self, routed) -> None:
        """A chunked upgrade request's body is not replaced by ``0\\r\\n\\r\\n``."""
        l5d, origin = routed
        mark = origin.mark()
        body = b"hello world"
        data = (upgrade_head(b"websocket", b"Transfer-Encoding: chunked")
                + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" + NEXT)
        rsps = exchange(l5d, data, 1)
        assert rsps[0].status == 200, rsps
        seen = origin.since(mark)
        assert (seen[0].target, seen[0].body) == ("/up", body)
        assert_clean(origin, mark)

    def test_body_in_a_later_read(self, routed) -> None:
        """The body of an upgrade request arriving after its head still goes with it."""
        l5d, origin = routed
        mark = origin.mark()
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(upgrade_head(b"websocket", b"Content-Length: 10"))
            time.sleep(0.1)
            c.send(b"01234")
            time.sleep(0.1)
            c.send(b"56789")
            rsp = c.read_response()
        assert rsp.status == 200, rsp
        assert [(r.target, r.body) for r in origin.since(mark)] == [("/up", b"0123456789")]
        assert_clean(origin, mark)

    def test_upgrade_without_body_is_a_plain_request(self, routed) -> None:
        """A websocket handshake goes upstream without Upgrade; the connection closes after."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(b"GET /ws HTTP/1.1", b"Host: svc", b"Connection: Upgrade",
                    b"Upgrade: websocket", b"Sec-WebSocket-Version: 13")
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(data)
            rsp = c.read_response()
            assert rsp.status == 200 and rsp.header("connection") == "close", rsp
            assert c.closed_by_peer(5)
        seen = origin.since(mark)
        assert [r.target for r in seen] == ["/ws"] and seen[0].values("upgrade") == []
        assert_clean(origin, mark)


# -- RFC 9112 / 9110 answers -------------------------------------------------------------------

class ContentLengthTests:
    def test_leading_zeros_are_forwarded_as_the_decimal_value(self, routed) -> None:
        """``Content-Length: 010`` goes upstream as ``10``, with its 10 bytes."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(b"POST /z HTTP/1.1", b"Host: svc", b"Content-Length: 010") + b"0123456789"
        assert exchange(l5d, data + NEXT, 2)[0].status == 200
        seen = origin.since(mark)
        assert [(r.target, r.body) for r in seen] == [("/z", b"0123456789"), ("/next", b"")]
        assert seen[0].values("content-length") == ["10"]
        assert_clean(origin, mark)

    @pytest.mark.parametrize("value", [b"9223372036854775808", b"18446744073709551616",
                                       b"99999999999999999999999"])
    def test_beyond_2_63_is_a_413(self, routed, value: bytes) -> None:
        """A Content-Length past 2^63 (or past what llhttp counts) is oversized: 413."""
        assert_refused(routed, head(b"POST /p HTTP/1.1", b"Host: svc",
                                    b"Content-Length: " + value), 413)


TE_400 = {
    "identity": b"identity",
    "chunked-then-gzip": b"chunked, gzip",
    "empty": b"",
    "chunked-twice": b"chunked, chunked",
    "gzip-alone": b"gzip",
    "vertical-tab": b"\x0bchunked",
}


class TransferEncodingTests:
    @pytest.mark.parametrize("value", TE_400.values(), ids=TE_400.keys())
    def test_final_coding_not_chunked_is_a_400(self, routed, value: bytes) -> None:
        """RFC 9112 6.3: a request whose final coding is not (exactly once) chunked: 400."""
        data = head(b"POST /p HTTP/1.1", b"Host: svc", b"Transfer-Encoding: " + value)
        assert_refused(routed, data + b"0\r\n\r\n" + SMUGGLED, 400)

    def test_two_chunked_fields_are_a_400(self, routed) -> None:
        data = head(b"POST /p HTTP/1.1", b"Host: svc", b"Transfer-Encoding: chunked",
                    b"Transfer-Encoding: chunked")
        assert_refused(routed, data + b"0\r\n\r\n" + SMUGGLED, 400)

    def test_unknown_coding_before_chunked_is_a_501(self, routed) -> None:
        """RFC 9112 6.1: a coding l5d does not implement (``gzip, chunked``): 501."""
        data = head(b"POST /p HTTP/1.1", b"Host: svc", b"Transfer-Encoding: gzip, chunked")
        assert_refused(routed, data + b"0\r\n\r\n" + SMUGGLED, 501)

    def test_a_trailing_empty_element_is_refused(self, routed) -> None:
        """``chunked,`` is a valid list too, but llhttp refuses it, and l5d never frames a body
        its parser did not read: 400 (refusing is the safe side of the difference)."""
        data = head(b"POST /p HTTP/1.1", b"Host: svc", b"Transfer-Encoding: chunked,")
        assert_refused(routed, data + b"0\r\n\r\n" + SMUGGLED, 400)

    @pytest.mark.parametrize("value", [b",chunked", b" , chunked", b", ,CHUNKED"])
    def test_empty_list_elements_are_ignored(self, routed, value: bytes) -> None:
        """``,chunked`` is a valid list holding one coding: chunked."""
        l5d, origin = routed
        mark = origin.mark()
        data = (head(b"POST /t HTTP/1.1", b"Host: svc", b"Transfer-Encoding: " + value)
                + b"5\r\nhello\r\n0\r\n\r\n" + NEXT)
        rsps = exchange(l5d, data, 2)
        assert [r.status for r in rsps] == [200, 200], rsps
        assert [(r.target, r.body) for r in origin.since(mark)] == [("/t", b"hello"),
                                                                    ("/next", b"")]
        assert_clean(origin, mark)


class RequestLineTests:
    def test_unknown_method_token_is_a_501(self, routed) -> None:
        """A valid method token llhttp does not know (``FOO``): 501, not 400."""
        assert_refused(routed, head(b"FOO /p HTTP/1.1", b"Host: svc"), 501)

    def test_http_1_2_is_handled_as_1_1(self, routed) -> None:
        """HTTP/1.2 is HTTP/1.x: forwarded as HTTP/1.1, keep-alive, answered 200."""
        l5d, origin = routed
        mark = origin.mark()
        rsps = exchange(l5d, head(b"GET /v HTTP/1.2", b"Host: svc") + NEXT, 2)
        assert [r.status for r in rsps] == [200, 200], rsps
        seen = origin.since(mark)
        assert [(r.target, r.version) for r in seen] == [("/v", "1.1"), ("/next", "1.1")]

    def test_connect_405_has_allow(self, routed) -> None:
        l5d, _ = routed
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(head(b"CONNECT svc:443 HTTP/1.1", b"Host: svc:443"))
            rsp = c.read_response()
        assert rsp.status == 405 and rsp.header("allow"), rsp
        assert "CONNECT" not in rsp.header("allow")

    def test_empty_authority_is_a_400(self, routed) -> None:
        assert_refused(routed, head(b"GET http:///x HTTP/1.1", b"Host: svc"), 400)

    def test_double_space_with_a_valid_request_after_it(self, routed) -> None:
        """``GET  / HTTP/1.1`` is refused by its own line even when a valid request line
        follows in the same read; the valid one is never answered with a false 400 first."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(b"GET  /two HTTP/1.1", b"Host: svc") + head(b"GET /two HTTP/1.1",
                                                                b"Host: svc")
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(data)
            rsp = c.read_response()
            assert rsp.status == 400 and rsp.header("connection") == "close", rsp
            assert c.closed_by_peer(5)
        assert origin.since(mark) == []

    def test_valid_then_double_space_then_valid(self, routed) -> None:
        """200, then 400 + close for the bad line; the third request is never forwarded."""
        l5d, origin = routed
        mark = origin.mark()
        data = (head(b"GET /one HTTP/1.1", b"Host: svc")
                + head(b"GET  /two HTTP/1.1", b"Host: svc")
                + head(b"GET /two HTTP/1.1", b"Host: svc"))
        rsps = exchange(l5d, data, 3)
        assert [r.status for r in rsps[:2]] == [200, 400], rsps
        assert [r.target for r in origin.since(mark)] == ["/one"]

    def test_pipelined_after_a_chunked_body_split_across_reads(self, routed) -> None:
        """The request line after a chunked body that spans reads is checked at its own place:
        a good one passes, a double-spaced one does not."""
        l5d, origin = routed
        mark = origin.mark()
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(head(b"POST /c HTTP/1.1", b"Host: svc", b"Transfer-Encoding: chunked")
                   + b"5;ext=1\r\nhel")
            time.sleep(0.1)
            c.send(b"lo\r\n0\r\nX-T: 1\r\n\r\n" + head(b"GET /after HTTP/1.1", b"Host: svc")
                   + head(b"GET  /bad HTTP/1.1", b"Host: svc") + NEXT)
            statuses = [c.read_response().status for _ in range(3)]
        assert statuses == [200, 200, 400]
        assert [(r.target, r.body) for r in origin.since(mark)] == [("/c", b"hello"),
                                                                    ("/after", b"")]


class Http10KeepAliveTests:
    def test_http10_goes_upstream_asking_for_keep_alive(self, routed) -> None:
        """An HTTP/1.0 request goes upstream with ``Connection: keep-alive``: l5d pools the
        upstream connection only when the origin agreed to keep it."""
        l5d, origin = routed
        mark = origin.mark()
        data = head(b"GET /ten HTTP/1.0", b"Host: svc", b"Connection: keep-alive")
        assert exchange(l5d, data, 1)[0].status == 200
        seen = origin.since(mark)[0]
        assert seen.version == "1.0" and seen.values("connection") == ["keep-alive"]

    def test_an_origin_closing_after_a_10_request_is_not_reused(self) -> None:
        """A server that keeps an HTTP/1.0 connection only when asked, and lingers before
        closing otherwise: consecutive HTTP/1.0 POSTs never land on a closing connection."""
        asked: list[bytes] = []

        def handler(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                h, buf = read_head(conn, buf)
                if not h:
                    return
                lines = h.lower().split(b"\r\n")
                asked.append(lines[0])
                n = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length")),
                         0)
                while len(buf) < n:
                    buf += conn.recv(65536)
                buf = buf[n:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                keep = lines[0].endswith(b"1.1") or b"connection: keep-alive" in lines
                if not keep:
                    time.sleep(0.3)  # lingers, reading nothing more, then closes
                    return

        with ScriptedBackend(handler) as backend, L5d(inet(backend.port)) as l5d:
            for i in range(3):
                data = head(b"POST /p%d HTTP/1.0" % i, b"Host: svc", b"Content-Length: 1") + b"x"
                with RawClient(l5d.port, timeout_s=5) as c:
                    c.send(data)
                    rsp = c.read_response()
                assert rsp.status == 200, (i, rsp)
        assert len(asked) == 3


# -- upstream answers ---------------------------------------------------------------------------

def scripted(response: bytes, *, after: bytes = b"", delay_s: float = 0.0):
    """An origin answering every request with ``response`` (then ``after`` once, later)."""
    def handler(conn: socket.socket, log: list) -> None:
        buf = b""
        first = True
        while True:
            h, buf = read_head(conn, buf)
            if not h:
                return
            log.append(h.split(b"\r\n")[0])
            conn.sendall(response)
            if first and after:
                time.sleep(delay_s)
                conn.sendall(after)
            first = False
    return handler


class UpstreamAnswerTests:
    @pytest.mark.parametrize("status_line", [b"HTTP/1.1 099 X", b"HTTP/1.1 600 X",
                                             b"HTTP/1.1 000 X"])
    def test_invalid_status_code_is_a_502(self, status_line: bytes) -> None:
        with ScriptedBackend(scripted(status_line + b"\r\nContent-Length: 0\r\n\r\n")) as b, \
                L5d(inet(b.port)) as l5d:
            rsps = exchange(l5d, head(b"GET / HTTP/1.1", b"Host: svc"), 1)
        assert rsps[0].status == 502 and rsps[0].header("l5d-err"), rsps

    def test_content_length_trailer_in_a_chunked_response_is_dropped(self) -> None:
        """The trailer is not forwarded and does not cut the client connection."""
        rsp_bytes = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nX-T: 1\r\n\r\n")
        with ScriptedBackend(scripted(rsp_bytes)) as b, L5d(inet(b.port)) as l5d:
            rsps = exchange(l5d, head(b"GET / HTTP/1.1", b"Host: svc") * 2, 2)
        assert [(r.status, r.complete, r.body) for r in rsps] == [(200, True, b"hello")] * 2
        assert all(r.header("content-length") is None for r in rsps)

    @pytest.mark.parametrize("method,first", [
        (b"HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n"),
        (b"GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        (b"GET", b"HTTP/1.1 304 Not Modified\r\n\r\n"),
        (b"GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ], ids=["head", "204", "304", "extra-after-length"])
    def test_bytes_after_a_complete_response_never_answer_the_next(
            self, method: bytes, first: bytes) -> None:
        """Stray bytes arriving after a complete response (a whole fake response here) close
        that upstream connection; the next request gets its own answer on a new one."""
        evil = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"
        good = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
        state = {"n": 0}

        def handler(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                h, buf = read_head(conn, buf)
                if not h:
                    return
                log.append(h.split(b"\r\n")[0])
                state["n"] += 1
                if state["n"] == 1:
                    conn.sendall(first)
                    time.sleep(0.05)
                    conn.sendall(evil)
                else:
                    conn.sendall(good)

        with ScriptedBackend(handler) as b, L5d(inet(b.port)) as l5d:
            with RawClient(l5d.port, timeout_s=5) as c:
                c.send(head(method + b" /1 HTTP/1.1", b"Host: svc"))
                if method == b"HEAD":
                    c.read_head_response()
                else:
                    c.read_response()
                time.sleep(0.3)
                c.send(head(b"GET /2 HTTP/1.1", b"Host: svc"))
                rsp = c.read_response()
            assert (rsp.status, rsp.body) == (200, b"good"), rsp
            assert b.connections == 2
