"""Reading requests: the llhttp callbacks of the server connection (a mixin, Twisted shell).

:class:`RequestInput` is the half of :class:`~l5d.http.server.HttpServerConnection`
that turns bytes into request heads and body events: the llhttp (``httptools``)
callbacks, the checks llhttp does not make (:mod:`l5d.http.framing`, made on the
request line at the exact byte each message begins, followed through chunked bodies
by :class:`~l5d.http.chunked.ChunkedEnd`), heads read before replayed from the
server's memo (:mod:`l5d.http.memo`), a read that is one whole common head read in one
call (:mod:`l5d.http.quick_head`, which leaves every other head to llhttp), the body of
an upgrade request read by a second parser (:mod:`l5d.http.upgrade`), and a request
line whose method llhttp does not
know held until it ends (501 or 400). A head that passes becomes a
:class:`~l5d.http.request.KnownHead` handed to the connection's ``_accept``.

It also keeps the read deadline: one lazily re-armed timer for whatever reading waits
for (a head, a body, keep-alive idleness; see :mod:`l5d.http.server`).

A mixin because every callback reads and writes the connection's own state (the
queue, the read deadline): one object, split by concern. Reactor-thread only.
"""

from __future__ import annotations

import httptools
from twisted.logger import Logger

from l5d.http.chunked import ChunkedEnd
from l5d.http.framing import (
    ABSOLUTE_FORMS, Reject, awaits_request_line, parser_error_status, request_line, scan_request,
    split_absolute,
)
from l5d.http.quick_head import quick_head
from l5d.http.request import KnownHead
from l5d.http.upgrade import UpgradeBody

__all__ = ["RequestInput", "WAIT_BODY", "WAIT_BODY_PAUSED", "WAIT_HEAD", "WAIT_IDLE", "WAIT_NONE"]

log = Logger()

_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                     "TRACE")}
_NEWLINES = b"\r\n"
#: what reading is waiting for (one deadline at a time; see l5d.http.server)
WAIT_NONE, WAIT_HEAD, WAIT_BODY, WAIT_BODY_PAUSED, WAIT_IDLE = range(5)


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestInput:
    """The input half of the server connection (see the module docstring)."""

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
        if kind == WAIT_NONE or kind == WAIT_BODY_PAUSED or self.lost or self.closing:
            return
        left = self._wait_until - self._reactor.seconds()
        if left > 0:
            self._timer = self._reactor.callLater(min(left, self._tick), self._on_timer)
            return
        self._wait = WAIT_NONE
        if kind == WAIT_HEAD:
            if self._in_head:
                self._enqueue_rejection(408, "request headers not received in time")
            elif not self._queue:
                self._close_quietly()  # connected and said nothing
        elif kind == WAIT_BODY:
            self._fail_request(408, "request body not received in time")
        elif kind == WAIT_IDLE:
            if not self._queue and not self._in_head:
                self._close_quietly()

    # -- input ---------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        self._load.received_bytes += len(data)
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
            if known is None:
                # one whole common head: read in one call, without llhttp's callbacks
                known = quick_head(data, self.limits)
                if known is not None:
                    self._heads.put(data, known)
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

    def _bad_line_ended(self) -> None:
        """The client stopped sending inside a line whose method llhttp refused."""
        raw, self._bad_line = self._bad_line, None
        self._parse_failed(parser_error_status("Invalid method encountered", raw),  # type: ignore
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
        self._watch(WAIT_BODY, self.limits.body_idle_s)
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
        if self._wait != WAIT_HEAD:
            if self._timer is not None:  # _watch's common case (the header timeout is the tick)
                self._wait = WAIT_HEAD
                self._wait_until = self._seconds() + self._tick
            else:
                self._watch(WAIT_HEAD, self._tick)

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

    def on_body(self, data: bytes) -> None:
        if self._chunks is None:
            self._pos += len(data)
        self._body_bytes += len(data)
        if self._body_bytes > self.limits.max_body:
            raise _Reject(413, f"request body is over the limit of {self.limits.max_body} bytes")
        if self._wait == WAIT_BODY:
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
        if self._wait == WAIT_BODY or self._wait == WAIT_BODY_PAUSED:
            self._wait = WAIT_NONE
        if exchange is not None:
            exchange.request_complete()

    def _parse_failed(self, status: int, reason: str) -> None:
        self._broken = True
        if self._parsing is not None:
            self._fail_request(status, reason)
        else:
            self._enqueue_rejection(status, reason)
