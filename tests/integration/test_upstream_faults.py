"""Upstream faults through a real l5d: reliability matrix group D (D1-D12).

The upstreams are :class:`ScriptedBackend`\\ s that write exactly the bytes a
broken server would (resets, truncated bodies, CL+TE, garbage, slow drips,
idle closes) and log what they were sent, so "never retried" and "never
reused" are checked on the upstream side.

D10-D12: failure accrual takes a failing endpoint out, a deployment whose every
endpoint fails is still tried (fail open) and recovers, and a slow endpoint gets
less traffic.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests

from tests.helpers.backends import EchoBackend, ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.raw_http import RawClient, request

TIMEOUT_S = 20


def refused_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Blackhole:
    """A port whose SYNs are dropped: a listen(0) socket with its accept queue filled."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self._fill = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fill.append(c)
        time.sleep(0.1)

    def close(self) -> None:
        for c in self._fill:
            c.close()
        self.sock.close()


def reset(conn: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def read_request(conn: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One request with a Content-Length body (or none); (head, body, rest)."""
    head, rest = read_head(conn, buf)
    if not head:
        return b"", b"", b""
    n = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            n = int(value)
    while len(rest) < n:
        data = conn.recv(65536)
        if not data:
            break
        rest += data
    return head, rest[:n], rest[n:]


def method_of(head: bytes) -> str:
    return head.split(b" ", 1)[0].decode()


def wait_closed(conn: socket.socket, timeout_s: float = 10.0) -> bool:
    """Whether the peer closes ``conn`` (EOF or reset) within the time."""
    conn.settimeout(timeout_s)
    try:
        while True:
            if not conn.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def proxies(l5d) -> dict[str, str]:
    return {"http": f"http://{l5d.proxy}"}


def endpoints(tmp_path, ports: list[int], router_yaml: str = "") -> L5d:
    """An l5d where /svc/x is one client with these endpoints (an io.l5d.fs service file).

    (A dtab union such as ``/$/inet/A & /$/inet/B`` would be two clients picked at random,
    not one client with two endpoints.)"""
    disco = tmp_path / "disco"
    disco.mkdir(exist_ok=True)
    (disco / "x").write_text("".join(f"127.0.0.1 {p}\n" for p in ports))
    return L5d(
        "/svc=>/#/io.l5d.fs",
        router_yaml=router_yaml,
        namers_yaml=f"namers:\n- kind: io.l5d.fs\n  rootDir: {disco}\n",
    )


class ConnectFailureTests:
    """D1: refused or timed-out connects are requeued to another endpoint (any method); 502 when
    all fail."""

    def test_refused_endpoint_is_skipped_for_any_method(self, tmp_path) -> None:
        """One endpoint refuses: every POST still succeeds, and the live endpoint sees each exactly
        once."""
        with EchoBackend() as live:
            with endpoints(tmp_path, [refused_port(), live.port]) as l5d:
                for i in range(6):
                    rsp = requests.post(
                        "http://x/", data=b"body%d" % i, proxies=proxies(l5d), timeout=TIMEOUT_S
                    )
                    assert rsp.status_code == 200
                assert [r["method"] for r in live.requests] == ["POST"] * 6

    def test_all_refused_is_a_502_naming_the_address(self) -> None:
        """Every endpoint refuses: 502 with Linkerd's 'Unable to establish connection' text."""
        port = refused_port()
        with L5d(f"/svc/x=>/$/inet/127.0.0.1/{port}") as l5d:
            started = time.monotonic()
            rsp = requests.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S)
            assert time.monotonic() - started < 5
            assert rsp.status_code == 502
            assert rsp.text == (
                f"Unable to establish connection to 127.0.0.1:{port}.\n\n"
                "service name: /svc/x\n"
                f"client name: /$/inet/127.0.0.1/{port}\n"
                f"addresses: [127.0.0.1:{port}]\n"
                f"selected address: 127.0.0.1:{port}"
            )
            assert "l5d-err" in rsp.headers
            # nothing reached an application: a caller (an outgoing l5d) may send it elsewhere
            assert rsp.headers["l5d-retryable"] == "true"

    def test_connect_timeout_is_requeued_to_the_live_endpoint(self, tmp_path) -> None:
        """A black-holed endpoint: after the connect timeout the POST goes to the live one, once."""
        hole = Blackhole()
        try:
            with EchoBackend() as live:
                with endpoints(tmp_path, [hole.port, live.port]) as l5d:
                    for _ in range(2):  # round-robin: one of the two starts at the black hole
                        rsp = requests.post(
                            "http://x/", data=b"b", proxies=proxies(l5d), timeout=30
                        )
                        assert rsp.status_code == 200
                    assert [r["method"] for r in live.requests] == ["POST", "POST"]
        finally:
            hole.close()

    def test_connect_that_never_completes_is_bounded_by_the_attempt_timeout(self) -> None:
        """Only a black hole and requestAttemptTimeoutMs 500: a 503 in about that time, not a
        hang."""
        hole = Blackhole()
        try:
            with L5d(
                f"/svc/x=>/$/inet/127.0.0.1/{hole.port}",
                router_yaml="client: {kind: io.l5d.global, requestAttemptTimeoutMs: 500}\n",
            ) as l5d:
                started = time.monotonic()
                rsp = requests.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S)
                assert 0.4 < time.monotonic() - started < 5
                assert rsp.status_code == 503
        finally:
            hole.close()


