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
from twisted.internet.interfaces import IHalfCloseableDescriptor, IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from zope.interface import implementer

from l5d.http.errors import error_response
from l5d.http.chunked import ChunkedEnd
from l5d.http.framing import (
    ABSOLUTE_FORMS, Reject, awaits_request_line, parser_error_status, request_line, scan_request,
    split_absolute,
)
from l5d.http.limits import ServerLimits, ServerLoad
from l5d.http.memo import HeadMemo
from l5d.http.request import KnownHead, RequestHead
from l5d.http.upgrade import UpgradeBody

__all__ = ["HttpServerConnection", "HttpServerFactory", "KnownHead", "RequestHead", "ServerLimits",
           "ServerLoad"]

log = Logger()

_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                     "TRACE")}
#: what a 405 (CONNECT) says l5d forwards
ALLOW = b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"
_NEWLINES = b"\r\n"
# what reading is waiting for (one deadline at a time)
_WAIT_NONE, _WAIT_HEAD, _WAIT_BODY, _WAIT_BODY_PAUSED, _WAIT_IDLE = range(5)


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _LocalAnswer:
    """A request answered by the server itself, in its turn in the queue.

    ``final`` answers (unparsable input) close the connection after a
    lingering drain; others (503 over ``maxConcurrentRequests``) keep it when
    the request was read completely and the client allows it.
    """

    __slots__ = ("conn", "status", "reason", "final", "keep_alive", "request_done",
                 "retryable", "retry_after_s", "head_only")

    def __init__(self, conn: "HttpServerConnection", status: int, reason: str, *,
                 final: bool = True, keep_alive: bool = False, request_done: bool = True,
                 retryable: bool = False, retry_after_s: int | None = None,
                 head_only: bool = False) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.final = final
        self.keep_alive = keep_alive
        self.request_done = request_done
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.head_only = head_only

    def start(self) -> None:
        self.conn._answer(self)

    def request_body(self, data: bytes) -> None:
        pass  # discarded

    def request_complete(self) -> None:
        self.request_done = True

    def fail(self, status: int, reason: str) -> None:
        self.request_done = False

    def connection_lost(self) -> None:
        pass


