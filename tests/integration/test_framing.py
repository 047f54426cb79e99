"""Reliability matrix group A (request framing and smuggling) against a real l5d.

Every row of section 6 group A of the reliability reference has a test here, named
after the row (``A5``...). Each probe is a raw socket: it sends exactly the bytes
of the case and checks the exact status, that the connection is closed where the
matrix says "+close", and, through a logging echo backend, that nothing was
forwarded (a sentinel request sent afterwards must be the only new request the
backend saw, so a smuggled request would show up in front of it).

A19 (the differential test against h11) drives the server protocol in process;
everything else runs one l5d process for the module.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.helpers.backends import EchoBackend, ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d
from tests.helpers.raw_http import RawClient, request

CRLF = b"\r\n"
# the tail sent after every refused head: a body that hides a second request
SMUGGLED = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n"


@pytest.fixture(scope="module")
def echo_l5d():
    with EchoBackend() as backend, L5d(inet(backend.port)) as l5d:
        yield l5d, backend


def inet(port: int) -> str:
    return f"/svc=>/$/inet/127.0.0.1/{port}"


def head(*lines: bytes) -> bytes:
    """A request head from raw lines, each ended by CRLF, plus the blank line."""
    return b"".join(line + CRLF for line in lines) + CRLF


def post(*header_lines: bytes) -> bytes:
    return head(b"POST /p HTTP/1.1", b"Host: svc", *header_lines)


def assert_nothing_forwarded(l5d: L5d, backend: EchoBackend, before: int) -> None:
    """Only a sentinel sent now reaches the backend: the probe forwarded (and smuggled) nothing."""
    with RawClient(l5d.port) as c:
        c.send(request("GET", "/sentinel", [("Host", "svc")]))
        rsp = c.read_response()
        assert rsp.status == 200, rsp
    assert [r["target"] for r in backend.requests[before:]] == ["/sentinel"]


def assert_refused(echo_l5d, data: bytes, status: int) -> None:
    """``data`` gets exactly ``status`` from l5d with l5d-err, then the connection closes,
    and the backend never sees a request."""
    l5d, backend = echo_l5d
    before = len(backend.requests)
    with RawClient(l5d.port, timeout_s=5) as c:
        c.send(data)
        rsp = c.read_response()
        assert (rsp.status, rsp.complete) == (status, True), rsp
        assert rsp.header("l5d-err"), rsp
        assert rsp.header("connection") == "close", rsp
        assert c.closed_by_peer(5), "the connection stayed open"
    assert_nothing_forwarded(l5d, backend, before)


def forwarded(echo_l5d, data: bytes, n: int = 1) -> list[dict]:
    """Send ``data``, expect ``n`` 200s; returns what the backend recorded for them."""
    l5d, backend = echo_l5d
    before = len(backend.requests)
    with RawClient(l5d.port, timeout_s=5) as c:
        c.send(data)
        for _ in range(n):
            rsp = c.read_response()
            assert rsp.status == 200 and rsp.complete, rsp
    return backend.requests[before:]


# -- A1-A5: Content-Length and Transfer-Encoding --------------------------------------------

CL_TE = {
    "A1-cl-then-te": post(b"Content-Length: 5", b"Transfer-Encoding: chunked") + SMUGGLED,
    "A1-te-then-cl": post(b"Transfer-Encoding: chunked", b"Content-Length: 5") + SMUGGLED,
}
DUPLICATE_CL = {
    "A2-equal": post(b"Content-Length: 5", b"Content-Length: 5") + b"hello",
    "A2-different": post(b"Content-Length: 5", b"Content-Length: 40") + b"hello" + SMUGGLED,
    "A2-list": post(b"Content-Length: 5, 5") + b"hello",
}
BAD_CL = {
    "A3-plus": b"+5",
    "A3-minus": b"-5",
    "A3-underscore": b"0_5",
    "A3-hex": b"0x5",
    "A3-inner-space": b"0 5",
    "A3-empty": b"",
    "A3-arabic-indic-digit": "\u0665".encode("utf-8"),
    "A3-nbsp-suffix": b"5\xa0",
}
# RFC 9112 6.3: a final coding other than chunked, chunked twice, an empty or malformed
# value is a 400; 6.1: a coding l5d does not implement before the final chunked is a 501
BAD_TE = {
    "A5-gzip": (b"Transfer-Encoding: gzip", 400),
    "A5-identity": (b"Transfer-Encoding: identity", 400),
    "A5-gzip-chunked": (b"Transfer-Encoding: gzip, chunked", 501),
    "A5-chunked-chunked": (b"Transfer-Encoding: chunked, chunked", 400),
    "A5-vertical-tab": (b"Transfer-Encoding: \x0bchunked", 400),
    "A5-parameter-malformed": (b"Transfer-Encoding: chunked;x", 400),
    "A5-parameter": (b"Transfer-Encoding: chunked;x=1", 501),
    "A5-empty": (b"Transfer-Encoding: ", 400),
}


class ContentLengthAndTransferEncodingTests:
    """A1-A7: ambiguous or unsupported body framing is refused, never guessed."""

    @pytest.mark.parametrize("data", CL_TE.values(), ids=CL_TE.keys())
    def test_cl_and_te_together_are_a_400(self, echo_l5d, data: bytes) -> None:
        """A1: Content-Length and Transfer-Encoding, either order: 400 + close, none forwarded."""
        assert_refused(echo_l5d, data, 400)

    @pytest.mark.parametrize("data", DUPLICATE_CL.values(), ids=DUPLICATE_CL.keys())
    def test_duplicate_content_length_is_a_400(self, echo_l5d, data: bytes) -> None:
        """A2: two Content-Length fields (equal or not) or a list: 400 + close, no value picked."""
        assert_refused(echo_l5d, data, 400)

    @pytest.mark.parametrize("value", BAD_CL.values(), ids=BAD_CL.keys())
    def test_malformed_content_length_is_a_400(self, echo_l5d, value: bytes) -> None:
        """A3/A4: anything but ASCII digits (int() takes +5, 0_5), or 20+ digits: 400 + close."""
        assert_refused(echo_l5d, post(b"Content-Length: " + value) + b"hello" + SMUGGLED, 400)

    @pytest.mark.parametrize("value", [b"3000000000", b"99999999999999999999999"],
                             ids=["A4-over-the-limit", "A4-twenty-digits"])
    def test_content_length_over_the_body_limit_is_a_413_without_waiting(
            self, echo_l5d, value: bytes) -> None:
        """A4: a Content-Length over the limit (2 GiB - 1 byte by default), however many digits:
        413 before any body."""
        assert_refused(echo_l5d, post(b"Content-Length: " + value), 413)

    @pytest.mark.parametrize("line,status", BAD_TE.values(), ids=BAD_TE.keys())
    def test_transfer_encoding_other_than_chunked_is_refused(
            self, echo_l5d, line: bytes, status: int) -> None:
        """A5: any Transfer-Encoding but exactly one "chunked": 400 or 501 + close, never
        guessed."""
        assert_refused(echo_l5d, post(line) + SMUGGLED, status)

    def test_two_transfer_encoding_fields_are_a_400(self, echo_l5d) -> None:
        """A5: "chunked" twice in two fields is chunked applied twice: 400 + close."""
        data = post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked") + SMUGGLED
        assert_refused(echo_l5d, data, 400)

    def test_leading_comma_is_chunked(self, echo_l5d) -> None:
        """A5: ",chunked" is a list whose one element is chunked: accepted as chunked."""
        data = (post(b"Transfer-Encoding: ,chunked") + b"3\r\nabc\r\n0\r\n\r\n"
                + request("GET", "/next", [("Host", "svc")]))
        seen = forwarded(echo_l5d, data, 2)
        assert [(r["target"], r["body_length"]) for r in seen] == [("/p", 3), ("/next", 0)]

    def test_chunked_in_any_case_is_chunked(self, echo_l5d) -> None:
        """A6: "ChUnKeD" is chunked: the body arrives whole and the next request is separate."""
        data = (post(b"Transfer-Encoding: ChUnKeD") + b"3\r\nabc\r\n0\r\n\r\n"
                + request("GET", "/next", [("Host", "svc")]))
        seen = forwarded(echo_l5d, data, 2)
        assert [(r["target"], r["body_length"]) for r in seen] == [("/p", 3), ("/next", 0)]
        names = {n.lower(): v for n, v in seen[0]["headers"]}
        assert names["transfer-encoding"] == "chunked"

    def test_transfer_encoding_on_http10_is_a_400(self, echo_l5d) -> None:
        """A7: HTTP/1.0 has no Transfer-Encoding: 400 + close, nothing forwarded."""
        data = head(b"POST /p HTTP/1.0", b"Host: svc", b"Transfer-Encoding: chunked") + SMUGGLED
        assert_refused(echo_l5d, data, 400)


# -- A8, A9: chunked bodies ------------------------------------------------------------------

BAD_CHUNKS = {
    "A8-0x-prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "A8-plus": b"+5\r\nhello\r\n0\r\n\r\n",
    "A8-underscore": b"0_5\r\nhello\r\n0\r\n\r\n",
    "A8-leading-space": b" 5\r\nhello\r\n0\r\n\r\n",
    "A8-trailing-space": b"5 \r\nhello\r\n0\r\n\r\n",
    "A8-empty-size": b"\r\nhello\r\n0\r\n\r\n",
    "A8-seventeen-hex-digits": b"10000000000000005\r\nhello\r\n0\r\n\r\n",
    "A8-bare-lf-after-size": b"5\nhello\r\n0\r\n\r\n",
    "A8-missing-crlf-after-data": b"5\r\nhelloXX0\r\n\r\n",
    "A8-lf-in-extension": b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    "A8-cr-in-extension": b"5;a\rb\r\nhello\r\n0\r\n\r\n",
    "A9-content-length-trailer": b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    "A9-transfer-encoding-trailer": b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
}


class ChunkedBodyTests:
    """A8-A9: chunk framing is read by a strict grammar, and trailers never change framing."""

    @pytest.mark.parametrize("body", BAD_CHUNKS.values(), ids=BAD_CHUNKS.keys())
    def test_malformed_chunk_framing_is_a_400(self, echo_l5d, body: bytes) -> None:
        """A8/A9: a bad chunk size line, chunk end or framing trailer: 400 + close, no prefix parse,
        and the upstream never sees a complete request."""
        assert_refused(echo_l5d, post(b"Transfer-Encoding: chunked") + body + SMUGGLED[5:], 400)

    def test_trailer_fields_are_dropped(self, echo_l5d) -> None:
        """A9: a Host trailer is never forwarded or used for routing, even for a queued request."""
        first = post(b"Content-Length: 0")
        second = (head(b"POST /t HTTP/1.1", b"Host: svc", b"Transfer-Encoding: chunked")
                  + b"5\r\nhello\r\n0\r\nHost: evil\r\nX-Trailer: yes\r\n\r\n")
        seen = forwarded(echo_l5d, first + second, 2)
        assert [(r["target"], r["body_length"]) for r in seen] == [("/p", 0), ("/t", 5)]
        headers = [(n.lower(), v) for n, v in seen[1]["headers"]]
        assert ("host", "svc") in headers
        assert "evil" not in json.dumps(seen[1]) and "x-trailer" not in dict(headers)


# -- A10-A13: header syntax ------------------------------------------------------------------

BAD_HEADERS = {
    "A10-obs-fold": head(b"GET / HTTP/1.1", b"Host: svc", b"X-A: one", b" two"),
    "A10-obs-fold-on-te": post(b"Transfer-Encoding:", b" chunked") + SMUGGLED,
    "A11-bare-lf-everywhere": b"GET / HTTP/1.1\nHost: svc\n\n",
    "A11-bare-lf-between-headers": b"GET / HTTP/1.1\r\nHost: svc\nX-A: b\r\n\r\n",
    "A11-bare-cr": b"GET / HTTP/1.1\r\nHost: svc\rX-A: b\r\n\r\n",
    "A11-nul-in-value": head(b"GET / HTTP/1.1", b"Host: svc", b"X-A: a\x00b"),
    "A11-cr-in-value": head(b"GET / HTTP/1.1", b"Host: svc", b"X-A: a\rb"),
    "A12-space-before-colon": head(b"GET / HTTP/1.1", b"Host : svc"),
    "A12-tab-before-colon": post(b"Transfer-Encoding\t: chunked") + SMUGGLED,
    "A12-leading-whitespace-first-header": head(b"GET / HTTP/1.1", b" Host: svc"),
    "A12-empty-name": head(b"GET / HTTP/1.1", b"Host: svc", b": x"),
    "A12-no-colon": head(b"GET / HTTP/1.1", b"Host: svc", b"X-A"),
    "A12-non-token-name": head(b"GET / HTTP/1.1", b"Host: svc", b"X(A): b"),
    "A12-8-bit-name": head(b"GET / HTTP/1.1", b"Host: svc", b"X-\xe9: b"),
    "A13-transfer_encoding": post(b"Transfer_Encoding: chunked") + SMUGGLED,
    "A13-content_length": post(b"Content_Length: 5") + b"hello",
    "A13-long-s-lookalike": post("Tran\u017ffer-Encoding: chunked".encode("utf-8")) + SMUGGLED,
    "A13-kelvin-lookalike": post("Content-Length\u212a: 5".encode("utf-8")) + b"hello",
}


class HeaderSyntaxTests:
    """A10-A13: header lines are parsed exactly, never "repaired"."""

    @pytest.mark.parametrize("data", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
    def test_malformed_header_lines_are_a_400(self, echo_l5d, data: bytes) -> None:
        """A10-A13: obs-fold, bare CR/LF, NUL, spaces around names, bad or look-alike names: 400."""
        assert_refused(echo_l5d, data, 400)


# -- A14, A15: request line ------------------------------------------------------------------

BAD_REQUEST_LINES = {
    "A14-junk-method": b"G@T / HTTP/1.1",
    "A14-double-space-after-method": b"GET  / HTTP/1.1",
    "A14-double-space-before-version": b"GET /  HTTP/1.1",
    "A14-tab": b"GET\t/ HTTP/1.1",
    "A14-space-in-target": b"GET /a b HTTP/1.1",
    "A14-lowercase-http": b"GET / http/1.1",
    "A14-http-1.32": b"GET / HTTP/1.32",
    "A14-trailing-space": b"GET / HTTP/1.1 ",
    "A14-http-0.9-version": b"GET / HTTP/0.9",
}


class RequestLineTests:
    """A14-A15: the request line is exactly METHOD SP target SP HTTP/1.x."""

    @pytest.mark.parametrize("line", BAD_REQUEST_LINES.values(), ids=BAD_REQUEST_LINES.keys())
    def test_malformed_request_line_is_a_400(self, echo_l5d, line: bytes) -> None:
        """A14: junk methods, runs of spaces, tabs, a space in the target, bad versions: 400."""
        assert_refused(echo_l5d, head(line, b"Host: svc"), 400)

    @pytest.mark.parametrize("line", [b"get / HTTP/1.1", b"FOO / HTTP/1.1", b"X-CUSTOM /x HTTP/1.1"],
                             ids=["A14-lowercase-method", "unknown-token", "unknown-token-dash"])
    def test_unknown_method_token_is_a_501(self, echo_l5d, line: bytes) -> None:
        """A14: a method token l5d's parser does not know (methods are case-sensitive, so
        "get" is one): 501 + close, never forwarded."""
        assert_refused(echo_l5d, head(line, b"Host: svc"), 501)

    def test_unknown_method_line_split_over_reads_is_a_501(self, echo_l5d) -> None:
        """The verdict waits for the end of the request line when it arrives in pieces."""
        l5d, backend = echo_l5d
        with RawClient(l5d.port, timeout_s=5) as c:
            for piece in (b"FO", b"O /p HT", b"TP/1.1", b"\r\nHost: svc\r\n\r\n"):
                c.send(piece)
                time.sleep(0.05)
            rsp = c.read_response()
            assert rsp.status == 501 and rsp.header("connection") == "close", rsp

    def test_http_1_2_is_http_1_1(self, echo_l5d) -> None:
        """A14: HTTP/1.2 is a later HTTP/1.x minor version: handled and forwarded as 1.1."""
        seen = forwarded(echo_l5d, head(b"GET /v HTTP/1.2", b"Host: svc"))
        assert (seen[0]["target"], seen[0]["version"]) == ("/v", "HTTP/1.1")

    def test_lf_inside_the_request_line_is_a_400(self, echo_l5d) -> None:
        """A14: an LF in the middle of the request line: 400 + close."""
        assert_refused(echo_l5d, b"GET /\n HTTP/1.1\r\nHost: svc\r\n\r\n", 400)

    def test_http09_simple_request_is_a_400(self, echo_l5d) -> None:
        """A14: an HTTP/0.9 simple request (no version) is refused with an HTTP/1.1 400."""
        assert_refused(echo_l5d, b"GET /\r\n\r\n", 400)

    def test_double_space_is_refused_in_a_pipelined_request_too(self, echo_l5d) -> None:
        """A14: a good request then one with a double space, in one packet: 200 then 400 + close."""
        l5d, backend = echo_l5d
        before = len(backend.requests)
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(request("GET", "/one", [("Host", "svc")])
                   + head(b"GET  /two HTTP/1.1", b"Host: svc"))
            assert c.read_response().status == 200
            rsp = c.read_response()
            assert rsp.status == 400 and rsp.header("connection") == "close", rsp
            assert c.closed_by_peer(5)
        assert [r["target"] for r in backend.requests[before:]] == ["/one"]

    @pytest.mark.parametrize("line", [b"GET / HTTP/2.0", b"GET / HTTP/3.0", b"GET / HTTP/9.9"],
                             ids=["A15-http-2.0", "A15-http-3.0", "A15-http-9.9"])
    def test_http2_or_later_in_a_text_request_is_a_505(self, echo_l5d, line: bytes) -> None:
        """A15: a well-formed request line in HTTP/2.0 or later: 505 + close."""
        assert_refused(echo_l5d, head(line, b"Host: svc"), 505)

    def test_http2_prior_knowledge_preface_is_a_505(self, echo_l5d) -> None:
        """A15: the HTTP/2 connection preface on an HTTP/1.1 port: 505 + close."""
        assert_refused(echo_l5d, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)


# -- A16-A18: bodies on GET, pipelining ------------------------------------------------------

class BodyAndPipeliningTests:
    """A16-A18: bodies on GET keep their framing; pipelined requests answer in order."""

    def test_get_with_content_length_body_is_forwarded_with_its_framing(self, echo_l5d) -> None:
        """A16: GET with a Content-Length body: forwarded with body and CL; the next one follows."""
        data = (head(b"GET /g HTTP/1.1", b"Host: svc", b"Content-Length: 3") + b"abc"
                + request("GET", "/next", [("Host", "svc")]))
        seen = forwarded(echo_l5d, data, 2)
        assert [(r["target"], r["body_length"]) for r in seen] == [("/g", 3), ("/next", 0)]
        assert ("content-length", "3") in [(n.lower(), v) for n, v in seen[0]["headers"]]

    def test_get_with_chunked_body_is_forwarded_chunked(self, echo_l5d) -> None:
        """A16: GET with a chunked body is forwarded chunked, never with a stale framing."""
        data = (head(b"GET /g HTTP/1.1", b"Host: svc", b"Transfer-Encoding: chunked")
                + b"5\r\nhello\r\n0\r\n\r\n" + request("DELETE", "/next", [("Host", "svc")]))
        seen = forwarded(echo_l5d, data, 2)
        assert [(r["method"], r["target"], r["body_length"]) for r in seen] == [
            ("GET", "/g", 5), ("DELETE", "/next", 0)]
        names = {n.lower(): v for n, v in seen[0]["headers"]}
        assert names.get("transfer-encoding") == "chunked" and "content-length" not in names

    def test_valid_request_then_garbage_is_a_200_then_a_400(self, echo_l5d) -> None:
        """A17: a good request and garbage in one packet: the 200 is delivered, then 400 + close."""
        l5d, backend = echo_l5d
        before = len(backend.requests)
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(request("GET", "/ok", [("Host", "svc")]) + b"\x16\x03\x01garbage\r\n\r\n")
            first = c.read_response()
            assert first.status == 200 and json.loads(first.body)["target"] == "/ok"
            second = c.read_response()
            assert second.status == 400 and second.header("connection") == "close", second
            assert c.closed_by_peer(5)
        assert [r["target"] for r in backend.requests[before:]] == ["/ok"]

    def test_pipelined_responses_keep_request_order_behind_a_slow_one(self) -> None:
        """A18: three pipelined requests, the first answered slowly upstream: responses in order."""
        def handler(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                got, buf = read_head(conn, buf)
                if not got:
                    return
                target = got.split(b" ")[1]
                log.append(target)
                if target == b"/slow":
                    time.sleep(0.3)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(target), target))

        with ScriptedBackend(handler) as backend, L5d(inet(backend.port)) as l5d:
            with RawClient(l5d.port, timeout_s=10) as c:
                c.send(b"".join(request("GET", t, [("Host", "svc")])
                                for t in ("/slow", "/b", "/c")))
                bodies = [c.read_response().body for _ in range(3)]
        assert bodies == [b"/slow", b"/b", b"/c"]


# -- A20: published desync payloads -----------------------------------------------------------

# From http-garden's trophy list (narfindustries/http-garden TROPHIES.md: bugs found in
# aiohttp, gunicorn, tornado, CPython http.server, Werkzeug, HAProxy...) and PortSwigger's
# desync research; each would make some parser in a chain read a different message.
DESYNC = {
    # chunk size read with int(x, 16): '0_2e' is 46 for Python, invalid for everyone else
    "A20-python-underscore-chunk-size": (
        post(b"Transfer-Encoding: chunked") + b"0_2e\r\n" + b"x" * 46 + b"\r\n0\r\n\r\n", 400),
    # Content-Length read with int(): '+1_0' is 10 for Python
    "A20-python-signed-underscore-cl": (post(b"Content-Length: +1_0") + b"0123456789", 400),
    # an empty Content-Length read as 0, the body then parsed as the next request
    "A20-empty-content-length": (
        post(b"Content-Length:") + b"GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n", 400),
    # TE.CL: the front honours a duplicated/obfuscated TE, the back uses CL
    "A20-te-cl-obfuscated-te": (
        post(b"Content-Length: 4", b"Transfer-Encoding : chunked")
        + b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n", 400),
    "A20-te-with-tab": (
        post(b"Transfer-Encoding:\tchunked", b"Content-Length: 3") + b"0\r\n\r\n", 400),
    # CL.0 via a look-alike name that some WSGI stacks map onto CONTENT_LENGTH
    "A20-content_length-underscore": (post(b"Content_Length: 35") + SMUGGLED, 400),
    # a chunk size read as its longest valid prefix ('5xyz' -> 5)
    "A20-chunk-size-prefix": (
        post(b"Transfer-Encoding: chunked") + b"5xyz\r\nhello\r\n0\r\n\r\n", 400),
    # chunk extension smuggling a bare LF (the 'chunk-ext LF' class)
    "A20-bare-lf-chunk-ext": (
        post(b"Transfer-Encoding: chunked") + b"5;\nxx\r\nhello\r\n0\r\n\r\n", 400),
    # a NUL or \\x85 stripped by str.strip() around a header value
    "A20-nel-around-chunked": (
        post("Transfer-Encoding: chunked\x85".encode("latin-1")) + SMUGGLED, 400),
    "A20-nbsp-cl": (post(b"Content-Length: \xa05") + b"hello", 400),
    # multiple TE fields treated as "no body" by some servers
    "A20-te-chunked-twice": (
        post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked") + SMUGGLED, 400),
    # HTTP/1.0 with TE: chunked (framing differs between HTTP/1.0 and 1.1 parsers)
    "A20-http10-te": (
        head(b"POST / HTTP/1.0", b"Host: svc", b"Transfer-Encoding: chunked") + SMUGGLED, 400),
    # obs-fold on Content-Length
    "A20-folded-cl": (post(b"Content-Length:", b" 5") + b"hello", 400),
    # a request line with a bare CR as separator
    "A20-bare-cr-request-line": (b"GET / HTTP/1.1\rHost: svc\r\n\r\n", 400),
}


class DesyncPayloadTests:
    """A20: published desync payloads are refused whole; no extra request reaches the backend."""

    @pytest.mark.parametrize("data,status", DESYNC.values(), ids=DESYNC.keys())
    def test_desync_payload_is_refused(self, echo_l5d, data: bytes, status: int) -> None:
        """A20: each payload gets its status + close, and the backend sees no request at all."""
        assert_refused(echo_l5d, data, status)

    def test_request_after_an_early_response_is_not_taken_from_the_body(self) -> None:
        """A20 (0.CL): an upstream that answers before reading the body must not turn the unread
        body into a second request: the connection to the client closes after the response."""
        got: list[bytes] = []

        def handler(conn: socket.socket, log: list) -> None:
            h, _ = read_head(conn)
            got.append(h)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(1.0)

        with ScriptedBackend(handler) as backend, L5d(inet(backend.port)) as l5d:
            with RawClient(l5d.port, timeout_s=5) as c:
                c.send(post(b"Content-Length: 40") + b"GET /smuggled HTTP/1.1\r\nHost: svc\r\n")
                rsp = c.read_response()
                assert rsp.status == 200 and rsp.header("connection") == "close", rsp
                assert c.closed_by_peer(5)
            assert len(got) == 1 and b"/smuggled" not in got[0]



# -- A19: differential against h11 --------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "get", "G@T", "CONNECT"]
TARGETS = ["/", "/a?b=c", "/x/y#f", "http://svc/x", "/%zz", "*", "/a b", "/caf\xe9"]
VERSIONS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1",
            "HTTP/1.10"]
SEPARATORS = [" ", " ", " ", "  ", "\t"]
EOLS = ["\r\n"] * 6 + ["\n", "\r"]
NAME_SEPARATORS = [": ", ": ", ":", ":\t", ":  ", " : "]
NAMES = ["X-A", "Accept", "Transfer_Encoding", "Content_Length", "X\x00", "X Y", "", "X-\xe9"]
VALUES = ["v", "a b", "a\tb", "", " padded ", "a\x00b", "a\x7fb", "caf\xe9", "\x85", "a\rb"]
CL_VALUES = ["{n}", "{n}", "0{n}", " {n}", "+{n}", "-{n}", "{n}, {n}", "", "0x{n}", "{n}_0",
             "{m}", "99999999999999999999999"]
TE_VALUES = ["chunked", "chunked", "Chunked", "CHUNKED", " chunked ", "gzip, chunked",
             "chunked, gzip", "identity", ",chunked", "chunked;x", "chunked, chunked"]
CHUNK_SIZES = ["{x}", "{x}", "{X}", "000{x}", "0x{x}", "+{x}", " {x}", "{x} ", "{x};ext=1", "{x};e",
               "{x}\n", ""]


def _chunked(body: bytes, size_form: str, split: int) -> bytes:
    parts = [body[:split], body[split:]] if 0 < split < len(body) else [body]
    out = b""
    for part in parts:
        if part:
            size = size_form.format(x="%x" % len(part), X="%X" % len(part))
            out += size.encode("latin-1") + b"\r\n" + part + b"\r\n"
    return out + b"0\r\n\r\n"


try:
    import h11
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the test extra installs both
    h11 = None


def _h11_first(data: bytes) -> tuple[str, str | None, int]:
    """h11's reading of the first request: ("accept"|"reject"|"incomplete", method, body length)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    method, length = None, 0
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return "incomplete", method, length
            if isinstance(event, h11.Request):
                method = event.method.decode("latin-1")
            elif isinstance(event, h11.Data):
                length += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return "accept", method, length
    except h11.RemoteProtocolError:
        return "reject", method, length


