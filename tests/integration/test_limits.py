"""Reliability matrix group B (limits and resource exhaustion) against a real l5d.

Every row of section 6 group B has a test here named after the row (``B4``...).
Deadlines are configured short (hundreds of milliseconds) so the tests are quick;
every wait is bounded, and no test asserts how long something took.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest

from tests.helpers.backends import EchoBackend, ScriptedBackend, raw_request, read_head
from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.raw_http import RawClient, request

GET = request("GET", "/", [("Host", "svc")])


def l5d_with(dtab: str, server: str = "", router: str = "") -> L5d:
    """An l5d whose one server has the extra YAML keys ``server`` (and its router ``router``)."""
    return L5d(config=config_text(dtab, server=server, router=router))


def inet(port: int) -> str:
    return f"/svc=>/$/inet/127.0.0.1/{port}"


def assert_status_then_close(c: RawClient, status: int):
    rsp = c.read_response()
    assert (rsp.status, rsp.complete) == (status, True), rsp
    assert rsp.header("connection") == "close" and rsp.header("l5d-err"), rsp
    assert c.closed_by_peer(5), "the connection stayed open"
    return rsp


def send_all_tolerating_close(c: RawClient, data: bytes) -> None:
    """Send ``data``; a server that has answered and closed may refuse the rest."""
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.fixture(scope="module")
def echo():
    with EchoBackend() as backend:
        yield backend


# -- B1-B3: sizes ------------------------------------------------------------------------------

class SizeLimitTests:
    """B1-B3: oversized request lines, header blocks and bodies get their status, delivered."""

    @pytest.fixture(scope="class")
    def small(self, echo):
        with l5d_with(inet(echo.port), router="maxRequestKB: 1\n") as l5d:
            yield l5d, echo

    @pytest.mark.parametrize("size", [9 * 1024, 70 * 1024], ids=["B1-9KiB", "B1-70KiB"])
    def test_long_request_line_is_a_414_that_arrives(self, small, size: int) -> None:
        """B1: a request line over maxInitialLineKB, sent whole before reading: the 414 arrives."""
        l5d, backend = small
        before = len(backend.requests)
        with RawClient(l5d.port) as c:
            send_all_tolerating_close(c, b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: svc\r\n\r\n")
            assert_status_then_close(c, 414)
        assert len(backend.requests) == before

    def test_large_header_block_is_a_431_that_arrives(self, small) -> None:
        """B2: 70 KiB of headers (over maxHeadersKB), all sent before reading: 431 + close."""
        l5d, backend = small
        headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
        with RawClient(l5d.port) as c:
            send_all_tolerating_close(c, b"GET / HTTP/1.1\r\nHost: svc\r\n" + headers + b"\r\n")
            assert_status_then_close(c, 431)

    def test_too_many_headers_is_a_431(self, small) -> None:
        """B2: 101 small header fields (over the count limit of 100): 431 + close."""
        l5d, _ = small
        headers = b"".join(b"X-%d: v\r\n" % i for i in range(101))
        with RawClient(l5d.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: svc\r\n" + headers + b"\r\n")
            assert_status_then_close(c, 431)

    def test_content_length_over_max_request_kb_is_a_413_before_the_body(self, small) -> None:
        """B3: Content-Length over maxRequestKB: 413 + close before any body byte is sent."""
        l5d, backend = small
        before = len(backend.requests)
        with RawClient(l5d.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 2048\r\n\r\n")
            assert_status_then_close(c, 413)
        assert len(backend.requests) == before

    def test_chunked_body_over_max_request_kb_is_a_413(self, small) -> None:
        """B3: a chunked body growing over maxRequestKB: 413 + close; never whole upstream."""
        l5d, backend = small
        before = len(backend.requests)
        with RawClient(l5d.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n")
            send_all_tolerating_close(c, b"200\r\n" + b"x" * 512 + b"\r\n"
                                      + b"200\r\n" + b"y" * 512 + b"\r\n")
            send_all_tolerating_close(c, b"1\r\nz\r\n0\r\n\r\n")
            assert_status_then_close(c, 413)
        assert len(backend.requests) == before

    def test_body_within_max_request_kb_is_forwarded(self, small) -> None:
        """B3: a body just under the limit goes through whole."""
        l5d, backend = small
        with RawClient(l5d.port) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
            rsp = c.read_response()
        assert rsp.status == 200 and json.loads(rsp.body)["body_length"] == 1000


# -- B4, B5: slow clients ---------------------------------------------------------------------

class SlowClientTests:
    """B4-B5: trickled heads and bodies hit their deadlines."""

    @pytest.fixture(scope="class")
    def quick(self, echo):
        server = "headerTimeoutMs: 500\nbodyIdleTimeMs: 400\n"
        with l5d_with(inet(echo.port), server=server) as l5d:
            yield l5d, echo

    def test_slowloris_gets_a_408_at_the_header_deadline(self, quick) -> None:
        """B4: a head trickled a byte every 50 ms: 408 + close at headerTimeoutMs."""
        l5d, _ = quick
        with RawClient(l5d.port, timeout_s=5) as c:
            deadline = time.monotonic() + 5
            for byte in b"GET / HTTP/1.1\r\nHost: svc\r\nX-Slow: " + b"z" * 200:
                if select.select([c.sock], [], [], 0.05)[0] or time.monotonic() > deadline:
                    break  # the server said something (or gave up): stop trickling
                c.send(bytes([byte]))
            rsp = assert_status_then_close(c, 408)
        assert b"not received in time" in rsp.body

    def test_silent_connection_is_closed_at_the_header_deadline(self, quick) -> None:
        """B4: a connection that never sends a byte is closed, silently, at headerTimeoutMs."""
        l5d, _ = quick
        with socket.create_connection(("127.0.0.1", l5d.port), timeout=5) as s:
            assert s.recv(100) == b""

    def test_stalled_body_is_a_408(self, quick) -> None:
        """B5: a body that stops for bodyIdleTimeMs: 408 + close; never whole upstream."""
        l5d, backend = quick
        before = len(backend.requests)
        with RawClient(l5d.port, timeout_s=5) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 10\r\n\r\nabc")
            assert_status_then_close(c, 408)
        assert len(backend.requests) == before

    def test_stalled_body_after_the_response_started_is_cut(self) -> None:
        """B5: when the upstream already answered, a stalled body cuts the connection: the
        response never looks complete."""
        gone = threading.Event()

        def early(conn: socket.socket, log: list) -> None:
            read_head(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n")
            try:
                while conn.recv(65536):
                    pass
            finally:
                gone.set()

        with ScriptedBackend(early) as backend, \
                l5d_with(inet(backend.port), server="bodyIdleTimeMs: 300\n") as l5d:
            with RawClient(l5d.port, timeout_s=5) as c:
                c.send(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 10\r\n\r\nabc")
                rsp = c.read_response()
                assert rsp.status == 200 and not rsp.complete and rsp.body == b"early", rsp
            assert gone.wait(5), "the upstream connection was kept"


# -- B6: slow reader --------------------------------------------------------------------------

class SlowReaderTests:
    """B6: a client that never reads its response."""

    def test_client_that_stops_reading_is_disconnected_and_memory_stays_bounded(self) -> None:
        """B6: a 64 MiB response to a client that reads nothing: l5d buffers a bounded amount,
        and after sendTimeoutMs without progress it drops both sides."""
        size = 64 * 1024 * 1024
        upstream_cut = threading.Event()
        sent = [0]

        def big(conn: socket.socket, log: list) -> None:
            read_head(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"x" * 65536
            try:
                while sent[0] < size:
                    conn.sendall(chunk)
                    sent[0] += len(chunk)
            except OSError:
                upstream_cut.set()

        with ScriptedBackend(big) as backend, \
                l5d_with(inet(backend.port), server="sendTimeoutMs: 500\n") as l5d:
            rss_before = l5d.rss_kb()
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", l5d.port))
            try:
                s.sendall(GET)
                assert upstream_cut.wait(15), "l5d kept relaying to a client that reads nothing"
                rss_peak = l5d.rss_kb()
                got = 0
                try:
                    while True:
                        data = s.recv(1 << 20)
                        if not data:
                            break
                        got += len(data)
                except (ConnectionResetError, socket.timeout):
                    pass
            finally:
                s.close()
        assert got < size and sent[0] < size
        assert rss_peak - rss_before < 24 * 1024, (rss_before, rss_peak)


# -- B7: idle connections and the connection cap -------------------------------------------------

class ConnectionLimitTests:
    """B7: idle keep-alive connections are closed; connections over the cap are refused."""

    def test_idle_keep_alive_connections_are_closed(self, echo) -> None:
        """B7: 200 keep-alive connections, quiet after one request, all closed after idleTimeMs."""
        with l5d_with(inet(echo.port), server="serverSession: {idleTimeMs: 300}\n") as l5d:
            clients = [RawClient(l5d.port, timeout_s=5) for _ in range(200)]
            try:
                for c in clients:
                    c.send(GET)
                for c in clients:
                    assert c.read_response().status == 200
                assert all(c.closed_by_peer(5) for c in clients)
            finally:
                for c in clients:
                    c.close()

    def test_connections_over_max_connections_are_refused_until_one_closes(self, echo) -> None:
        """B7/B9: at maxConnections new connections close at once; after one goes, one is served."""
        with l5d_with(inet(echo.port), server="maxConnections: 20\n") as l5d:
            held = [socket.create_connection(("127.0.0.1", l5d.port), timeout=5) for _ in range(20)]
            try:
                for s in held:  # each is accepted: one request each, answered
                    s.sendall(request("GET", "/", [("Host", "svc")]))
                    assert s.recv(65536).startswith(b"HTTP/1.1 200")
                refused = socket.create_connection(("127.0.0.1", l5d.port), timeout=5)
                try:
                    assert refused.recv(100) == b""  # closed without a byte
                except ConnectionResetError:
                    pass
                finally:
                    refused.close()
                held.pop().close()

                def served() -> bool:
                    try:
                        out = raw_request(l5d.port, request("GET", "/", [("Host", "svc"),
                                                                          ("Connection", "close")]),
                                          timeout_s=2)
                    except OSError:  # still refused: reset
                        return False
                    return out.startswith(b"HTTP/1.1 200")

                assert wait_for(served, timeout_s=10)
            finally:
                for s in held:
                    s.close()

    def test_near_max_connections_responses_turn_keep_alive_off(self, echo) -> None:
        """B9: from 90 % of maxConnections on, responses carry Connection: close and end."""
        with l5d_with(inet(echo.port), server="maxConnections: 10\n") as l5d:
            held = [RawClient(l5d.port) for _ in range(9)]
            try:
                for c in held:
                    c.send(GET)
                    assert c.read_response().status == 200
                with RawClient(l5d.port) as c:
                    c.send(GET)
                    rsp = c.read_response()
                    assert rsp.status == 200 and rsp.header("connection") == "close"
                    assert c.closed_by_peer(5)
            finally:
                for c in held:
                    c.close()


# -- B8: many distinct Hosts ------------------------------------------------------------------

def _hammer(port: int, hosts: list[str], connections: int = 8) -> list[int]:
    """One GET per Host over a few keep-alive connections; returns every status received."""
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(part: list[str]) -> None:
        c = RawClient(port, timeout_s=10)
        try:
            batch = 50
            for i in range(0, len(part), batch):
                group = part[i:i + batch]
                c.send(b"".join(request("GET", "/", [("Host", h)]) for h in group))
                got = [c.read_response().status for _ in group]
                with lock:
                    statuses.extend(got)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(hosts[i::connections],), daemon=True)
               for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return statuses


class DistinctHostTests:
    """B8: memory does not grow with the number of distinct Host values."""

    N = 20000

    def measure(self, l5d: L5d, prefix: str) -> tuple[int, int, list[int]]:
        _hammer(l5d.port, [f"warm{i}.{prefix}" for i in range(2000)])
        before = l5d.rss_kb()
        statuses = _hammer(l5d.port, [f"h{i}.{prefix}" for i in range(self.N)])
        return before, l5d.rss_kb(), statuses

    def test_unknown_hosts_keep_memory_flat(self) -> None:
        """B8: 20 000 distinct Hosts that bind to nothing: all 502, RSS grows by less than 8 MiB."""
        with l5d_with("/svc/known=>/$/inet/127.0.0.1/9") as l5d:
            before, after, statuses = self.measure(l5d, "neg")
        assert len(statuses) == self.N and set(statuses) == {502}
        assert after - before < 8 * 1024, (before, after)

    def test_hosts_routed_to_one_backend_keep_memory_flat(self, echo) -> None:
        """B8: 20 000 distinct Hosts that all reach one backend: all 200, RSS grows < 8 MiB."""
        with l5d_with(inet(echo.port)) as l5d:
            before, after, statuses = self.measure(l5d, "echo")
        assert len(statuses) == self.N and set(statuses) == {200}
        assert after - before < 8 * 1024, (before, after)


# -- B9: overload -----------------------------------------------------------------------------

class OverloadTests:
    """B9: over maxConcurrentRequests the answer is a fast 503, and service resumes after."""

    def test_request_over_max_concurrent_requests_is_a_fast_503(self) -> None:
        """B9: two requests held upstream; a third gets 503 with l5d-err, Retry-After and
        l5d-retryable and is never forwarded; once they finish, requests are served again."""
        release = threading.Event()
        seen: list[bytes] = []

        def held(conn: socket.socket, log: list) -> None:
            buf = b""
            while True:
                got, buf = read_head(conn, buf)
                if not got:
                    return
                seen.append(got.split(b" ")[1])
                if got.split(b" ")[1] == b"/hold":
                    release.wait(10)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        with ScriptedBackend(held) as backend, \
                l5d_with(inet(backend.port), server="maxConcurrentRequests: 2\n") as l5d:
            holders = [RawClient(l5d.port) for _ in range(2)]
            try:
                for c in holders:
                    c.send(request("GET", "/hold", [("Host", "svc")]))
                assert wait_for(lambda: len(seen) == 2)
                with RawClient(l5d.port) as c:
                    c.send(request("GET", "/third", [("Host", "svc")]))
                    rsp = c.read_response()
                    assert rsp.status == 503, rsp
                    assert rsp.header("retry-after") == "1"
                    assert rsp.header("l5d-retryable") == "true"
                    assert "maxConcurrentRequests" in rsp.header("l5d-err")
                    release.set()
                    for h in holders:
                        assert h.read_response().status == 200
                    c.send(request("GET", "/fourth", [("Host", "svc")]))
                    assert c.read_response().status == 200
            finally:
                release.set()
                for h in holders:
                    h.close()
        assert seen == [b"/hold", b"/hold", b"/fourth"]


# -- B10: half-close --------------------------------------------------------------------------

class HalfCloseTests:
    """B10: a client that half-closes after sending still gets every response."""

    @pytest.fixture(scope="class")
    def plain(self, echo):
        with l5d_with(inet(echo.port)) as l5d:
            yield l5d, echo

    def test_response_is_delivered_after_a_half_close(self, plain) -> None:
        """B10: GET then shutdown(SHUT_WR): the 200 arrives, then the connection closes."""
        l5d, _ = plain
        out = raw_request(l5d.port, GET, half_close=True)
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b'"target": "/"' in out

    def test_pipelined_requests_and_a_body_are_all_answered_after_a_half_close(self, plain) -> None:
        """B10: a POST with a body and a GET pipelined, then half-close: both answered in order."""
        l5d, _ = plain
        data = (request("POST", "/p", [("Host", "svc"), ("Content-Length", "5")], b"hello")
                + request("GET", "/g", [("Host", "svc")]))
        with RawClient(l5d.port) as c:
            c.send(data)
            c.sock.shutdown(socket.SHUT_WR)
            first, second = c.read_response(), c.read_response()
            assert c.closed_by_peer(5)
        assert json.loads(first.body)["body_length"] == 5
        assert json.loads(second.body)["target"] == "/g"
