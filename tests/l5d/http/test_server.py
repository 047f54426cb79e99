"""HttpServerConnection deadlines, limits and half-close, in memory on a task.Clock.

Each deadline is checked just before and just after its boundary (reliability
group B; the real-socket versions are in tests/integration/test_limits.py).
"""

from __future__ import annotations

from twisted.internet.task import Clock

from l5d.http.server_output import DRAIN_IDLE_S
from l5d.http.server import HttpServerFactory, ServerLimits, ServerLoad
from tests.helpers.server_harness import MemoryTransport, ServerPump

GET = b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n"
EPS = 0.001


def post_head(length: int) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: %d\r\n\r\n" % length


class HeaderDeadlineTests:
    """headerTimeoutMs: from the accept or a request's first byte to the end of its head (B4)."""

    def test_silent_connection_is_closed_quietly_at_the_deadline(self) -> None:
        """Nothing sent: open just before the header timeout, closed without a status just after."""
        pump = ServerPump(ServerLimits(header_timeout_s=10))
        pump.clock.advance(10 - EPS)
        assert not pump.closing
        pump.clock.advance(2 * EPS)
        assert pump.closing and pump.output() == b""

    def test_trickled_head_gets_a_408_at_the_deadline_whatever_the_trickle(self) -> None:
        """A byte every second does not extend the deadline: 408 + close at 10 s, not before."""
        pump = ServerPump(ServerLimits(header_timeout_s=10))
        for byte in GET[:9]:
            pump.feed(bytes([byte]))
            pump.clock.advance(1)
        pump.clock.advance(1 - EPS)
        assert pump.output() == b""
        pump.clock.advance(2 * EPS)
        assert pump.statuses() == [408] and pump.transport.write_closed

    def test_deadline_of_a_later_request_starts_at_its_first_byte(self) -> None:
        """On a keep-alive connection the next head gets its own full header timeout."""
        pump = ServerPump(ServerLimits(header_timeout_s=10, idle_s=120))
        pump.feed(GET)
        pump.clock.advance(100)
        pump.feed(b"GET / HTTP/1.1\r\n")
        pump.clock.advance(10 - EPS)
        assert pump.statuses() == [200]
        pump.clock.advance(2 * EPS)
        assert pump.statuses() == [200, 408]


class IdleTests:
    """serverSession.idleTimeMs: keep-alive connections with nothing in flight (B7)."""

    def test_idle_keep_alive_connection_closes_quietly_after_idle_time(self) -> None:
        """Open just before idleTimeMs after the last response, closed just after, silently."""
        pump = ServerPump(ServerLimits(header_timeout_s=10, idle_s=30))
        pump.feed(GET)
        sent = pump.output()
        pump.clock.advance(30 - EPS)
        assert not pump.closing
        pump.clock.advance(2 * EPS)
        assert pump.closing and pump.output() == sent

    def test_request_in_flight_is_never_idle(self) -> None:
        """A slow response (long poll) keeps the connection however long it takes."""
        pump = ServerPump(ServerLimits(idle_s=1), hold=True)
        pump.feed(GET)
        pump.clock.advance(3600)
        assert not pump.closing
        pump.exchanges[0].release()
        assert pump.statuses() == [200] and not pump.closing

    def test_life_time_closes_an_idle_connection_and_a_busy_one_after_its_response(self) -> None:
        """serverSession.lifeTimeMs: a busy connection finishes its response, then closes."""
        pump = ServerPump(ServerLimits(life_s=5), hold=True)
        pump.feed(GET)
        pump.clock.advance(5)
        assert not pump.closing
        pump.exchanges[0].release()
        # this (fake) response promised keep-alive: a next request may be on its way, and
        # is taken for a moment (its answer would say Connection: close); then it closes
        assert pump.statuses() == [200] and not pump.closing
        pump.clock.advance(DRAIN_IDLE_S)
        assert pump.closing

    def test_a_draining_connection_takes_the_request_a_keep_alive_response_invited(
            self) -> None:
        """Shutting down while a keep-alive response is being written: the client's next
        request, sent before it could know, is answered (not cut); then the connection
        closes after it."""
        pump = ServerPump(ServerLimits(), hold=True)
        pump.feed(GET)
        pump.conn.drain(DRAIN_IDLE_S)
        pump.exchanges[0].release()
        assert not pump.closing
        pump.feed(GET)
        assert len(pump.exchanges) == 2
        pump.exchanges[1].release()
        assert pump.statuses() == [200, 200]
        pump.clock.advance(DRAIN_IDLE_S)
        assert pump.closing