class ResetAfterWriteTests:
    """D2: a reset after the request was written, before any response byte."""

    @pytest.fixture()
    def pair(self, tmp_path):
        """Endpoint ``bad`` resets every connection once it has read a request; ``good`` answers."""
        bad_log: list = []
        good_log: list = []
        good_bodies: list = []

        def bad(conn: socket.socket, log: list) -> None:
            head, body, _ = read_request(conn)
            if head:
                bad_log.append(method_of(head))
                reset(conn)

        def good(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                head, body, buf = read_request(conn, buf)
                if not head:
                    return
                good_log.append(method_of(head))
                good_bodies.append(body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        with ScriptedBackend(bad) as b, ScriptedBackend(good) as g:
            # round robin: every other request starts at the bad endpoint, not a random share
            with endpoints(tmp_path, [b.port, g.port],
                           "client: {loadBalancer: {kind: roundRobin}}\n") as l5d:
                yield l5d, bad_log, good_log, good_bodies

    def test_get_is_retried_once_elsewhere(self, pair) -> None:
        """GET (idempotent, no body): the reset attempt is retried once on the other endpoint."""
        l5d, bad_log, good_log, good_bodies = pair
        for _ in range(4):
            rsp = requests.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S)
            assert rsp.status_code == 200
        assert bad_log.count("GET") >= 1
        assert good_log.count("GET") == 4  # each request reached the good endpoint exactly once

    def test_post_is_a_502_and_never_retried(self, pair) -> None:
        """POST: possibly delivered, so 502 and no second attempt anywhere."""
        l5d, bad_log, good_log, good_bodies = pair
        statuses = []
        for i in range(4):
            rsp = requests.post(
                "http://x/", data=b"x%d" % i, proxies=proxies(l5d), timeout=TIMEOUT_S
            )
            statuses.append(rsp.status_code)
        assert set(statuses) == {200, 502}, statuses
        assert bad_log.count("POST") == statuses.count(502)
        assert good_log.count("POST") == statuses.count(200)

    def test_put_with_a_body_is_retried(self, pair) -> None:
        """PUT with a small buffered body is idempotent: retried, the body sent again in full."""
        l5d, bad_log, good_log, good_bodies = pair
        for _ in range(4):
            rsp = requests.put(
                "http://x/", data=b"y" * 100, proxies=proxies(l5d), timeout=TIMEOUT_S
            )
            assert rsp.status_code == 200
        assert good_log.count("PUT") == 4
        assert good_bodies == [b"y" * 100] * 4

    def test_a_body_that_arrived_after_the_first_send_is_resent_whole(self, pair) -> None:
        """The PUT body reaches l5d only after the request head went upstream: the re-send still
        carries the whole body, not just what was buffered before connecting."""
        l5d, bad_log, good_log, good_bodies = pair
        for i in range(4):
            with RawClient(l5d.port) as c:
                c.send(request("PUT", "/", [("Host", "x"), ("Content-Length", "1000")]))
                time.sleep(0.2)
                c.send(b"%d" % i + b"z" * 999)
                rsp = c.read_response()
                assert rsp.status == 200, rsp
        assert good_bodies == [b"%d" % i + b"z" * 999 for i in range(4)]
        assert bad_log.count("PUT") >= 1


def one_shot(response: bytes, *, then=None):
    """A backend that reads one request, writes ``response`` and then runs ``then(conn)`` or
    closes."""

    def handler(conn: socket.socket, log: list) -> None:
        head, body, _ = read_request(conn)
        if not head:
            return
        log.append(head)
        conn.sendall(response)
        if then is not None:
            then(conn)

    return handler


class TruncatedBodyTests:
    """D3/D4: an upstream body that ends early is never delivered as complete."""

    def test_content_length_short_then_close(self) -> None:
        """D3: CL 100, 10 bytes, close: the client gets the head and at most 10 bytes, then the
        connection ends; no keep-alive, no padding."""
        rsp_bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
        with ScriptedBackend(one_shot(rsp_bytes)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.status == 200 and not rsp.complete
                assert rsp.header("Content-Length") == "100"
                assert len(rsp.body) <= 10
                assert c.eof
            with pytest.raises(requests.exceptions.RequestException):
                requests.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S)
            out = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "http://a/"],
                timeout=TIMEOUT_S,
                env=dict(os.environ, http_proxy=f"http://{l5d.proxy}", no_proxy=""),
            )
            assert out.returncode in (
                18,
                56,
            )  # CURLE_PARTIAL_FILE, or CURLE_RECV_ERROR after the reset

    @pytest.mark.parametrize(
        "cut",
        [
            b"5\r\nhello\r\n",  # between chunks
            b"5\r\nhello\r\n5\r\nwor",  # inside a chunk
            b"5\r\nhello\r\n5",  # inside a chunk-size line
            b"5\r\nhello\r\n0\r\n",  # last chunk without the final CRLF
        ],
        ids=["between", "mid-chunk", "mid-size", "no-final-crlf"],
    )
    def test_chunked_cut_before_the_last_chunk(self, cut: bytes) -> None:
        """D4: the downstream is aborted: no terminating 0-chunk, no raw chunk lines passed
        through."""
        rsp_bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + cut
        with ScriptedBackend(one_shot(rsp_bytes)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.status == 200 and not rsp.complete, rsp
                assert c.eof
                assert not c.raw.endswith(b"0\r\n\r\n")
                assert c.parse_error is None  # what was sent is valid chunked framing
                assert rsp.body in (b"", b"hello", b"hellowor")
            with pytest.raises(requests.exceptions.RequestException):
                requests.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S)

    @pytest.mark.parametrize(
        "body",
        [
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n+3\r\nabc\r\n",
            b"5\r\nhelloXX\r\n0\r\n\r\n",
        ],
        ids=["0x", "plus", "overrun"],
    )
    def test_bad_chunk_framing_after_the_head_aborts(self, body: bytes) -> None:
        """A chunk-size or chunk-data error found after the head went out: the downstream is cut."""
        rsp_bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        with ScriptedBackend(one_shot(rsp_bytes, then=wait_closed)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.status == 200 and not rsp.complete, rsp
                assert c.eof and not c.raw.endswith(b"0\r\n\r\n")

    def test_close_delimited_body_cut_by_a_reset(self) -> None:
        """A response without CL or TE that ends with a reset, not a close: not complete, so the
        downstream is cut (no terminating chunk)."""

        def then(conn: socket.socket) -> None:
            time.sleep(0.2)
            reset(conn)

        with ScriptedBackend(
            one_shot(b"HTTP/1.1 200 OK\r\n\r\npart of it", then=then)
        ) as backend, L5d(f"/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.status == 200 and not rsp.complete, rsp
                assert rsp.body in (b"", b"part of it")
                assert c.eof and not c.raw.endswith(b"0\r\n\r\n")

    def test_close_delimited_body_ends_with_the_connection(self) -> None:
        """A response without CL or TE is delimited by the close: complete, re-framed as chunked."""
        rsp_bytes = b"HTTP/1.1 200 OK\r\n\r\nall of it"
        with ScriptedBackend(one_shot(rsp_bytes)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert rsp.complete and rsp.body == b"all of it"
                assert rsp.header("Transfer-Encoding") == "chunked"


class BadFramingTests:
    """D5/D6: responses l5d cannot trust are a 502 (before any byte went downstream), never a
    200."""

    @pytest.mark.parametrize(
        "rsp_bytes",
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ],
        ids=["cl-te", "te-cl", "two-cl", "plus-cl", "te-gzip", "te-gzip-chunked"],
    )
    def test_ambiguous_framing_is_a_502_and_the_connection_closed(self, rsp_bytes: bytes) -> None:
        """D5: CL+TE, conflicting CL, non-chunked TE, bad chunk sizes: 502 + l5d-err, upstream
        closed."""
        closed: list[bool] = []
        with ScriptedBackend(
            one_shot(rsp_bytes, then=lambda c: closed.append(wait_closed(c)))
        ) as backend, L5d(f"/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
            assert rsp.status == 502 and rsp.complete, rsp
            assert rsp.header("l5d-err")
            assert b"hello" not in rsp.body or rsp.body.startswith(b"malformed")
            assert wait_for(lambda: closed == [True])

    @pytest.mark.parametrize(
        "rsp_bytes",
        [
            b"",  # close before any byte
            b"garbage\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
            b"HTTP/1.1 200",  # cut inside the head
        ],
        ids=["nothing", "garbage", "ssh", "status-2000", "101", "bad-header", "cut-head"],
    )
    def test_non_http_or_nothing_is_a_502(self, rsp_bytes: bytes) -> None:
        """D6: garbage, a cut head, a protocol switch, or a close before any byte: 502, never
        200."""
        with ScriptedBackend(one_shot(rsp_bytes)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("POST", "/", [("Host", "a"), ("Content-Length", "1")], b"x"))
                rsp = c.read_response()
            assert rsp.status == 502 and rsp.complete, rsp
            assert rsp.header("l5d-err")
            assert len(backend.log) == 1  # POST: not retried


TOTAL_TIMEOUT = "service: {kind: io.l5d.global, totalTimeoutMs: 500}\n"
ATTEMPT_TIMEOUT = "client: {kind: io.l5d.global, requestAttemptTimeoutMs: 500}\n"


class SlowUpstream:
    """Answers ``/slow`` after ``delay_s`` (if the connection is still open) and ``/fast`` at once.

    Records, per connection, the targets it was sent and whether l5d closed the connection."""

    def __init__(self, delay_s: float = 1.5) -> None:
        self.delay_s = delay_s
        self.targets: list[tuple[int, str]] = []
        self.closed_early: list[int] = []
        self.backend = ScriptedBackend(self._handle)

    def _handle(self, conn: socket.socket, log: list) -> None:
        buf = b""
        while True:
            head, body, buf = read_request(conn, buf)
            if not head:
                return
            target = head.split(b" ", 2)[1].decode()
            self.targets.append((id(conn), target))
            if target == "/slow":
                if wait_closed(conn, self.delay_s):
                    self.closed_early.append(id(conn))
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nlate body")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast")

    def __enter__(self) -> "SlowUpstream":
        return self

    def __exit__(self, *exc) -> None:
        self.backend.close()


class TimeoutTests:
    """D7: no response before the deadline: 503 with Finagle's text; the upstream connection is
    closed and the late response never leaks into the next one."""

    @pytest.mark.parametrize(
        "router_yaml, message",
        [
            (
                TOTAL_TIMEOUT,
                "exceeded 500.milliseconds to /svc/a while waiting for a response for the request, "
                "including retries (if applicable)",
            ),
            (
                ATTEMPT_TIMEOUT,
                "exceeded 500.milliseconds to /$/inet/127.0.0.1/{port} while waiting for a "
                "response "
                "for an individual request, excluding retries",
            ),
        ],
        ids=["totalTimeoutMs", "requestAttemptTimeoutMs"],
    )
    def test_503_then_a_clean_next_response(self, router_yaml: str, message: str) -> None:
        """503 at about the timeout; the upstream sees its connection closed; the next request on
        the same client connection gets its own response on a new upstream connection."""
        with SlowUpstream() as up, L5d(
            f"/svc=>/$/inet/127.0.0.1/{up.backend.port}", router_yaml=router_yaml
        ) as l5d:
            with RawClient(l5d.port) as c:
                started = time.monotonic()
                c.send(request("GET", "/slow", [("Host", "a")]))
                rsp = c.read_response()
                assert 0.4 < time.monotonic() - started < 1.4
                assert rsp.status == 503 and rsp.complete
                text = message.format(port=up.backend.port)
                assert rsp.body.decode() == text
                assert rsp.header("l5d-err") is not None
                assert rsp.keep_alive
                c.send(request("GET", "/fast", [("Host", "a")]))
                nxt = c.read_response()
                assert (nxt.status, nxt.body) == (200, b"fast")
                time.sleep(1.5)  # past the upstream's delay: nothing late may arrive
                c.send(request("GET", "/fast", [("Host", "a")]))
                assert c.read_response().body == b"fast"
                assert b"late body" not in c.raw
            assert wait_for(lambda: len(up.closed_early) == 1)
            slow_conn = [conn for conn, t in up.targets if t == "/slow"][0]
            assert [t for conn, t in up.targets if conn == slow_conn] == ["/slow"]

    def test_a_fast_response_is_not_affected(self) -> None:
        """Both timeouts set, answers well inside them: plain 200s on a reused upstream
        connection."""
        with SlowUpstream() as up, L5d(
            f"/svc=>/$/inet/127.0.0.1/{up.backend.port}",
            router_yaml=TOTAL_TIMEOUT + ATTEMPT_TIMEOUT,
        ) as l5d:
            for _ in range(3):
                rsp = requests.get("http://a/fast", proxies=proxies(l5d), timeout=TIMEOUT_S)
                assert rsp.status_code == 200
            time.sleep(0.7)  # no timer may fire after the exchange is over
            rsp = requests.get("http://a/fast", proxies=proxies(l5d), timeout=TIMEOUT_S)
            assert rsp.status_code == 200
            assert len({conn for conn, _ in up.targets}) == 1

    def test_timeout_while_the_request_body_streams(self) -> None:
        """The client is still uploading when the deadline passes: 503 and the client connection
        closes."""

        def handler(conn: socket.socket, log: list) -> None:
            read_head(conn)
            log.append(wait_closed(conn, 10))

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}", router_yaml=TOTAL_TIMEOUT
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(
                    request("POST", "/", [("Host", "a"), ("Content-Length", "100000")], b"x" * 1000)
                )
                rsp = c.read_response()
                assert rsp.status == 503
                assert rsp.header("Connection") == "close"
            assert wait_for(lambda: backend.log == [True])


class SlowDripTests:
    """D8: a body that drips slower than the attempt timeout: the exchange is aborted, not held."""

    def test_drip_after_the_head_aborts_downstream(self) -> None:
        """Head at once, then a byte every 100 ms of a 100-byte body, attempt timeout 500 ms: the
        client connection is cut (incomplete body) and the upstream connection closed."""
        result: list = []

        def drip(conn: socket.socket) -> None:
            try:
                for _ in range(100):
                    conn.sendall(b"x")
                    time.sleep(0.1)
                result.append("sent all")
            except OSError:
                result.append("closed")

        rsp_bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        with ScriptedBackend(one_shot(rsp_bytes, then=drip)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}", router_yaml=ATTEMPT_TIMEOUT
        ) as l5d:
            with RawClient(l5d.port) as c:
                started = time.monotonic()
                c.send(request("GET", "/", [("Host", "a")]))
                rsp = c.read_response()
                assert time.monotonic() - started < 3
                assert rsp.status == 200 and not rsp.complete
                assert 0 < len(rsp.body) < 100
                assert c.eof
            assert wait_for(lambda: result == ["closed"], timeout_s=15)

    def test_drip_before_the_head_is_a_503(self) -> None:
        """A head dripped one byte at a time: still no response at the deadline -> 503."""

        def drip(conn: socket.socket) -> None:
            try:
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    conn.sendall(bytes([b]))
                    time.sleep(0.1)
            except OSError:
                pass

        with ScriptedBackend(one_shot(b"", then=drip)) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}", router_yaml=ATTEMPT_TIMEOUT
        ) as l5d:
            rsp = requests.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S)
            assert rsp.status_code == 503


