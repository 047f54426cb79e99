"""The per-request driver: identify -> bind -> pick -> send -> stream back (Twisted shell).

An :class:`Exchange` is one request on one client connection. It asks the
router for a route (pure decisions in :mod:`l5d.router`), acquires an upstream
connection from the endpoint's pool, streams the request body up and the
response body down with flow control in both directions, and turns every
failure into exactly one outcome:

* before any response byte went downstream: a Linkerd error response
  (400/403/502/503 with ``l5d-err``), through :func:`l5d.http.errors.error_response`;
* after the response head went downstream: the downstream connection is
  aborted, so a truncated body is never presented as complete.

An upstream connection is returned to its pool only after a complete exchange
in both directions; after any failure or timeout it is closed.

Timeouts (Linkerd's ``service.totalTimeoutMs`` and ``client.requestAttemptTimeoutMs``)
run from the start of the exchange and of each attempt until the response is
*complete*: 503 before the response head, an aborted downstream after it. No
timer exists unless one is configured.

Re-sending (reliability section 5): a connect failure is requeued to the next
endpoint for any method (nothing was sent). A connection that fails after the
request was written but before any response byte gets *one* more attempt, on
the next endpoint, only for an idempotent method whose whole body was buffered
(at most ``BODY_BUFFER_LIMIT``, never chunked); anything else is a 502.
Reactor-thread only.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from dtab import Path
from l5d.http.client import FRAMING_LENGTH, FRAMING_NONE
from l5d.http.errors import error_response
from l5d.http.response_head import downstream_head
from l5d.router.route import attempt_timeout_message, total_timeout_message

BODY_BUFFER_LIMIT = 64 * 1024
#: fixed-length response bodies up to this size are written without flow control
SMALL_BODY = 64 * 1024

# states
NEW, ROUTING, CONNECTING, SENT, RESPONDING, DONE = range(6)

_REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@implementer(IPushProducer)
class _ReadPauser:
    """Lets a transport's buffer pause reading on the other side of the proxy."""

    def __init__(self, pause, resume) -> None:
        self._pause = pause
        self._resume = resume

    def pauseProducing(self) -> None:
        self._pause()

    def resumeProducing(self) -> None:
        self._resume()

    def stopProducing(self) -> None:
        pass