class BodyDeadlineTests:
    """bodyIdleTimeMs: a request body that stalls (B5)."""

    def test_stalled_body_fails_the_exchange_with_408(self) -> None:
        """Each body read restarts the deadline; silence past it is a 408 via the exchange."""
        pump = ServerPump(ServerLimits(body_idle_s=3))
        pump.feed(post_head(10) + b"abc")
        pump.clock.advance(3 - EPS)
        pump.feed(b"d")
        pump.clock.advance(3 - EPS)
        assert pump.exchanges[0].failed is None
        pump.clock.advance(2 * EPS)
        assert pump.exchanges[0].failed == (408, "request body not received in time")
        assert pump.closing

    def test_time_while_we_pause_reading_does_not_count(self) -> None:
        """While the server itself pauses reading (upstream full) the body deadline is suspended."""
        pump = ServerPump(ServerLimits(body_idle_s=3))
        pump.feed(post_head(10) + b"abc")
        pump.conn.pause_reading("upstream-full")
        pump.clock.advance(300)
        assert pump.exchanges[0].failed is None
        pump.conn.resume_reading("upstream-full")
        pump.clock.advance(3 - EPS)
        assert pump.exchanges[0].failed is None
        pump.clock.advance(2 * EPS)
        assert pump.exchanges[0].failed is not None

    def test_chunked_body_over_the_limit_fails_with_413(self) -> None:
        """maxRequestKB applies to chunked bodies as they arrive."""
        pump = ServerPump(ServerLimits(max_body=8))
        pump.feed(b"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n")
        assert pump.exchanges[0].failed is None
        pump.feed(b"5\r\nworld\r\n")
        assert pump.exchanges[0].failed[0] == 413


class SendDeadlineTests:
    """sendTimeoutMs: a client that stops reading (B6)."""

    def make(self) -> tuple[ServerPump, "StallTransport"]:
        pump = ServerPump.__new__(ServerPump)
        transport = StallTransport()
        ServerPump.__init__(pump, ServerLimits(send_timeout_s=5, idle_s=1000))
        pump.transport = transport
        pump.conn.makeConnection(transport)
        return pump, transport

    def test_no_progress_for_send_timeout_aborts(self) -> None:
        """Bytes that wait unread for sendTimeoutMs: the connection is cut."""
        pump, transport = self.make()
        transport.blocked = True
        pump.feed(GET)
        pump.clock.advance(5 - EPS)
        assert not transport.aborted
        pump.clock.advance(2 * EPS)
        assert transport.aborted

    def test_slow_but_steady_reader_is_kept(self) -> None:
        """A client that takes a little in each period is not cut."""
        pump, transport = self.make()
        transport.blocked = True
        pump.feed(GET)
        for _ in range(5):
            pump.clock.advance(4)
            transport._tempDataLen -= 1  # the kernel took one byte
        assert not transport.aborted


