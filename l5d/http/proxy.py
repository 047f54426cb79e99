"""The per-request driver: identify -> bind -> pick -> send -> stream back (Twisted shell).

An :class:`Exchange` is one request on one client connection. It asks the router for a
route (pure decisions in :mod:`l5d.router`), sends the request upstream attempt by
attempt (:mod:`l5d.http.attempt`: balancer pick, pool, requeues and retries), streams
the response back (:mod:`l5d.http.respond`), with flow control in both directions, and
turns every failure into exactly one outcome:

* before any response byte went downstream: a Linkerd error response
  (400/403/502/503 with ``l5d-err``), through :func:`l5d.http.errors.error_response`;
* after the response head went downstream: the downstream connection is aborted, so
  a truncated body is never presented as complete.

An upstream connection is returned to its pool only after a complete exchange in both
directions; after any failure or timeout it is closed.

Timeouts: the service's ``totalTimeoutMs`` and the request's ``l5d-ctx-deadline`` run
from routing until the response is *complete* (retries included), the client's
``requestAttemptTimeoutMs`` per attempt: 503 before the response head, an aborted
downstream after it. No timer exists unless one is configured or a deadline came in.
Reactor-thread only.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from dtab import Path
from l5d.http.attempt import Attempts
from l5d.http.deadline import Deadline
from l5d.http.errors import error_response
from l5d.http.respond import Responding
from l5d.retry.safety import buffered
from l5d.router.route import deadline_message, total_timeout_message

#: request bodies up to this size are read before the upstream connection is ready
BODY_BUFFER_LIMIT = 64 * 1024

# states
NEW, ROUTING, CONNECTING, SENT, RESPONDING, DONE = range(6)


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


class Exchange(Attempts, Responding):
    """One request through the router.

    No ``__slots__``: most fields keep their class-level default for the whole of an
    ordinary exchange, so a new one sets only what differs (one is made per request).
    Keep what an ordinary exchange stores in its instance below 30 names: CPython 3.11
    shares the key table of instance dicts up to 30 keys, and an exchange past that costs
    about 3,000 machine instructions more per name (measured with cachegrind: 28 -> 30
    names, +6,500 per request). Store a ``None`` over a ``None`` default only when the
    field was set (``_timer``, ``_waiter``). ``tests/l5d/http/test_proxy.py`` counts them.
    """

    state = NEW
    _body_bytes = 0
    upstream: Any = None
    route: Any = None  # the DstClient
    _down_chunked = False
    _down_close = False
    _timer: Any = None  # binding poll, backoff, drain
    started_at = 0.0  # router.now() when the request head was in (request_latency_ms)
    _up_head = b""
    _producer_up: Any = None  # the upstream transport pacing the request body
    _producer_down = False
    _paused_for_buffer = False
    dst: Any = None
    bound: Any = None
    local_dtab: Any = None
    head_route: Any = None  # the router's memo for this request's head
    svc: Any = None  # the Service
    view: Any = None  # its client's ServiceView (client/<id>/service/<name>)
    #: the server's success and failures counters, status table and latency histogram
    server_stats: Any = None
    _total_timer: Any = None  # totalTimeoutMs / l5d-ctx-deadline
    _attempt_timer: Any = None  # requestAttemptTimeoutMs
    _expires: Any = None  # monotonic time the total timeout or deadline passes
    _by_deadline = False  # _expires is the incoming deadline's, not totalTimeoutMs's
    _ctx_deadline: Any = None  # the Deadline propagated upstream (before attempt timeouts)
    _keep_body = False  # the whole body is kept: the request can be sent again
    _body: list[bytes] | None = None
    _node: Any = None  # the attempt's balancer node
    _avoid: Any = None  # the node the last attempt failed on
    _token: Any = None
    _waiter: Any = None  # waiting for a connection of a full pool
    _in_client = False  # a client request is open (its stats not counted yet)
    _requeues = 0
    _resent = False  # sent again after an unanswered write (once at most)
    retries = 0
    _backoff: Any = None
    _discarding = False  # draining a response that will be retried
    _retry_after = 0.0
    _drained = 0  # bytes of the dropped response read so far
    _await_body = False  # a retry waits for the rest of the request body
    _success = True
    status = 0  # the status the client got (-1: its connection was cut)
    _up_status = 0  # the status of the current client request's response (0: none yet)
    _client_at = 0.0  # when the current client request started
    picked: Any = None  # the balancer node of the last attempt (request records)
    error = ""  # l5d's own answer's text (request records)
    response_bytes = 0  # body bytes sent to the client (request records)

    def __init__(self, conn: Any, head: Any, router: Any, server: Any) -> None:
        self.conn = conn
        self.head = head
        self.router = router
        self.server = server
        if head.chunked or head.content_length:
            self.request_done = False
            if buffered(head.chunked, head.content_length, router.replay_limit):
                self._keep_body = True
                self._body = []
        else:
            self.request_done = True
            self._keep_body = True

    # -- server side events --------------------------------------------------
    def start(self) -> None:
        self.state = ROUTING
        self.started_at = self.router.now()
        self.router.route_exchange(self)

    def set_deadline(self, incoming: Deadline | None, total_s: float | None) -> bool:
        """Arm the total timer from ``totalTimeoutMs`` and the incoming deadline; ``False``
        (and a 503) when the deadline has already passed."""
        router = self.router
        now = router.now()
        wall = router.wall()
        expires = None
        ctx = incoming
        if total_s is not None:
            expires = self.started_at + total_s
            ctx = Deadline.after(wall - (now - self.started_at), total_s).combined(ctx)
        if incoming is not None:
            left = incoming.remaining_s(wall)
            if left <= 0:
                self.fail(503, deadline_message(-left, self.dst or Path()))
                return False
            if expires is None or now + left < expires:
                expires = now + left
                self._by_deadline = True
        self._expires = expires
        self._ctx_deadline = ctx
        self._total_timer = router.reactor.callLater(max(expires - now, 0.0),
                                                     self._total_timeout)
        return True

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
        if self._await_body:
            self._await_body = False
            self.set_timer(self._retry_after, self._client_request)
            return
        upstream = self.upstream
        if upstream is not None and self.state >= SENT and not self._discarding:
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
        self.status = -1
        self._end_attempt(None)  # cancelled: neither a success nor a failure of the endpoint
        self._close_client_request(False)
        self.router.exchange_done(self, False)

    # -- answering -----------------------------------------------------------
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
        self._end_attempt(False)
        self._close_client_request(False)
        self.state = DONE
        close = not (self.request_done and self.head.keep_alive)
        self.conn.write(error_response(
            status, message, close,
            clear_context=self.server.clear_context, retryable=retryable,
            max_err_bytes=self.router.max_err_bytes, max_header_bytes=self.router.max_header_bytes,
            head_only=self.head.method == "HEAD"))
        self.status = status
        self.error = message
        self.router.exchange_done(self, status < 500)
        self.conn.exchange_finished(self, not close)

    # -- timers --------------------------------------------------------------
    def set_timer(self, delay_s: float, fn) -> None:
        """Run ``fn`` later (binding poll, retry backoff, drain); replaces the previous one."""
        timer = self._timer
        if timer is not None and timer.active():
            timer.cancel()
        self._timer = self.router.reactor.callLater(delay_s, fn)

    def _cancel_timer(self) -> None:
        """The exchange is over: no timer of it may fire any more, no pool wait is left."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            if timer.active():
                timer.cancel()
        timer = self._total_timer
        if timer is not None:
            self._total_timer = None
            if timer.active():
                timer.cancel()
        timer = self._attempt_timer
        if timer is not None:
            self._attempt_timer = None
            if timer.active():
                timer.cancel()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.cancel()

    def _total_timeout(self) -> None:
        self._total_timer = None
        if self._by_deadline:
            message = deadline_message(0.0, self.dst or Path())
        else:
            message = total_timeout_message(self.svc.total_timeout_s, self.dst or Path())
        if self.state == DONE:
            return
        if self.state == RESPONDING:
            self._abort_downstream()
            return
        self.fail(503, message)

    # -- request flow control ------------------------------------------------
    def _pace_request_body(self, upstream: Any) -> None:
        """The upstream socket's buffer now paces the client's body."""
        transport = upstream.transport
        transport.registerProducer(
            _ReadPauser(lambda: self.conn.pause_reading("upstream-full"),
                        lambda: self.conn.resume_reading("upstream-full")), True)
        self._producer_up = transport

    def _stop_request_flow(self) -> None:
        transport = self._producer_up
        if transport is not None:
            self._producer_up = None
            try:
                transport.unregisterProducer()
            except Exception:  # pragma: no cover - transport already gone
                pass
            self.conn.resume_reading("upstream-full")