class IdleCloseTests:
    """D9: the upstream closes idle keep-alive connections sooner than l5d would."""

    def test_idle_close_is_invisible(self) -> None:
        """The upstream closes each connection 100 ms after answering; later GETs and POSTs all
        succeed and the upstream sees each request exactly once."""
        seen: list[str] = []

        def handler(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                head, body, buf = read_request(conn, buf)
                if not head:
                    return
                seen.append(method_of(head))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                conn.settimeout(0.1)
                try:
                    buf += conn.recv(65536)
                    if not buf:
                        return
                    conn.settimeout(None)
                except socket.timeout:
                    return  # idle for 100 ms: close (keep-alive timeout)

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            for method in ["GET", "POST", "GET", "POST"]:
                rsp = requests.request(
                    method,
                    "http://a/",
                    data=b"d" if method == "POST" else None,
                    proxies=proxies(l5d),
                    timeout=TIMEOUT_S,
                )
                assert rsp.status_code == 200
                time.sleep(0.3)
            assert seen == ["GET", "POST", "GET", "POST"]

    @pytest.fixture()
    def stale(self):
        """An upstream whose keep-alive connection dies on its second request, unanswered
        (the close raced with l5d reusing it)."""
        log: list[tuple[int, str]] = []

        def handler(conn: socket.socket, _log: list) -> None:
            buf = b""
            n = 0
            while True:
                head, body, buf = read_request(conn, buf)
                if not head:
                    return
                n += 1
                log.append((n, method_of(head)))
                if n == 2:
                    conn.close()
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            yield l5d, log

    def test_get_on_a_stale_connection_is_replayed(self, stale) -> None:
        """GET on the dead pooled connection: sent once more on a new connection, the client sees
        200."""
        l5d, log = stale
        with requests.Session() as s:
            assert s.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code == 200
            assert s.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code == 200
        assert log == [(1, "GET"), (2, "GET"), (1, "GET")]

    def test_post_on_a_stale_connection_is_never_resent(self, stale) -> None:
        """POST on the dead pooled connection: 502; the upstream saw that POST once, nowhere
        else."""
        l5d, log = stale
        assert requests.get("http://a/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code == 200
        rsp = requests.post("http://a/", data=b"once", proxies=proxies(l5d), timeout=TIMEOUT_S)
        assert rsp.status_code == 502
        time.sleep(0.2)
        assert log == [(1, "GET"), (2, "POST")]


def status_backend(status: int, delay_s: float = 0.0):
    """Keep-alive backend answering every request with ``status`` after ``delay_s``."""

    def handler(conn: socket.socket, log: list) -> None:
        buf = b""
        while True:
            head, body, buf = read_request(conn, buf)
            if not head:
                return
            log.append(method_of(head))
            if delay_s:
                time.sleep(delay_s)
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nxx" % status)

    return handler


class BalancerTests:
    """D10-D12 with Linkerd's defaults: p2c least loaded, five consecutive failures mark an
    endpoint dead for 5 s or more (jittered), fail open when every endpoint is down."""

    def test_d10_a_failing_endpoint_is_taken_out(self, tmp_path) -> None:
        """D10: one endpoint answers 500 every time; after five failures it gets no more
        requests (its 500s before that are passed through: the default classifier retries
        nothing)."""
        with ScriptedBackend(status_backend(500)) as bad, ScriptedBackend(
            status_backend(200)
        ) as good:
            with endpoints(tmp_path, [bad.port, good.port]) as l5d, requests.Session() as s:
                statuses = Counter(
                    s.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code
                    for _ in range(40)
                )
                accrual = l5d.metric("failure_accrual/removals")
            assert len(bad.log) == 5 and statuses[500] == 5 and statuses[200] == 35
            assert accrual == 1

    def test_d10_with_retries_the_client_sees_no_failure(self, tmp_path) -> None:
        """D10 with retryableRead5XX: the 500s are retried on the other endpoint."""
        with ScriptedBackend(status_backend(500)) as bad, ScriptedBackend(
            status_backend(200)
        ) as good:
            with endpoints(
                tmp_path, [bad.port, good.port],
                "service: {responseClassifier: {kind: io.l5d.http.retryableRead5XX}}\n",
            ) as l5d, requests.Session() as s:
                statuses = Counter(
                    s.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code
                    for _ in range(40)
                )
            assert statuses == Counter({200: 40})
            assert len(bad.log) == 5 and len(good.log) == 40

    def test_d11_all_failing_then_recovered(self, tmp_path) -> None:
        """D11: every endpoint fails and both are marked dead, yet every request is still
        sent (fail open: never refused for want of a healthy endpoint), so the first request
        after recovery succeeds."""
        mode = {"status": 503}

        def handler(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                head, body, buf = read_request(conn, buf)
                if not head:
                    return
                log.append(1)
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % mode["status"])

        with ScriptedBackend(handler) as a, ScriptedBackend(handler) as b:
            with endpoints(tmp_path, [a.port, b.port]) as l5d:
                for _ in range(20):
                    assert (
                        requests.get(
                            "http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S
                        ).status_code
                        == 503
                    )
                assert len(a.log) + len(b.log) == 20
                assert l5d.metric("failure_accrual/removals") == 2
                mode["status"] = 200
                assert (
                    requests.get("http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S).status_code
                    == 200
                )

    @pytest.mark.parametrize("kind", ["p2c", "ewma"])
    def test_d12_a_slow_endpoint_gets_less(self, tmp_path, kind: str) -> None:
        """D12: one endpoint is 10x slower; with four requests at a time, least loaded and
        peak EWMA both send it well under half."""
        with ScriptedBackend(status_backend(200, 0.05)) as slow, ScriptedBackend(
            status_backend(200, 0.005)
        ) as fast:
            with endpoints(tmp_path, [slow.port, fast.port],
                           f"client: {{loadBalancer: {{kind: {kind}}}}}\n") as l5d:
                results: list[int] = []

                def worker() -> None:
                    with requests.Session() as s:
                        for _ in range(20):
                            results.append(
                                s.get(
                                    "http://x/", proxies=proxies(l5d), timeout=TIMEOUT_S
                                ).status_code
                            )

                threads = [threading.Thread(target=worker) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
            assert results == [200] * 80
            assert len(slow.log) + len(fast.log) == 80
            assert len(slow.log) * 3 < len(fast.log), (len(slow.log), len(fast.log))
