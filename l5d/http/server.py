"""The router's HTTP/1.1 server protocol (Twisted shell over ``httptools``).

One :class:`HttpServerConnection` per accepted connection. It parses requests
strictly (llhttp plus :mod:`l5d.http.framing`), enforces the request-line and
header limits and a header-completion deadline (slowloris), and hands each
request to an *exchange* built by the router::

    exchange = new_exchange(connection, head)   # not started yet
    exchange.start()                            # when it is first in line
    exchange.request_body(data) / exchange.request_complete()
    exchange.connection_lost()

Pipelined requests queue behind the one in flight and responses leave strictly
in request order; while a response is outstanding the connection stops reading.
A rejected request gets its status (400, 408, 414, 431, 501, 505) once every
earlier response is out, then the connection is half-closed and drained for a
moment so the client reads the status (lingering close). Reactor-thread only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import httptools
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from l5d.http.errors import error_response
from l5d.http.framing import AbsoluteForm, check_request, parser_error_status, split_absolute

log = Logger()

@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-server limits (Linkerd keys in brackets).

    :param max_initial_line: request-line bytes [maxInitialLineKB, 4 KiB] -> 414.
    :param max_headers: header-block bytes [maxHeadersKB, 8 KiB] -> 431.
    :param max_header_count: number of header fields -> 431.
    :param header_timeout_s: from the first byte of a request (or the accept) to the
        end of its headers -> 408 (an l5d addition: ``headerTimeoutMs``).
    :param lingering_s: how long to drain input after an error response.
    """

    max_initial_line: int = 4096
    max_headers: int = 8192
    max_header_count: int = 100
    header_timeout_s: float = 10.0
    lingering_s: float = 2.0


class RequestHead:
    """A parsed request head. ``target`` is origin-form after the absolute-form rewrite."""

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "chunked",
                 "content_length", "absolute", "peer", "expect_continue")

    def __init__(self, method: str, target: bytes, version: str, headers: list,
                 keep_alive: bool, chunked: bool, content_length: int | None,
                 absolute: AbsoluteForm | None, peer: str, expect_continue: bool) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunked = chunked
        self.content_length = content_length
        self.absolute = absolute
        self.peer = peer
        self.expect_continue = expect_continue

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Rejection:
    """A queued error answer: sent when it reaches the head of the line."""

    def __init__(self, conn: "HttpServerConnection", status: int, reason: str) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason

    def start(self) -> None:
        self.conn.send_rejection(self.status, self.reason)

    def request_body(self, data: bytes) -> None:
        pass

    def request_complete(self) -> None:
        pass

    def connection_lost(self) -> None:
        pass