class Exchange:
    """One request through the router.

    No ``__slots__``: most fields keep their class-level default for the whole of an
    ordinary exchange, so a new one sets only what differs (one is made per request).
    """

    state = NEW
    _body_bytes = 0
    upstream: Any = None
    route: Any = None
    _tried = 0
    _down_chunked = False
    _down_close = False
    _timer: Any = None
    _replayed = False
    _started_at = 0.0
    _response_status = 0
    _up_head = b""
    _producer_up = False
    _producer_down = False
    _paused_for_buffer = False
    dst: Any = None
    bound: Any = None
    local_dtab: Any = None
    head_route: Any = None  # the router's memo for this request's head
    svc: Any = None
    _deadline: Any = None  # totalTimeoutMs timer
    _attempt: Any = None  # requestAttemptTimeoutMs timer
    _keep_body = False
    _body: list[bytes] | None = None

    def __init__(self, conn: Any, head: Any, router: Any, server: Any) -> None:
        self.conn = conn
        self.head = head
        self.router = router
        self.server = server
        if head.chunked or head.content_length:
            self.request_done = False
            # the whole body is kept (for one re-send) only when the request may be re-sent
            if (head.method in _REPLAYABLE_METHODS and not head.chunked
                    and head.content_length <= BODY_BUFFER_LIMIT):
                self._keep_body = True
                self._body = []
        else:
            self.request_done = True
            self._keep_body = head.method in _REPLAYABLE_METHODS

    # -- server side events --------------------------------------------------
    def start(self) -> None:
        self.state = ROUTING
        router = self.router
        self._started_at = router.now()
        if router.total_timeout_s is not None:
            self._deadline = router.reactor.callLater(router.total_timeout_s, self._total_timeout)
        router.route_exchange(self)

    def request_body(self, data: bytes) -> None:
        if self.state == DONE:
            return
        upstream = self.upstream
        if upstream is not None and self.state >= SENT:
            upstream.write(b"%x\r\n%s\r\n" % (len(data), data) if self.head.chunked else data)
            if self._keep_body:
                self._body.append(data)  # type: ignore[union-attr]
                self._body_bytes += len(data)
            return
        if self._body is None:
            self._body = []
        self._body.append(data)
        self._body_bytes += len(data)
        if self._body_bytes > BODY_BUFFER_LIMIT and not self._paused_for_buffer:
            self._paused_for_buffer = True
            self.conn.pause_reading("body-buffer")

    def request_complete(self) -> None:
        if self.request_done:
            return  # no body: the request was whole from the start (_connected sent it)
        self.request_done = True
        if self.state == DONE:
            return
        upstream = self.upstream
        if upstream is not None and self.state >= SENT:
            if self.head.chunked:
                upstream.write(b"0\r\n\r\n")
            self._stop_request_flow()
            upstream.request_sent()

    def connection_lost(self) -> None:
        """The client went away: abandon the upstream side (never pooled)."""
        if self.state == DONE:
            return
        self.state = DONE
        self._cancel_timer()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.router.exchange_aborted(self)

    # -- routing results (called by the router) ----------------------------
    def fail(self, status: int, message: str, retryable: bool = False) -> None:
        """Answer with a router error (only possible before the response started)."""
        if self.state == DONE:
            return
        if self.state == RESPONDING:
            self._abort_downstream()
            return
        self._cancel_timer()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            self._stop_request_flow()
            upstream.abort()
        self.state = DONE
        close = not (self.request_done and self.head.keep_alive)
        self.conn.write(error_response(
            status, message, close,
            clear_context=self.server.clear_context, retryable=retryable,
            max_err_bytes=self.router.max_err_bytes, max_header_bytes=self.router.max_header_bytes,
            head_only=self.head.method == "HEAD"))
        self._response_status = status
        self.router.exchange_done(self, status)
        self.conn.exchange_finished(self, not close)

    def set_timer(self, delay_s: float, fn) -> None:
        """Run ``fn`` later (the router's binding poll); replaces the previous one."""
        timer = self._timer
        if timer is not None and timer.active():
            timer.cancel()
        self._timer = self.router.reactor.callLater(delay_s, fn)

    def _cancel_timer(self) -> None:
        """The exchange is over: no timer of it may fire any more."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            if timer.active():
                timer.cancel()
        timer = self._deadline
        if timer is not None:
            self._deadline = None
            if timer.active():
                timer.cancel()
        timer = self._attempt
        if timer is not None:
            self._attempt = None
            if timer.active():
                timer.cancel()

    def _arm_attempt_timer(self) -> None:
        timeout_s = self.router.attempt_timeout_s
        if timeout_s is not None:
            timer = self._attempt
            if timer is not None and timer.active():
                timer.cancel()
            self._attempt = self.router.reactor.callLater(timeout_s, self._attempt_timeout)

    def _total_timeout(self) -> None:
        self._deadline = None
        self._timed_out(total_timeout_message(self.router.total_timeout_s, self.dst or Path()))

    def _attempt_timeout(self) -> None:
        self._attempt = None
        route = self.route
        self._timed_out(attempt_timeout_message(self.router.attempt_timeout_s,
                                                route.id if route is not None else Path()))

    def _timed_out(self, message: str) -> None:
        """503 if nothing went downstream yet, else cut the downstream; the upstream is closed."""
        if self.state == DONE:
            return
        if self.state == RESPONDING:
            self._abort_downstream()
            return
        self.fail(503, message)

    def send_via(self, route: Any, up_head: bytes) -> None:
        """Routing succeeded: connect to the route's endpoint and send the request."""
        self.route = route
        self._up_head = up_head
        self.state = CONNECTING
        if self.router.attempt_timeout_s is not None:
            self._arm_attempt_timer()
        self._connect()

    def _connect(self) -> None:
        pool = self.route.next_pool()
        self._tried += 1
        pool.acquire(self._connected, self._connect_failed)

    def _connect_failed(self, pool: Any, detail: str) -> None:
        if self.state == DONE:
            return
        self.router.connect_failed(self, pool, detail)
        if self._tried < min(self.route.size, self.router.max_connect_attempts):
            self._connect()
            return
        self.fail(502, self.router.connect_failed_text(self, pool), retryable=False)

    def _connected(self, upstream: Any) -> None:
        if self.state == DONE:  # failed or timed out while connecting: the connection is unused
            if not upstream.closed:
                upstream.pool.release(upstream)
            return
        self.upstream = upstream
        self.state = SENT
        head = self.head
        upstream.start(self, head.method == "HEAD")
        if head.expect_continue and not self.request_done and not self._body:
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._body
        if body:
            if head.chunked:
                parts = [self._up_head]
                for chunk in body:
                    parts.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                upstream.write(b"".join(parts))
            else:
                upstream.write(self._up_head + b"".join(body))
            if not self._keep_body:
                self._body = None
        else:
            upstream.write(self._up_head)
        if self._paused_for_buffer:
            self._paused_for_buffer = False
            self.conn.resume_reading("body-buffer")
        if self.request_done:
            if head.chunked:
                upstream.write(b"0\r\n\r\n")
            upstream.request_sent()
        else:
            # the upstream socket's buffer now paces the client's body
            upstream.transport.registerProducer(
                _ReadPauser(lambda: self.conn.pause_reading("upstream-full"),
                            lambda: self.conn.resume_reading("upstream-full")), True)
            self._producer_up = True

    def _stop_request_flow(self) -> None:
        if self._producer_up and self.upstream is not None:
            self._producer_up = False
            try:
                self.upstream.transport.unregisterProducer()
            except Exception:  # pragma: no cover - transport already gone
                pass
            self.conn.resume_reading("upstream-full")

    # -- upstream events -----------------------------------------------------
    def response_head(self, rhead: Any, version: str, framing: int) -> None:
        """The upstream's response head (a :class:`~l5d.http.client.ResponseHead`)."""
        if self.state == DONE:
            return
        self.state = RESPONDING
        self._response_status = rhead.status
        head = self.head
        clear = self.server.clear_context
        client_11 = head.version == "1.1"
        memo = rhead.down  # a remembered head: its downstream heads by request shape
        shape = (client_11 | head.keep_alive << 1 | self.request_done << 2 | clear << 3
                 | framing << 4)
        down = memo.get(shape) if memo is not None else None
        if down is None:
            down = downstream_head(rhead, framing, client_11, head.keep_alive, self.request_done,
                                   clear)
            if memo is not None:
                memo[shape] = down
        data, self._down_chunked, self._down_close = down
        self.conn.write(data)
        upstream = self.upstream
        if upstream is not None and framing != FRAMING_NONE and (
                framing != FRAMING_LENGTH
                or (rhead.length if rhead.length >= 0 else int(rhead.content_length)) > SMALL_BODY):
            # the client's socket buffer paces the upstream read (a small fixed-length
            # body cannot pile up, so it skips the register/unregister)
            self.conn.transport.registerProducer(upstream.transport, True)
            self._producer_down = True

    def response_body(self, data: bytes) -> None:
        if self.state != RESPONDING:
            return
        if self._down_chunked:
            self.conn.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.conn.write(data)

    def response_complete(self) -> None:
        if self.state != RESPONDING:
            return
        self.state = DONE
        self._cancel_timer()
        if self._down_chunked:
            self.conn.write(b"0\r\n\r\n")
        self._stop_response_flow()
        upstream = self.upstream
        if not self.request_done and upstream is not None:
            # answered before the request body was sent: that connection's framing is in doubt
            self._stop_request_flow()
            self.upstream = None
            upstream.abort()
        self.router.exchange_done(self, self._response_status)
        self.conn.exchange_finished(self, not self._down_close)

    def _stop_response_flow(self) -> None:
        if self._producer_down:
            self._producer_down = False
            if not self.conn.lost:
                self.conn.transport.unregisterProducer()

    def upstream_failed(self, message: str, response_started: bool, answered: bool = False) -> None:
        """The upstream connection failed. ``answered``: it sent bytes (a malformed response),
        so the request reached a server and is not sent again."""
        if self.state == DONE:
            return
        upstream = self.upstream
        self.upstream = None
        if self.state == RESPONDING or response_started:
            self._abort_downstream()
            return
        self._stop_request_flow()
        if (not self._replayed and not answered and self.request_done and self._keep_body
                and upstream is not None):
            # no response byte came back (a reset, or a pooled connection the server had
            # closed), the request is idempotent and its whole body is here: one more
            # attempt, on the next endpoint
            self._replayed = True
            self.state = CONNECTING
            self._tried = 0
            self.router.requeued(self)
            self._arm_attempt_timer()
            self._connect()
            return
        self.fail(502, message)

    def _abort_downstream(self) -> None:
        self.state = DONE
        self._cancel_timer()
        self._stop_response_flow()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.router.exchange_done(self, -1)
        self.conn.abort()