class ConcurrencyTests:
    """maxConcurrentRequests and maxConnections (B7, B9)."""

    def test_request_over_max_concurrent_requests_gets_a_fast_retryable_503(self) -> None:
        """Over the limit: 503 with l5d-err, Retry-After and l5d-retryable; the connection stays."""
        load = ServerLoad()
        limits = ServerLimits(max_concurrent_requests=1)
        busy = ServerPump(limits, hold=True, load=load)
        busy.feed(GET)
        other = ServerPump(limits, load=load)
        other.feed(GET)
        out = other.output()
        assert other.statuses() == [503] and other.exchanges == []
        for header in (b"l5d-err: ", b"Retry-After: 1", b"l5d-retryable: true"):
            assert header in out
        assert not other.closing
        busy.exchanges[0].release()
        other.feed(GET)
        assert other.statuses() == [503, 200]

    def test_503_with_an_unread_body_closes(self) -> None:
        """A refused request whose body is still coming is answered, then the connection closes."""
        load = ServerLoad()
        limits = ServerLimits(max_concurrent_requests=1)
        ServerPump(limits, hold=True, load=load).feed(GET)
        other = ServerPump(limits, load=load)
        other.feed(post_head(100) + b"partial")
        assert other.statuses() == [503] and other.closing

    def test_connections_over_the_cap_are_refused(self) -> None:
        """maxConnections: buildProtocol returns None (the port closes the socket) till one goes."""
        factory = HttpServerFactory(lambda conn, head: None, Clock(),
                                    ServerLimits(max_connections=2))
        a, b = factory.buildProtocol(None), factory.buildProtocol(None)
        assert a is not None and b is not None and factory.buildProtocol(None) is None
        a.makeConnection(MemoryTransport())
        a.connectionLost(None)
        assert factory.buildProtocol(None) is not None
        assert factory.load.refused_connections == 1

    def test_near_the_connection_cap_responses_close_the_connection(self) -> None:
        """From 90 % of maxConnections on, requests are answered with Connection: close."""
        load = ServerLoad()
        load.connections = 9
        pump = ServerPump(ServerLimits(max_connections=10), load=load)
        pump.feed(GET)
        assert b"Connection: close" in pump.output() and pump.closing


class HalfCloseTests:
    """A client that half-closes after sending still gets its answers (B10)."""

    def test_responses_are_written_after_the_client_half_closes(self) -> None:
        """EOF with a request in flight: the response goes out, then the connection closes."""
        pump = ServerPump(hold=True)
        pump.feed(GET + GET)
        pump.conn.readConnectionLost()
        assert not pump.closing
        pump.exchanges[0].release()
        pump.exchanges[1].release()
        assert pump.statuses() == [200, 200] and pump.closing

    def test_eof_inside_a_body_aborts(self) -> None:
        """EOF in the middle of a request body: the exchange is dropped, never completed."""
        pump = ServerPump()
        pump.feed(post_head(10) + b"abc")
        pump.conn.readConnectionLost()
        assert pump.transport.aborted and not pump.exchanges[0].complete

    def test_eof_after_the_last_response_closes(self) -> None:
        """Nothing in flight at EOF: close at once."""
        pump = ServerPump()
        pump.feed(GET)
        pump.conn.readConnectionLost()
        assert pump.closing


class RawBytesTests:
    """The raw-byte checks see only the bytes of the request they judge."""

    def test_large_body_before_a_pipelined_head_is_not_counted_as_head(self) -> None:
        """A 20 KB body and the start of the next head in one read: no 431, both answered."""
        pump = ServerPump()
        pump.feed(post_head(20000) + b"x" * 20000 + b"GET / HTTP/1.1\r\nHo")
        pump.feed(b"st: svc\r\n\r\n")
        assert pump.statuses() == [200, 200]

    def test_request_line_in_an_earlier_body_does_not_vouch_for_the_next_one(self) -> None:
        """A body holding the canonical line cannot hide a double space in the next request line."""
        body = b"GET /two HTTP/1.1\r\n"
        pump = ServerPump()
        pump.feed(post_head(len(body)) + body + b"GET  /two HTTP/1.1\r\nHost: svc\r\n\r\n")
        assert pump.statuses() == [200, 400]


class TrailerTests:
    """A9: trailer fields are dropped."""

    def test_trailers_do_not_reach_the_request_headers(self) -> None:
        """The head the exchange sees keeps its own fields only, even after trailers are parsed."""
        pump = ServerPump(hold=True)
        pump.feed(b"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"1\r\nx\r\n0\r\nHost: evil\r\nX-T: 1\r\n\r\n")
        assert pump.exchanges[0].head.headers == [(b"Host", b"svc"),
                                                  (b"Transfer-Encoding", b"chunked")]
        assert pump.exchanges[0].complete


class StallTransport(MemoryTransport):
    """Looks like a TCP transport's buffer: while ``blocked`` nothing written leaves it."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked = False
        self._tempDataLen = 0
        self.dataBuffer = b""
        self.offset = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.blocked:
            self._tempDataLen += len(data)
