"""Upstream HTTP/1.1 connections and per-endpoint keep-alive pools (Twisted shell).

An :class:`UpstreamConnection` carries one exchange at a time. It parses the
response strictly (``httptools``), refuses framing it cannot trust (CL+TE, a
Transfer-Encoding other than ``chunked``, garbage), and reports to its
*exchange* through five calls::

    response_head(status, reason, head, version, framing)
    response_body(data)
    response_complete()
    upstream_failed(message, response_started)     # connection lost / bad bytes

A connection goes back to its :class:`~l5d.http.pool.EndpointPool` only after a complete,
unambiguous exchange on a keep-alive response whose request was fully sent;
anything else closes it. Reactor-thread only.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any, Callable

import httptools
from twisted.internet import error as ierror
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from l5d.http.framing import BODYLESS_STATUS
from l5d.http.memo import MAX_KEY
from l5d.http.upstream_response import (  # noqa: F401  (re-exported for tests and tools)
    _NAME_KINDS, _PLAIN_CONNECTION, CONNECTION, FRAMING_CHUNKED, FRAMING_CLOSE, FRAMING_LENGTH,
    FRAMING_NONE, HOP, KEEP, L5D, LENGTH, RESPONSES, TRANSFER_ENCODING, VIA, ResponseHead,
    _name_kind,
)

if TYPE_CHECKING:
    from l5d.http.pool import EndpointPool


class UpstreamConnection(Protocol):
    """One TCP connection to an endpoint; speaks HTTP/1.1 client side."""

    def __init__(self, pool: "EndpointPool") -> None:
        self.pool = pool
        self._io = pool.io
        self.exchange: Any = None
        self.reused = False
        self.idle_since = 0.0
        self.created_at = 0.0
        self._parser: Any = None
        self._head = ResponseHead()
        self._head_seen = False
        self._complete = False
        self._framing = FRAMING_NONE
        self._head_request = False
        self._request_sent = False
        self._broken = False
        self._keep_alive = False
        self._interim = False
        self.closed = False
        self._on_connect: Callable[["UpstreamConnection"], None] | None = None
        self._fresh = False  # no byte of the current exchange's response parsed yet
        self._cur: bytes | None = None  # the read being parsed, when it began fresh
        self._begun = 0  # responses begun in that read
        self.poller: Any = None  # tells whether unread bytes wait on the socket (unread())

    # -- connection lifecycle ------------------------------------------------
    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        try:
            fd = self.transport.getHandle().fileno()
        except AttributeError:  # a transport without a socket (in memory): nothing to poll
            pass
        else:
            self.poller = select.poll()
            self.poller.register(fd, select.POLLIN | select.POLLPRI)
        cb, self._on_connect = self._on_connect, None
        if isinstance(self.factory, _Factory):
            self.factory.connected()
        if cb is not None:
            cb(self)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.closed = True
        self.pool.connection_closed(self)
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        if (self._head_seen and not self._complete and self._framing == FRAMING_CLOSE
                and (reason is None or reason.check(ierror.ConnectionDone))):
            # a close-delimited body ends with the connection (a clean close, not a reset)
            self._complete = True
            exchange.response_complete()
            return
        if not self._complete:
            if self._head_seen:
                msg = "upstream closed the connection before the response body was complete"
            else:
                msg = "upstream closed the connection without a response"
            exchange.upstream_failed(msg, self._head_seen)

    # -- sending -------------------------------------------------------------
    def start(self, exchange: Any, head_request: bool) -> None:
        """Attach an exchange; its request head is written by the caller."""
        self.exchange = exchange
        if self._parser is None:  # one parser per connection; llhttp resets between messages
            self._parser = parser = httptools.HttpResponseParser(self)
            # a Content-Length *trailer* in a chunked response is an error to llhttp, which
            # would cut a response already under way: with this leniency it is a trailer
            # field like any other (dropped); CL with TE in a head is refused below instead
            parser.set_dangerous_leniencies(lenient_chunked_length=True)
        self._head_seen = False
        self._complete = False
        self._framing = FRAMING_NONE
        self._head_request = head_request
        self._request_sent = False
        self._interim = False
        self._keep_alive = False
        self._fresh = True

    def request_sent(self) -> None:
        """The whole request (head and body) is on the wire."""
        self._request_sent = True
        if self._complete:
            self._finish()

    def write(self, data: bytes) -> None:
        self.transport.write(data)
        self._io.sent_bytes += len(data)

    def unread(self) -> bool:
        """Whether the socket holds bytes (or the server's FIN, or an error) the reactor has
        not read yet.

        An idle pooled connection is read by the reactor like any other, and stray bytes
        close it; this catches those that arrived after the reactor's last read, before
        the connection is used again: one ``poll()`` with no timeout per reuse (about
        0.5 µs; a ``MSG_PEEK`` receive costs four times that).
        """
        poller = self.poller
        return poller is not None and bool(poller.poll(0))

    def abort(self) -> None:
        """Drop the connection now (the exchange is abandoned); never pooled."""
        self.exchange = None
        self._broken = True
        if not self.closed:
            self.transport.abortConnection()

    # -- parsing -------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        self._io.received_bytes += len(data)
        if self.exchange is None or self._parser is None or self._complete:
            # bytes nobody asked for: the framing of this connection is in doubt
            self._broken = True
            self.transport.abortConnection()
            return
        down = self.exchange.conn
        corked = down.cork()  # the response head and body leave in one send
        try:
            if self._fresh and not self._head_request:
                # a head read before, and exactly its body: no parsing
                end = data.find(b"\r\n\r\n", 0, MAX_KEY)
                if end > 0:
                    known = RESPONSES.get(data[:end + 4])
                    if known is not None and len(data) - end - 4 == known.length:
                        self._replay(known, data[end + 4:])
                        return
                self._cur = data
            else:
                self._cur = None
            self._begun = 0
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(f"malformed response from upstream: {e}")
        except httptools.HttpParserCallbackError as e:  # raised by our own checks below
            self._fail(str(e.__context__ or e))
        finally:
            self._cur = None
            if corked:
                down.uncork()

    def _fail(self, message: str) -> None:
        """The upstream answered bytes we refuse: drop the connection; never re-send."""
        exchange, self.exchange = self.exchange, None
        self._broken = True
        self.transport.abortConnection()
        if exchange is not None and not self._complete:
            exchange.upstream_failed(message, self._head_seen, answered=True)

    def _replay(self, known: ResponseHead, body: bytes) -> None:
        """What parsing a remembered head and its whole fixed-length body would call."""
        self._fresh = False
        self._head_seen = True
        self._framing = FRAMING_LENGTH
        self._keep_alive = True  # only keep-alive heads are remembered
        exchange = self.exchange
        exchange.response_head(known, known.version, FRAMING_LENGTH)
        if body and self.exchange is exchange:
            exchange.response_body(body)
        if not self._complete:
            self._message_done()

    def on_message_begin(self) -> None:
        if self._complete or self.exchange is None:
            # a second response to one request: the bytes after a response (a 204 with a
            # body, say) are not ours to interpret; the connection is dropped
            raise _Bad("upstream sent more than one response")
        self._fresh = False
        self._begun += 1
        self._head = ResponseHead()

    def on_status(self, reason: bytes) -> None:
        self._head.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_seen:
            return  # a trailer field of a chunked response: dropped, never applied
        # ResponseHead.add, inlined: this runs for every response header
        head = self._head
        kind = _NAME_KINDS.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind == KEEP:
            head.lines += (name, b": ", value, b"\r\n")
        elif kind == LENGTH:
            head.content_length = value
        elif kind != CONNECTION or value not in _PLAIN_CONNECTION:
            head.special.append((kind, name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if not 100 <= status <= 599:
            raise _Bad(f"upstream sent an invalid status code {status:03d}")
        if status < 200:
            if status == 101:
                raise _Bad("upstream switched protocols, which l5d does not support")
            self._interim = True  # 1xx: skipped, the final response follows
            return
        self._interim = False
        head = self._head
        head.status = status
        chunked = False
        for kind, _, value in head.special:
            if kind == TRANSFER_ENCODING:
                if value.strip(b" \t").lower() != b"chunked" or chunked:
                    raise _Bad("upstream response has an unsupported Transfer-Encoding")
                chunked = True
        length = head.content_length is not None
        if chunked and length:
            raise _Bad("upstream response has both Content-Length and Transfer-Encoding")
        if self._head_request or status in BODYLESS_STATUS:
            framing = FRAMING_NONE
        elif chunked:
            framing = FRAMING_CHUNKED
        elif length:
            framing = FRAMING_LENGTH
        else:
            framing = FRAMING_CLOSE
        self._framing = framing
        self._head_seen = True
        keep_alive = parser.should_keep_alive() and framing != FRAMING_CLOSE
        self._keep_alive = keep_alive
        exchange = self.exchange
        version = parser.get_http_version()
        cur = self._cur
        if (framing == FRAMING_LENGTH and keep_alive and self._begun == 1 and cur is not None
                and cur.startswith(b"HTTP/1.")):
            self._remember(head, version, cur)
        exchange.response_head(head, version, framing)
        if framing == FRAMING_NONE and self.exchange is exchange:
            # HEAD (or 204/304): llhttp would wait for a body that never comes
            self._message_done()

    @staticmethod
    def _remember(head: ResponseHead, version: str, cur: bytes) -> None:
        """Keep a head that began this read, if its end is certain: every line ends in CRLF,
        so the first blank line is where llhttp ended it too."""
        end = cur.find(b"\r\n\r\n", 0, MAX_KEY)
        if end <= 0:
            return
        key = cur[:end + 4]
        if key.count(b"\n") != key.count(b"\r\n") or key in RESPONSES:
            return
        head.version = version
        head.length = int(head.content_length)  # type: ignore[arg-type]  # llhttp checked it
        head.down = {}
        RESPONSES.put(key, head)

    def on_body(self, data: bytes) -> None:
        if self._complete:
            raise _Bad("upstream sent bytes after a bodyless response")
        self.exchange.response_body(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if not self._complete:
            self._message_done()

    def _message_done(self) -> None:
        self._complete = True
        exchange = self.exchange
        if exchange is not None:
            exchange.response_complete()
        if self._request_sent:
            self._finish()

    def _finish(self) -> None:
        """Both directions are done: back to the pool, or closed."""
        self.exchange = None
        if self._keep_alive and not self._broken and not self.closed:
            if self._head_request:
                # llhttp still expects the body a HEAD response announced: start afresh
                self._parser = None
            self.pool.release(self)
        elif not self.closed:
            self.transport.loseConnection()


class _Bad(Exception):
    """Raised inside parser callbacks to stop parsing a response we refuse."""


def _done(*_: Any) -> None:
    """A connect callback after the connection is up: nothing to do."""


class _Factory(ClientFactory):
    def __init__(self, pool: "EndpointPool", on_connect: Callable, on_fail: Callable) -> None:
        self.pool = pool
        self.on_connect = on_connect
        self.on_fail = on_fail

    def connected(self) -> None:
        """The connection is up: the callbacks are done with. They hold the request that
        opened the connection (and through it its client's connection): dropped here, or
        every pooled connection would keep them as long as it lives (issue 14, memory)."""
        self.on_connect = self.on_fail = _done

    def buildProtocol(self, addr: Any) -> UpstreamConnection:
        conn = UpstreamConnection(self.pool)
        conn._on_connect = self.on_connect
        conn.factory = self
        return conn

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.on_fail(reason)