class HttpServerConnection(Protocol):
    """Server side of one client connection."""

    def __init__(self, new_exchange: Callable[["HttpServerConnection", RequestHead], Any],
                 reactor: Any, limits: ServerLimits, on_close: Callable[["HttpServerConnection"], None]) -> None:
        self._new_exchange = new_exchange
        self._reactor = reactor
        self.limits = limits
        self._on_close = on_close
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque = deque()
        self._parsing: Any = None  # exchange receiving body events
        self._pause_reasons: set[str] = set()
        self._header_timer: Any = None
        self._linger_timer: Any = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._header_bytes = 0
        self._in_head = False
        self._head_bytes_seen = 0
        self.closing = False
        self.lost = False
        self.peer = "?"
        self.requests = 0
        self._cork: list[bytes] | None = None
        self.draining = False

    # -- connection lifecycle ------------------------------------------------
    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        peer = self.transport.getPeer()
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self._arm_header_timer()

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True
        self._cancel_header_timer()
        if self._linger_timer is not None and self._linger_timer.active():
            self._linger_timer.cancel()
        queue, self._queue = self._queue, deque()
        for exchange in queue:
            exchange.connection_lost()
        self._on_close(self)

    # -- reading control -----------------------------------------------------
    def pause_reading(self, reason: str) -> None:
        if not self._pause_reasons and not self.lost:
            self.transport.pauseProducing()
        self._pause_reasons.add(reason)

    def resume_reading(self, reason: str) -> None:
        self._pause_reasons.discard(reason)
        if not self._pause_reasons and not self.lost and not self.closing:
            self.transport.resumeProducing()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None or not self._header_timer.active():
            self._header_timer = self._reactor.callLater(self.limits.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None and self._header_timer.active():
            self._header_timer.cancel()
        self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.closing:
            self._enqueue_rejection(408, "request headers not received in time")

    # -- input ---------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return  # draining after an error answer
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade/CONNECT: the request itself was handled; nothing after it is HTTP
            self.closing_after_current()
            return
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if isinstance(cause, _Reject):
                self._enqueue_rejection(cause.status, cause.reason)
            else:
                log.failure("bug in request handling", failure=None)
                self._enqueue_rejection(400, "bad request")
            return
        except httptools.HttpParserError as e:
            self._enqueue_rejection(parser_error_status(str(e)), str(e))
            return
        if self._in_head:
            self._head_bytes_seen += len(data)
            limit = self.limits.max_initial_line + self.limits.max_headers + 4
            if self._head_bytes_seen > limit:
                if not self._headers and len(self._url) > 0 and self._header_bytes == 0:
                    self._enqueue_rejection(414, "request line too long")
                else:
                    self._enqueue_rejection(431, "request headers too large")

    def on_message_begin(self) -> None:
        self._headers = []
        self._url = b""
        self._header_bytes = 0
        self._in_head = True
        self._head_bytes_seen = 0
        self._arm_header_timer()

    def on_url(self, part: bytes) -> None:
        self._url += part
        if len(self._url) > self.limits.max_initial_line:
            raise _Reject(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.limits.max_headers:
            raise _Reject(431, "request headers too large")
        if len(self._headers) > self.limits.max_header_count:
            raise _Reject(431, "too many request headers")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_header_timer()
        parser = self._parser
        version = parser.get_http_version()
        headers = self._headers
        target = self._url
        reject = check_request(version, target, headers)
        if reject is not None:
            raise _Reject(reject.status, reject.reason)
        method = parser.get_method().decode("latin-1")
        if method == "CONNECT":
            raise _Reject(405, "CONNECT is not supported")
        chunked = False
        length: int | None = None
        expect = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"transfer-encoding":
                chunked = True  # llhttp accepted it, so it is exactly "chunked"
            elif lower == b"content-length":
                length = int(value)
            elif lower == b"expect" and value.lower() == b"100-continue":
                expect = True
        absolute = None
        if target[:1] != b"/":
            if target == b"*":
                if method != "OPTIONS":
                    raise _Reject(400, "malformed request-target")
            else:
                absolute = split_absolute(target)
                if absolute is None:
                    raise _Reject(400, "malformed request-target")
                target = absolute.origin
        head = RequestHead(method, target, version, headers, parser.should_keep_alive(),
                           chunked, length, absolute, self.peer, expect)
        self.requests += 1
        exchange = self._new_exchange(self, head)
        self._parsing = exchange
        self._queue.append(exchange)
        if len(self._queue) == 1:
            exchange.start()
        else:
            # pipelined behind a response in flight: read no further until it is out
            self.pause_reading("pipeline")

    def on_body(self, data: bytes) -> None:
        exchange = self._parsing
        if exchange is not None:
            exchange.request_body(data)

    def on_message_complete(self) -> None:
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            exchange.request_complete()

    # -- output --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._cork is not None:
            self._cork.append(data)
        elif not self.lost:
            self.transport.write(data)

    def cork(self) -> bool:
        """Collect writes until :meth:`uncork` (one send per upstream read). False if already corked."""
        if self._cork is not None:
            return False
        self._cork = []
        return True

    def uncork(self) -> None:
        pending, self._cork = self._cork, None
        if pending and not self.lost:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def exchange_finished(self, exchange: Any, keep_alive: bool) -> None:
        """The response of the head exchange is fully written."""
        if self._queue and self._queue[0] is exchange:
            self._queue.popleft()
        if self.lost:
            return
        if self.draining and not self._queue:
            keep_alive = False
        if not keep_alive:
            self.uncork()
            self.closing = True
            self._cancel_header_timer()
            self.transport.loseConnection()
            return
        if self._queue:
            self._queue[0].start()
        if len(self._queue) <= 1:
            self.resume_reading("pipeline")

    def drain(self) -> None:
        """Shutting down: close now if idle, else after the response in flight."""
        if self.lost:
            return
        if not self._queue:
            self.closing = True
            self._cancel_header_timer()
            self.transport.loseConnection()
        else:
            self.draining = True
            self.pause_reading("draining")

    def closing_after_current(self) -> None:
        """Stop reading: the current request is the last on this connection."""
        self.pause_reading("upgrade")

    def abort(self) -> None:
        """Cut the connection (a response cannot be completed)."""
        self.uncork()
        self.closing = True
        if not self.lost:
            self.transport.abortConnection()

    # -- rejections ----------------------------------------------------------
    def _enqueue_rejection(self, status: int, reason: str) -> None:
        self._in_head = False
        self._cancel_header_timer()
        self.pause_reading("rejected")
        rejection = _Rejection(self, status, reason)
        self._parsing = None
        self._queue.append(rejection)
        if len(self._queue) == 1:
            rejection.start()

    def send_rejection(self, status: int, reason: str) -> None:
        """Answer an unparsable request and close with a lingering drain."""
        if self.lost:
            return
        self.closing = True
        self.transport.write(error_response(status, reason, close=True))
        self._linger()

    def _linger(self) -> None:
        self._pause_reasons.clear()
        self.transport.resumeProducing()  # read and discard what the client still sends
        try:
            self.transport.loseWriteConnection()
        except Exception:  # pragma: no cover - transports without half-close
            self.transport.loseConnection()
            return
        self._linger_timer = self._reactor.callLater(self.limits.lingering_s, self._linger_done)

    def _linger_done(self) -> None:
        self._linger_timer = None
        if not self.lost:
            self.transport.abortConnection()


class HttpServerFactory(Factory):
    """Builds :class:`HttpServerConnection` and tracks them for draining."""

    def __init__(self, new_exchange: Callable, reactor: Any, limits: ServerLimits) -> None:
        self._new_exchange = new_exchange
        self._reactor = reactor
        self.limits = limits
        self.connections: set[HttpServerConnection] = set()

    def buildProtocol(self, addr: Any) -> HttpServerConnection:
        conn = HttpServerConnection(self._new_exchange, self._reactor, self.limits, self.connections.discard)
        conn.factory = self
        self.connections.add(conn)
        return conn
