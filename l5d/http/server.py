"""The router's HTTP/1.1 server protocol (Twisted shell over ``httptools``).

One :class:`HttpServerConnection` per accepted connection. It parses requests
strictly (llhttp plus :mod:`l5d.http.framing`), enforces the size limits and
deadlines of :class:`ServerLimits`, and hands each request to an *exchange*
built by the router::

    exchange = new_exchange(connection, head)   # not started yet
    exchange.start()                            # when it is first in line
    exchange.request_body(data) / exchange.request_complete()
    exchange.fail(status, reason)               # the request body cannot be completed
    exchange.connection_lost()

and the exchange reports back with :meth:`HttpServerConnection.write` and
:meth:`~HttpServerConnection.exchange_finished`.

Pipelined requests queue behind the one in flight and responses leave strictly
in request order; while a response is outstanding the connection stops reading.
A rejected request gets its status (400, 408, 413, 414, 431, 501, 505) once
every earlier response is out; then the connection is half-closed and drained
for a moment so the client reads the status (lingering close). A client that
half-closes after sending still gets its responses (reliability B10).

Deadlines (reliability group B). Reading is always in one of four waits, each
with its own deadline: the head of a request (``header_timeout_s`` from its
first byte, or from the accept, whatever is trickled: 408), its body
(``body_idle_s`` between two reads, suspended while *we* pause reading: 408 or
abort), keep-alive idleness (``idle_s``: quiet close) or nothing (a response is
outstanding). One lazily re-armed timer per connection serves all four, so a
request costs no timer operations in the common case. Writing has its own
deadline (``send_timeout_s`` without the client taking a byte: abort).
Reactor-thread only.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import httptools
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from l5d.http.chunked import ChunkedEnd
from l5d.http.errors import error_response
from l5d.http.limits import ServerLimits, ServerLoad
from l5d.http.local_answer import ALLOW, LocalAnswer
from l5d.http.memo import HeadMemo
from l5d.http.request import KnownHead, RequestHead
from l5d.http.server_input import (
    WAIT_BODY, WAIT_BODY_PAUSED, WAIT_HEAD, WAIT_IDLE, WAIT_NONE, RequestInput,
)
from l5d.http.server_output import ResponseOutput
from l5d.http.upgrade import UpgradeBody

__all__ = ["HttpServerConnection", "HttpServerFactory", "KnownHead", "RequestHead", "ServerLimits",
           "ServerLoad"]



@implementer(IHalfCloseableProtocol)
class HttpServerConnection(RequestInput, ResponseOutput, Protocol):
    """Server side of one client connection: its state, lifecycle, read deadlines and
    request queue; reading is :class:`~l5d.http.server_input.RequestInput`, writing and
    closing :class:`~l5d.http.server_output.ResponseOutput`."""

    def __init__(self, new_exchange: Callable[["HttpServerConnection", RequestHead], Any],
                 reactor: Any, limits: ServerLimits,
                 on_close: Callable[["HttpServerConnection"], None],
                 load: ServerLoad | None = None, heads: HeadMemo | None = None) -> None:
        self._new_exchange = new_exchange
        self._reactor = reactor
        self.limits = limits
        self._on_close = on_close
        self._load = load if load is not None else ServerLoad()
        #: request heads read before (shared by the server's connections, same limits)
        self._heads = heads if heads is not None else HeadMemo()
        self._known: KnownHead | None = None  # what the last head read found
        self._begun = 0  # messages begun in the current feed
        self._parser = httptools.HttpRequestParser(self)
        # HTTP/1.2 and later minor versions are HTTP/1.1 (scan_request refuses 0.9 and 2+)
        self._parser.set_dangerous_leniencies(lenient_version=True)
        self._queue: deque = deque()
        self._parsing: Any = None  # exchange receiving body events
        self._counted = 0  # exchanges of ours counted in load.requests
        self._pause_reasons: set[str] = set()
        self._paused = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._header_bytes = 0
        self._trailer_bytes = 0
        self._body_bytes = 0
        self._in_head = False
        # raw bytes, for the checks llhttp does not make on the request line: the
        # current feed, the head so far (from its first byte) when it spans feeds, and
        # the exact offset in the feed where the current message began or its body did
        self._feed = b""
        self._head_raw = b""
        self._pos = 0
        self._chunks: ChunkedEnd | None = None  # where a chunked request body ends
        self._bad_line: bytes | None = None  # a line with an unknown method, until it ends
        # an upgrade request with a body: its exchange while llhttp skips the body, then
        # the second parser that reads it
        self._upgrade_exchange: Any = None
        self._upgrade_body: UpgradeBody | None = None
        # read-side deadline
        self._wait = WAIT_NONE
        self._wait_until = 0.0
        self._timer: Any = None
        self._tick = limits.header_timeout_s
        self._seconds = reactor.seconds
        # write-side deadline: bytes pending when armed, bytes written since
        self._send_watch = False
        self._send_mark = 0
        self._sent = 0
        self._send_timer: Any = None
        self._life_timer: Any = None
        self._linger_timer: Any = None
        self._drain_timer: Any = None
        self._drain_idle_s = 0.0
        self._broken = False  # the parser is done with this connection
        self._last = False  # no request after the ones queued (upgrade)
        self._read_eof = False
        self.closing = False
        self.lost = False
        self.peer = "?"
        self.requests = 0
        self._cork: list[bytes] | None = None
        self.draining = False

    # -- connection lifecycle ------------------------------------------------
    def connectionMade(self) -> None:
        transport = self.transport
        transport.setTcpNoDelay(True)
        peer = transport.getPeer()
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self._send_watch = hasattr(transport, "_tempDataLen") and hasattr(transport, "dataBuffer")
        self._watch(WAIT_HEAD, self.limits.header_timeout_s)
        if self.limits.life_s is not None:
            self._life_timer = self._reactor.callLater(self.limits.life_s, self._life_expired)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True
        self._wait = WAIT_NONE
        for name in ("_timer", "_send_timer", "_life_timer", "_linger_timer", "_drain_timer"):
            timer = getattr(self, name)
            if timer is not None and timer.active():
                timer.cancel()
            setattr(self, name, None)
        queue, self._queue = self._queue, deque()
        self._release(self._counted)
        for exchange in queue:
            exchange.connection_lost()
        self._on_close(self)

    def readConnectionLost(self) -> None:
        """The client half-closed: answer what was asked, then close (B10)."""
        if self._read_eof:
            return
        self._read_eof = True
        if self.closing:
            self.transport.loseConnection()
            return
        if self._bad_line is not None:  # a line with an unknown method that never ended
            self._bad_line_ended()
            return
        if self._parsing is not None and not isinstance(self._parsing, LocalAnswer):
            # a request body cut short: never let the upstream see it as complete
            self.abort()
            return
        self._in_head = False
        self._broken = True
        if self._wait != WAIT_NONE:
            self._wait = WAIT_NONE
        if not self._queue:
            self._close_quietly()

    def writeConnectionLost(self) -> None:
        """Our half-close went out: drain for a moment, then close (lingering close)."""
        if self.lost:
            return
        if self._read_eof:
            self.transport.loseConnection()
        elif self._linger_timer is None:
            self._linger_timer = self._reactor.callLater(self.limits.lingering_s, self._linger_done)

    # -- reading control -----------------------------------------------------
    def pause_reading(self, reason: str) -> None:
        if not self._pause_reasons and not self.lost:
            self._paused = True
            self.transport.pauseProducing()
            if self._wait == WAIT_BODY:
                self._wait = WAIT_BODY_PAUSED  # our pause is not the client's stall
        self._pause_reasons.add(reason)

    def resume_reading(self, reason: str) -> None:
        reasons = self._pause_reasons
        reasons.discard(reason)
        if not reasons and self._paused and not self.lost and not self.closing:
            self._paused = False
            if not self._read_eof:
                self.transport.resumeProducing()
            if self._wait == WAIT_BODY_PAUSED:
                self._watch(WAIT_BODY, self.limits.body_idle_s)

    # -- input ---------------------------------------------------------------
    def _accept(self, known: KnownHead, last: bool = False) -> None:
        """Queue the request (or answer it 503): the per-connection half of a head.

        :param last: no request is read after this one (the response says so).
        """
        keep_alive = known.keep_alive and not last
        limits = self.limits
        load = self._load
        max_conns = limits.max_connections
        if max_conns is not None and load.connections * 10 >= max_conns * 9:
            keep_alive = False  # near the connection cap: let this connection go (B9)
        self.requests += 1
        length = known.length
        has_body = known.chunked or bool(length)
        max_requests = limits.max_concurrent_requests
        if max_requests is not None and load.requests >= max_requests:
            load.refused_requests += 1
            answer = LocalAnswer(
                self, 503, f"too many concurrent requests (maxConcurrentRequests {max_requests})",
                final=False, keep_alive=keep_alive, request_done=not has_body, retryable=True,
                retry_after_s=1, head_only=known.method == "HEAD")
            self._enqueue(answer, has_body)
            return
        head = RequestHead(known.method, known.target, known.version, known.headers, keep_alive,
                           known.chunked, length, known.absolute, self.peer, known.expect,
                           known.info, known)
        exchange = self._new_exchange(self, head)
        load.requests += 1
        self._counted += 1
        self._enqueue(exchange, has_body)

    def _enqueue(self, exchange: Any, has_body: bool) -> None:
        self._parsing = exchange
        queue = self._queue
        queue.append(exchange)
        if has_body:
            self._watch(WAIT_BODY, self.limits.body_idle_s)
        else:
            self._wait = WAIT_NONE
        if len(queue) == 1:
            exchange.start()
        else:
            # pipelined behind a response in flight: read no further until it is out
            self.pause_reading("pipeline")

    def _fail_request(self, status: int, reason: str) -> None:
        """The request whose body is being read cannot complete (bad framing, too big, stalled)."""
        exchange, self._parsing = self._parsing, None
        self._broken = True
        self._in_head = False
        self._wait = WAIT_NONE
        if exchange is None:
            self._enqueue_rejection(status, reason)
            return
        queue = self._queue
        if queue and queue[0] is exchange:
            # answers with the error if no response byte went out yet, else cuts the connection
            exchange.fail(status, reason)
            return
        if exchange in queue:  # not started yet: answer in its place
            queue[queue.index(exchange)] = LocalAnswer(self, status, reason)
            if not isinstance(exchange, LocalAnswer):
                self._counted -= 1
                self._release(1)
                exchange.connection_lost()

    def _release(self, n: int) -> None:
        if n:
            self._load.requests -= n

    # -- output --------------------------------------------------------------
    def exchange_finished(self, exchange: Any, keep_alive: bool) -> None:
        """The response of the head exchange is fully written."""
        queue = self._queue
        if queue and queue[0] is exchange:
            queue.popleft()
            if not isinstance(exchange, LocalAnswer):
                self._counted -= 1
                self._load.requests -= 1
        if self.lost or self.closing:
            return
        if not queue and (self._last or self._broken or self._read_eof):
            keep_alive = False
        if not queue and self.draining and keep_alive:
            if self._drain_idle_s > 0:
                # this response promised keep-alive before the drain began: the client may
                # send another request at once; take it (its answer says Connection: close)
                self.uncork()
                self.resume_reading("draining")
                if self._drain_timer is None:
                    self._drain_timer = self._reactor.callLater(self._drain_idle_s,
                                                                self._drain_idle)
                return
            keep_alive = False
        if not keep_alive:
            self.uncork()
            self._close()
            return
        if queue:
            queue[0].start()
            if self.lost or self.closing:
                return
        if len(queue) <= 1 and self._pause_reasons:
            self.resume_reading("pipeline")
        if not queue and not self._in_head and self._wait == WAIT_NONE:
            idle_s = self.limits.idle_s
            if idle_s >= self._tick and self._timer is not None:
                # _watch's common case: the armed timer fires early enough
                self._wait = WAIT_IDLE
                self._wait_until = self._seconds() + idle_s
            else:
                self._watch(WAIT_IDLE, idle_s)

    def _life_expired(self) -> None:
        self._life_timer = None
        self.drain()

    # -- local answers -------------------------------------------------------
    def _enqueue_rejection(self, status: int, reason: str) -> None:
        self._in_head = False
        self._broken = True
        self._wait = WAIT_NONE
        self.pause_reading("rejected")
        self._parsing = None
        rejection = LocalAnswer(self, status, reason)
        self._queue.append(rejection)
        if len(self._queue) == 1:
            rejection.start()

    def _answer(self, answer: LocalAnswer) -> None:
        if self.lost or self.closing:
            return
        limits = self.limits
        if answer.final:
            self.closing = True
            self.uncork()
            self._send(error_response(answer.status, answer.reason, close=True,
                                      clear_context=limits.clear_context,
                                      allow=ALLOW if answer.status == 405 else None))
            self._close()
            return
        keep_alive = answer.keep_alive and answer.request_done
        self.write(error_response(answer.status, answer.reason, close=not keep_alive,
                                  clear_context=limits.clear_context, retryable=answer.retryable,
                                  retry_after_s=answer.retry_after_s, head_only=answer.head_only))
        self.exchange_finished(answer, keep_alive)

    def send_rejection(self, status: int, reason: str) -> None:
        """Answer an unparsable request and close with a lingering drain."""
        self._answer(LocalAnswer(self, status, reason))


class HttpServerFactory(Factory):
    """Builds :class:`HttpServerConnection`, tracks them for draining, and caps their number."""

    def __init__(self, new_exchange: Callable, reactor: Any, limits: ServerLimits) -> None:
        self._new_exchange = new_exchange
        self._reactor = reactor
        self.limits = limits
        self.load = ServerLoad()
        #: request heads this server has read (its connections share its limits)
        self.heads = HeadMemo()
        self.connections: set[HttpServerConnection] = set()

    def buildProtocol(self, addr: Any) -> HttpServerConnection | None:
        load = self.load
        cap = self.limits.max_connections
        if cap is not None and load.connections >= cap:
            load.refused_connections += 1
            return None  # the port closes the socket at once
        conn = HttpServerConnection(self._new_exchange, self._reactor, self.limits, self._closed,
                                    load, self.heads)
        conn.factory = self
        self.connections.add(conn)
        load.connections += 1
        load.connects += 1
        return conn

    def retarget(self, new_exchange: Callable, limits: ServerLimits) -> None:
        """A reload: the next requests of this server's connections, open ones included, go
        to ``new_exchange`` (exchanges in flight finish where they started); connections
        accepted from now on get ``limits`` (open ones keep theirs)."""
        self._new_exchange = new_exchange
        self.limits = limits
        self.heads = HeadMemo()  # heads read under the old router (and limits) are forgotten
        for conn in self.connections:
            conn._new_exchange = new_exchange

    def _closed(self, conn: HttpServerConnection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.load.connections -= 1