def _ours_first(data: bytes) -> tuple[str, str | None, int]:
    """l5d's server protocol reading the same bytes, in memory."""
    from tests.helpers.server_harness import ServerPump

    pump = ServerPump()
    pump.feed(data)
    first = pump.exchanges[0] if pump.exchanges else None
    if pump.completed and pump.completed[0] is first and first.failed is None:
        return "accept", first.head.method, len(first.body)
    if pump.statuses():
        return "reject", None, 0
    return "incomplete", None, 0


# the first few entries of each list are well formed; "pick" draws from those unless the
# example is meant to carry faults, so about half the examples are valid requests
VALID = {id(METHODS): 7, id(TARGETS): 5, id(VERSIONS): 4, id(SEPARATORS): 3, id(EOLS): 6,
         id(NAME_SEPARATORS): 5, id(NAMES): 2, id(VALUES): 5, id(CL_VALUES): 3, id(TE_VALUES): 5,
         id(CHUNK_SIZES): 4}

if h11 is not None:
    @st.composite
    def http_requests(draw) -> bytes:
        """Requests, well formed about half the time, else with some classic faults mixed in."""
        faulty = draw(st.booleans())

        def pick(options: list[str]) -> str:
            if faulty and not draw(st.integers(0, 3)):
                return draw(st.sampled_from(options))
            return draw(st.sampled_from(options[:VALID[id(options)]]))

        eol = pick(EOLS)
        line = pick(METHODS) + pick(SEPARATORS) + pick(TARGETS) + pick(SEPARATORS) + pick(VERSIONS)
        body = draw(st.binary(max_size=12))
        headers: list[str] = []
        if not faulty or draw(st.integers(0, 9)):
            headers.append("Host: svc")
        if faulty and not draw(st.integers(0, 5)):
            headers.append(draw(st.sampled_from(["Host: other", "Host: a b", "Host:",
                                                 "Host: s@vc"])))
        framing = draw(st.sampled_from(["none", "cl", "cl", "te", "te", "both"] if faulty
                                       else ["none", "cl", "te"]))
        if framing in ("cl", "both"):
            value = pick(CL_VALUES).format(n=len(body), m=len(body) + 3)
            headers.append("Content-Length" + pick(NAME_SEPARATORS) + value)
        if framing in ("te", "both"):
            headers.append("Transfer-Encoding" + pick(NAME_SEPARATORS) + pick(TE_VALUES))
        for _ in range(draw(st.integers(0, 2))):
            headers.append(pick(NAMES) + pick(NAME_SEPARATORS) + pick(VALUES))
        if faulty and not draw(st.integers(0, 7)):
            headers.append(" folded")  # obs-fold
        headers = draw(st.permutations(headers))
        text = line + eol + "".join(h + pick(EOLS) for h in headers) + eol
        data = text.encode("latin-1")
        if framing in ("te", "both"):
            data += _chunked(body, pick(CHUNK_SIZES), draw(st.integers(0, len(body))))
        elif framing == "cl":
            data += body
        if draw(st.booleans()):
            data += b"GET /next HTTP/1.1\r\nHost: svc\r\n\r\n"
        return data

    class DifferentialTests:
        """A19: on generated requests l5d accepts only what h11 accepts, with the same length."""

        @settings(max_examples=200, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(http_requests())
        def test_we_accept_only_what_h11_accepts_with_the_same_length(self, data: bytes) -> None:
            """A19: we accept => h11 accepts, same method and body length; h11 rejects => we do."""
            ours = _ours_first(data)
            theirs = _h11_first(data)
            if ours[0] == "accept":
                assert theirs == ours, (data, ours, theirs)
            if theirs[0] == "reject":
                assert ours[0] == "reject", (data, ours, theirs)

        @settings(max_examples=200, deadline=None, derandomize=True)
        @given(st.binary(max_size=64))
        def test_random_bytes_never_accepted_unless_h11_agrees(self, data: bytes) -> None:
            """A19: arbitrary bytes: whatever we accept, h11 accepts with the same body length."""
            ours = _ours_first(data)
            if ours[0] == "accept":
                assert _h11_first(data) == ours, data
