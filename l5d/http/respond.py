"""Streaming the response back (the exchange's downstream half; Twisted shell).

The response head is classified before anything goes downstream: a status below 500 is a
success under every classifier (no work), a 5xx goes through the service's
``responseClassifier``. A ``RETRYABLE`` verdict on a buffered request that the budget
and the deadline allow is never shown to the client: its body is drained (so the
connection can be reused) or its connection closed, and the request goes out again (once
its whole body is in, if the answer came before it was).
Anything else is written downstream with ``l5d-success-class``, and from then on the
response can only complete or be cut (the downstream connection aborted, so a truncated
body never looks complete).
"""

from __future__ import annotations

from typing import Any

from l5d.http.upstream_response import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, L5D
from l5d.http.response_head import downstream_head
from l5d.retry import Outcome, ResponseClass
from l5d.retry.classify import is_retryable_nack, parse_retryable
from l5d.retry.safety import may_retry

# states, shared with proxy.py
NEW, ROUTING, CONNECTING, SENT, RESPONDING, DONE = range(6)

#: fixed-length response bodies up to this size are written without flow control
SMALL_BODY = 64 * 1024
#: a retried response's body is drained (keeping its connection) up to this size, for
#: up to DRAIN_S; a bigger, slower or close-delimited one closes its connection
DRAIN_LIMIT = 64 * 1024
DRAIN_S = 1.0
_SUCCESS = ResponseClass.SUCCESS


def response_outcome(method: str, rhead: Any, streamed: bool) -> Outcome:
    """What the classifier needs to know about a response head (pure)."""
    retryable = False
    for kind, name, value in rhead.special:
        if kind == L5D and name.lower() == b"l5d-retryable":
            retryable = parse_retryable(value.strip(b" \t"))
            break
    nack = False
    if rhead.status == 503:
        lines = rhead.lines
        nack_header = False
        retry_after = None
        for i in range(1, len(lines), 4):
            lower = lines[i].lower()
            if lower == b"finagle-http-nack":
                nack_header = True
            elif lower == b"retry-after" and retry_after is None:
                retry_after = lines[i + 2].strip(b" \t")
        nack = is_retryable_nack(503, nack_header, retry_after)
    return Outcome(method, status=rhead.status, retryable_header=retryable, nack=nack,
                   streamed=streamed)


class Responding:
    """The downstream half of :class:`~l5d.http.proxy.Exchange` (a mixin; no state of its own)."""

    def response_head(self: Any, rhead: Any, version: str, framing: int) -> None:
        """The upstream's response head (a :class:`~l5d.http.client.ResponseHead`)."""
        if self.state == DONE:
            return
        self._up_status = rhead.status
        success = True
        if rhead.status >= 500:
            # a body small enough to keep is kept whole even if some of it is still on its way
            kept = self._keep_body
            cls = self.svc.classify(response_outcome(self.head.method, rhead, not kept))
            success = cls is _SUCCESS
            if may_retry(cls, kept, False):
                delay = self._retry_delay()
                if delay is not None:
                    if self.request_done:
                        self._discard(rhead, framing, delay)
                    else:
                        self._retry_when_whole(delay)
                    return
        if success is not self._success:  # stored only when not the default (Exchange)
            self._success = success
        self.status = rhead.status
        self.state = RESPONDING
        head = self.head
        clear = self.server.clear_context
        client_11 = head.version == "1.1"
        # a draining connection (shutdown, lifeTimeMs) closes after this response: say so
        keep_alive = head.keep_alive and not self.conn.draining
        memo = rhead.down  # a remembered head: its downstream heads by request shape
        shape = (client_11 | keep_alive << 1 | self.request_done << 2 | clear << 3
                 | success << 4 | framing << 5)
        down = memo.get(shape) if memo is not None else None
        if down is None:
            down = downstream_head(rhead, framing, client_11, keep_alive, self.request_done,
                                   clear, success)
            if memo is not None:
                memo[shape] = down
        data, chunked, close = down
        if chunked:  # stored only when not the default (Exchange)
            self._down_chunked = True
        if close:
            self._down_close = True
        self.conn.write(data)
        upstream = self.upstream
        if upstream is not None and framing != FRAMING_NONE and (
                framing != FRAMING_LENGTH
                or (rhead.length if rhead.length >= 0 else int(rhead.content_length)) > SMALL_BODY):
            # the client's socket buffer paces the upstream read (a small fixed-length
            # body cannot pile up, so it skips the register/unregister)
            self.conn.transport.registerProducer(upstream.transport, True)
            self._producer_down = True

    def _discard(self: Any, rhead: Any, framing: int, delay: float) -> None:
        """Drop a response that will be retried: drain a small body, else close."""
        self._end_attempt(False)
        self._close_client_request(False)
        self._cancel_attempt_timer()
        self._retry_after = delay
        if framing == FRAMING_NONE:
            self._discarding = True  # response_complete follows at once
            return
        length = rhead.length if rhead.length >= 0 else (
            int(rhead.content_length) if rhead.content_length is not None else -1)
        if framing == FRAMING_CHUNKED or (framing == FRAMING_LENGTH and length <= DRAIN_LIMIT):
            self._discarding = True
            self.set_timer(DRAIN_S, self._drain_timeout)
            return
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.set_timer(delay, self._client_request)

    def _retry_when_whole(self: Any, delay: float) -> None:
        """Answered before the request body was all sent: that connection's framing is in
        doubt, so it is closed; the retry goes out once the rest of the body is in."""
        self._end_attempt(False)
        self._close_client_request(False)
        self._cancel_attempt_timer()
        self._stop_request_flow()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.state = CONNECTING
        self._retry_after = delay
        self._await_body = True

    def _drain_timeout(self: Any) -> None:
        """The dropped response's body is slow: close its connection and retry."""
        self._timer = None
        if self.state == DONE or not self._discarding:
            return
        self._discarding = False
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self.set_timer(self._retry_after, self._client_request)

    def response_body(self: Any, data: bytes) -> None:
        if self.state != RESPONDING:
            if self._discarding:
                self._drained += len(data)
                if self._drained > DRAIN_LIMIT:  # a big chunked body: close, retry now
                    timer = self._timer
                    if timer is not None and timer.active():
                        timer.cancel()
                    self._drain_timeout()
            return
        if self._down_chunked:
            self.conn.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.conn.write(data)

    def response_complete(self: Any) -> None:
        if self._discarding:
            # the connection goes back to its pool when this returns; the retry starts on
            # a later turn of the reactor (after its backoff), so it may reuse it
            self._discarding = False
            self.upstream = None
            self.set_timer(self._retry_after, self._client_request)
            return
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
        success = self._success
        self._end_attempt(success)
        now = self.router.now()
        self._close_client_request(success, now)
        self.router.exchange_done(self, success, now)
        self.conn.exchange_finished(self, not self._down_close)

    def _stop_response_flow(self: Any) -> None:
        if self._producer_down:
            self._producer_down = False
            if not self.conn.lost:
                self.conn.transport.unregisterProducer()
            upstream = self.upstream
            if upstream is not None and not upstream.closed:
                # the client's buffer may have paused this connection's reading on the last
                # write: a connection going back to its pool must read again
                upstream.transport.resumeProducing()

    def _abort_downstream(self: Any) -> None:
        self.state = DONE
        self.status = -1
        self._cancel_timer()
        self._stop_response_flow()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abort()
        self._end_attempt(False)
        self._close_client_request(False)
        self.router.exchange_done(self, False)
        self.conn.abort()