@implementer(IHalfCloseableProtocol)
class HttpServerConnection(Protocol):
    """Server side of one client connection."""

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
        self._wait = _WAIT_NONE
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
        self._watch(_WAIT_HEAD, self.limits.header_timeout_s)
        if self.limits.life_s is not None:
            self._life_timer = self._reactor.callLater(self.limits.life_s, self._life_expired)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = True
        self._wait = _WAIT_NONE
        for name in ("_timer", "_send_timer", "_life_timer", "_linger_timer"):
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
            raw, self._bad_line = self._bad_line, None
            self._parse_failed(parser_error_status("Invalid method encountered", raw),
                               "method not implemented")
            return
        if self._parsing is not None and not isinstance(self._parsing, _LocalAnswer):
            # a request body cut short: never let the upstream see it as complete
            self.abort()
            return
        self._in_head = False
        self._broken = True
        if self._wait != _WAIT_NONE:
            self._wait = _WAIT_NONE
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
            if self._wait == _WAIT_BODY:
                self._wait = _WAIT_BODY_PAUSED  # our pause is not the client's stall
        self._pause_reasons.add(reason)

    def resume_reading(self, reason: str) -> None:
        reasons = self._pause_reasons
        reasons.discard(reason)
        if not reasons and self._paused and not self.lost and not self.closing:
            self._paused = False
            if not self._read_eof:
                self.transport.resumeProducing()
            if self._wait == _WAIT_BODY_PAUSED:
                self._watch(_WAIT_BODY, self.limits.body_idle_s)

    # -- deadlines -----------------------------------------------------------
    def _watch(self, kind: int, delay_s: float) -> None:
        """Reading now waits for ``kind``, at most ``delay_s`` from now.

        The timer only ever fires early (then re-arms for what is left), and is
        never scheduled more than one header timeout ahead; so a wait at least
        that long keeps whatever timer there is, and in the usual configuration
        a request costs no timer operation at all.
        """
        until = self._seconds() + delay_s
        self._wait = kind
        self._wait_until = until
        timer = self._timer
        if timer is None:
            self._timer = self._reactor.callLater(min(delay_s, self._tick), self._on_timer)
        elif delay_s < self._tick and timer.getTime() > until:
            timer.cancel()
            self._timer = self._reactor.callLater(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        kind = self._wait
        if kind == _WAIT_NONE or kind == _WAIT_BODY_PAUSED or self.lost or self.closing:
            return
        left = self._wait_until - self._reactor.seconds()
        if left > 0:
            self._timer = self._reactor.callLater(min(left, self._tick), self._on_timer)
            return
        self._wait = _WAIT_NONE
        if kind == _WAIT_HEAD:
            if self._in_head:
                self._enqueue_rejection(408, "request headers not received in time")
            elif not self._queue:
                self._close_quietly()  # connected and said nothing
        elif kind == _WAIT_BODY:
            self._fail_request(408, "request body not received in time")
        elif kind == _WAIT_IDLE:
            if not self._queue and not self._in_head:
                self._close_quietly()

    def _on_send_timer(self) -> None:
        self._send_timer = None
        if self.lost:
            return
        pending = self._pending()
        if not pending:
            return
        if self._send_mark + self._sent > pending:  # the client took something: another period
            self._sent = 0
            self._send_mark = pending
            self._send_timer = self._reactor.callLater(self.limits.send_timeout_s,
                                                       self._on_send_timer)
            return
        log.info("l5d: {peer}: client took no response byte for {s} s; disconnecting",
                 peer=self.peer, s=self.limits.send_timeout_s)
        self.abort()

    def _pending(self) -> int:
        transport = self.transport
        return transport._tempDataLen + len(transport.dataBuffer) - transport.offset

    # -- input ---------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.closing or self._broken:
            # draining after an error answer, or after the last request; but the body of
            # an upgrade request, or the rest of a line with an unknown method, is read
            if not self.closing:
                if self._upgrade_body is not None:
                    self._feed_upgrade_body(data)
                elif self._bad_line is not None:
                    self._await_request_line(data)
            return
        # between two requests, a read that is exactly a head read before needs no parsing
        fresh = not self._in_head and self._parsing is None
        if fresh:
            known = self._heads.get(data)
            if known is not None:
                self._replay(known)
                return
        self._feed = data
        self._pos = 0
        self._begun = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            offset = e.args[0]
            # (outside the handler: errors of the body's parser keep their own cause)
        except httptools.HttpParserCallbackError as e:
            self._callback_failed(e)
            return
        except httptools.HttpParserError as e:
            if self._in_head or self._parsing is None:
                # the failed message's bytes, from its first one
                raw = (self._head_raw + data if self._head_raw else data[self._pos:]).lstrip(
                    _NEWLINES)
                message = str(e)
                if (isinstance(e, httptools.HttpParserInvalidMethodError)
                        and awaits_request_line(raw, self.limits.max_initial_line)):
                    # a method token llhttp does not know: 501 or 400 once the line ends
                    self._broken = True
                    self._bad_line = raw
                    return
                status = parser_error_status(message, raw)
            else:
                status = 400  # in the body or its trailers
            self._parse_failed(status, str(e))
            return
        else:
            offset = -1
        if offset >= 0:
            self._upgraded(data, offset)
            return
        self._feed = b""
        if self._in_head:
            # the head began at _pos in this read, or in an earlier one
            self._head_raw = self._head_raw + data if self._head_raw else data[self._pos:]
            limit = self.limits.max_initial_line + self.limits.max_headers + 4
            if len(self._head_raw) > limit:
                if not self._headers and self._url and self._header_bytes == 0:
                    self._parse_failed(414, "request line too long")
                else:
                    self._parse_failed(431, "request headers too large")
        elif self._chunks is not None:
            self._chunks.feed(data, self._pos)  # a chunked body that goes on in the next read
        elif (fresh and self._begun == 1 and self._parsing is None and not self._broken
              and self._known is not None and self._known.keep_alive
              and not (self._known.chunked or self._known.length)):
            # this read was one whole keep-alive request without a body: remember its head
            self._heads.put(data, self._known)

    def _await_request_line(self, data: bytes) -> None:
        """More of a request line whose method llhttp refused: answer once it ends."""
        raw = self._bad_line + data  # type: ignore[operator]
        if awaits_request_line(raw, self.limits.max_initial_line):
            self._bad_line = raw
            return
        self._bad_line = None
        self._parse_failed(parser_error_status("Invalid method encountered", raw),
                           "method not implemented")

    def _upgraded(self, data: bytes, offset: int) -> None:
        """llhttp stopped after an upgrade request (``Connection: upgrade`` + ``Upgrade``).

        l5d forwards it as a plain request without the upgrade headers, and reads nothing
        after it; but a body it announces is read first, whole and strictly, by a second
        parser (:class:`~l5d.http.upgrade.UpgradeBody`), never left for the origin to take
        from the client's next bytes.
        """
        self._broken = self._last = True
        exchange, self._upgrade_exchange = self._upgrade_exchange, None
        if exchange is None:
            self.pause_reading("upgrade")  # no body: nothing after the request is read
            return
        known = self._known
        self._parsing = exchange
        self._watch(_WAIT_BODY, self.limits.body_idle_s)
        self._upgrade_body = UpgradeBody(self, known.length, known.chunked)  # type: ignore[union-attr]
        self._feed_upgrade_body(data[offset:])

    def _feed_upgrade_body(self, data: bytes) -> None:
        body = self._upgrade_body
        try:
            body.feed(data)  # type: ignore[union-attr]
        except httptools.HttpParserCallbackError as e:
            self._upgrade_body = None
            self._callback_failed(e)
        except httptools.HttpParserError as e:
            self._upgrade_body = None
            self._parse_failed(400, str(e))

    def _callback_failed(self, e: httptools.HttpParserCallbackError) -> None:
        """A parser callback raised: a refusal of ours (``_Reject``), or a bug (400)."""
        cause = e.__context__
        if isinstance(cause, _Reject):
            self._parse_failed(cause.status, cause.reason)
        else:
            log.failure("bug in request handling")
            self._parse_failed(400, "bad request")

    def upgrade_body_complete(self) -> None:
        """The body of an upgrade request is whole: the request is complete; read no more."""
        self._upgrade_body = None
        self.on_message_complete()
        self.pause_reading("upgrade")

    def _replay(self, known: KnownHead) -> None:
        """A request whose head bytes were read before: what the parser would call, minus
        the parsing (on_message_begin's bookkeeping is moot: no head is pending after)."""
        self._known = known
        self._accept(known)
        # on_message_complete: a known head has no body
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            exchange.request_complete()

    def on_message_begin(self) -> None:
        self._begun += 1
        self._known = None
        self._headers = []
        self._url = b""
        self._header_bytes = 0
        self._trailer_bytes = 0
        self._body_bytes = 0
        self._in_head = True
        self._parsing = None
        if self._wait != _WAIT_HEAD:
            if self._timer is not None:  # _watch's common case (the header timeout is the tick)
                self._wait = _WAIT_HEAD
                self._wait_until = self._seconds() + self._tick
            else:
                self._watch(_WAIT_HEAD, self._tick)

    def on_url(self, part: bytes) -> None:
        self._url += part
        if len(self._url) > self.limits.max_initial_line:
            raise _Reject(414, "request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            # a trailer field: dropped, never forwarded or applied to framing (A9)
            self._trailer_bytes += len(name) + len(value) + 4
            if self._trailer_bytes > self.limits.max_headers:
                raise _Reject(431, "request trailers too large")
            return
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.limits.max_headers:
            raise _Reject(431, "request headers too large")
        if len(self._headers) > self.limits.max_header_count:
            raise _Reject(431, "too many request headers")

    def on_headers_complete(self) -> None:
        self._in_head = False
        known = self._known = self._read_head()
        if not known.info.plain and self._parser.should_upgrade():
            # l5d does not switch protocols: this is the last request on the connection
            self._last = True
            self._accept(known, last=True)
            if known.chunked or known.length:
                # llhttp will call the message complete now and skip the body: keep the
                # exchange aside until _upgraded reads the body with a second parser
                self._upgrade_exchange, self._parsing = self._parsing, None
        else:
            self._accept(known)
            if known.chunked:
                self._chunks = ChunkedEnd()

    def _read_head(self) -> KnownHead:
        """Check the head just parsed; what it says, from its bytes alone (raises _Reject)."""
        parser = self._parser
        version = parser.get_http_version()
        headers = self._headers
        target = self._url
        limits = self.limits
        method_bytes = parser.get_method()
        if method_bytes == b"CONNECT":
            raise _Reject(405, "CONNECT is not supported")
        info = scan_request(version, target, headers, limits.max_body)
        if type(info) is Reject:
            raise _Reject(info.status, info.reason)
        line = request_line(method_bytes, target, version)
        # the request line must be exactly this, at the place this message began
        # (llhttp accepts runs of spaces; A14), never further on in the bytes
        feed = self._feed
        prefix = self._head_raw
        if prefix:
            raw = prefix + feed
            start = 0
            self._head_raw = b""
        else:
            raw = feed
            start = self._pos
        if not raw.startswith(line, start):
            while raw[start:start + 1] in (b"\r", b"\n"):  # empty lines before a request
                start += 1
            if not raw.startswith(line, start):
                raise _Reject(400, "malformed request line")
        # the head ends at its first empty line: no field may hold a CR or LF
        self._pos = raw.index(b"\r\n\r\n", start + len(line) - 2) + 4 - len(prefix)
        if version != "1.1" and version != "1.0":
            version = "1.1"  # HTTP/1.2 and on (scan_request refused the rest)
        method = _METHODS.get(method_bytes) or method_bytes.decode("latin-1")
        chunked = info.chunked
        length = info.length
        expect = info.expect
        absolute = None
        if target[:1] != b"/":
            if target == b"*":
                if method != "OPTIONS":
                    raise _Reject(400, "malformed request-target")
            else:
                absolute = ABSOLUTE_FORMS.get(target) or split_absolute(target)
                if absolute is None:
                    raise _Reject(400, "malformed request-target")
                target = absolute.origin
        return KnownHead(method, target, version, headers, parser.should_keep_alive(), chunked,
                         length, absolute, expect, info)

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
            answer = _LocalAnswer(
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
            self._watch(_WAIT_BODY, self.limits.body_idle_s)
        else:
            self._wait = _WAIT_NONE
        if len(queue) == 1:
            exchange.start()
        else:
            # pipelined behind a response in flight: read no further until it is out
            self.pause_reading("pipeline")

    def on_body(self, data: bytes) -> None:
        if self._chunks is None:
            self._pos += len(data)
        self._body_bytes += len(data)
        if self._body_bytes > self.limits.max_body:
            raise _Reject(413, f"request body is over the limit of {self.limits.max_body} bytes")
        if self._wait == _WAIT_BODY:
            self._wait_until = self._seconds() + self.limits.body_idle_s
        exchange = self._parsing
        if exchange is not None:
            exchange.request_body(data)

    def on_message_complete(self) -> None:
        chunks = self._chunks
        if chunks is not None:
            self._chunks = None
            self._pos = chunks.feed(self._feed, self._pos)  # where the next request begins
        exchange, self._parsing = self._parsing, None
        if self._wait == _WAIT_BODY or self._wait == _WAIT_BODY_PAUSED:
            self._wait = _WAIT_NONE
        if exchange is not None:
            exchange.request_complete()

    def _parse_failed(self, status: int, reason: str) -> None:
        self._broken = True
        if self._parsing is not None:
            self._fail_request(status, reason)
        else:
            self._enqueue_rejection(status, reason)

    def _fail_request(self, status: int, reason: str) -> None:
        """The request whose body is being read cannot complete (bad framing, too big, stalled)."""
        exchange, self._parsing = self._parsing, None
        self._broken = True
        self._in_head = False
        self._wait = _WAIT_NONE
        if exchange is None:
            self._enqueue_rejection(status, reason)
            return
        queue = self._queue
        if queue and queue[0] is exchange:
            # answers with the error if no response byte went out yet, else cuts the connection
            exchange.fail(status, reason)
            return
        if exchange in queue:  # not started yet: answer in its place
            queue[queue.index(exchange)] = _LocalAnswer(self, status, reason)
            if not isinstance(exchange, _LocalAnswer):
                self._counted -= 1
                self._release(1)
                exchange.connection_lost()

    def _release(self, n: int) -> None:
        if n:
            self._load.requests -= n

    # -- output --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._cork is not None:
            self._cork.append(data)
        elif not self.lost:
            self._send(data)

    def _send(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        if self._send_watch:
            if self._send_timer is not None:
                self._sent += len(data)
            elif transport._tempDataLen or len(transport.dataBuffer) > transport.offset:
                # the kernel did not take it all: from now on the client must keep taking bytes
                self._sent = 0
                self._send_mark = self._pending()
                self._send_timer = self._reactor.callLater(self.limits.send_timeout_s,
                                                           self._on_send_timer)

    def cork(self) -> bool:
        """Collect writes until :meth:`uncork` (one send per upstream read); False if corked."""
        if self._cork is not None:
            return False
        self._cork = []
        return True

    def uncork(self) -> None:
        pending, self._cork = self._cork, None
        if pending and not self.lost:
            self._send(pending[0] if len(pending) == 1 else b"".join(pending))

    def exchange_finished(self, exchange: Any, keep_alive: bool) -> None:
        """The response of the head exchange is fully written."""
        queue = self._queue
        if queue and queue[0] is exchange:
            queue.popleft()
            if not isinstance(exchange, _LocalAnswer):
                self._counted -= 1
                self._load.requests -= 1
        if self.lost or self.closing:
            return
        if not queue and (self.draining or self._last or self._broken or self._read_eof):
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
        if not queue and not self._in_head and self._wait == _WAIT_NONE:
            idle_s = self.limits.idle_s
            if idle_s >= self._tick and self._timer is not None:
                # _watch's common case: the armed timer fires early enough
                self._wait = _WAIT_IDLE
                self._wait_until = self._seconds() + idle_s
            else:
                self._watch(_WAIT_IDLE, idle_s)

    def _life_expired(self) -> None:
        self._life_timer = None
        self.drain()

    def drain(self) -> None:
        """Shutting down (or ``lifeTimeMs`` reached): close now if idle, else after the response."""
        if self.lost or self.closing:
            return
        if not self._queue:
            self._close_quietly()
        else:
            self.draining = True
            self.pause_reading("draining")

    def closing_after_current(self) -> None:
        """Stop reading: the current request is the last on this connection."""
        self._last = True
        self.pause_reading("upgrade")

    def abort(self) -> None:
        """Cut the connection (a response cannot be completed)."""
        self.uncork()
        self.closing = True
        if not self.lost:
            self.transport.abortConnection()

    def _close_quietly(self) -> None:
        """Close with nothing in flight and nothing to say."""
        self.closing = True
        self._wait = _WAIT_NONE
        self.transport.loseConnection()

    def _close(self) -> None:
        """After the last response: half-close, drain what the client still sends, then close."""
        self.closing = True
        self._wait = _WAIT_NONE
        self._pause_reasons.clear()
        if self._paused and not self._read_eof:
            self._paused = False
            self.transport.resumeProducing()  # read and discard what the client still sends
        if not IHalfCloseableDescriptor.providedBy(self.transport):
            self.transport.loseConnection()
            return
        self.transport.loseWriteConnection()  # writeConnectionLost follows the last byte

    def _linger_done(self) -> None:
        self._linger_timer = None
        if not self.lost:
            self.transport.abortConnection()

    # -- local answers -------------------------------------------------------
    def _enqueue_rejection(self, status: int, reason: str) -> None:
        self._in_head = False
        self._broken = True
        self._wait = _WAIT_NONE
        self.pause_reading("rejected")
        self._parsing = None
        rejection = _LocalAnswer(self, status, reason)
        self._queue.append(rejection)
        if len(self._queue) == 1:
            rejection.start()

    def _answer(self, answer: _LocalAnswer) -> None:
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
        self._answer(_LocalAnswer(self, status, reason))


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
        return conn

    def _closed(self, conn: HttpServerConnection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.load.connections -= 1
