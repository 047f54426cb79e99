"""Sending a request upstream, attempt by attempt (the exchange's upstream half; Twisted shell).

An attempt is one try on one endpoint: the client's balancer picks a node, its pool
gives a connection, the head (with the deadline this attempt has) and the body go out.
What happens when an attempt fails is decided by :mod:`l5d.retry.safety` and the
service's classifier:

* a connect failure is requeued to another pick at no charge while the client has an
  endpoint that is up (at most 25 times; when none is, each other endpoint once), then
  answered 502 with ``l5d-retryable: true``
  (nothing reached the application: the caller may send it elsewhere);
* a connection that closed before any response byte requeues an idempotent, buffered
  request once, charged to the client's ``requeueBudget``;
* otherwise the failure (``closed``, ``framing``, ``timeout``, ``connect``) is classified,
  and a ``RETRYABLE`` verdict on a buffered request is retried (a new client request,
  another pick) if the service's retry budget and the deadline allow, after its backoff;
* else the client gets Linkerd's error response.

Every attempt that got a node releases it exactly once (:meth:`Attempts._end_attempt`),
telling the balancer (load, latency) and the endpoint's failure accrual the outcome.
"""

from __future__ import annotations

from typing import Any

from l5d.http.deadline import Deadline
from l5d.http.upstream_request import with_deadline
from l5d.lb import OPEN
from l5d.retry import Outcome
from l5d.retry.safety import may_requeue_connect, may_requeue_unanswered, may_retry
from l5d.router.route import attempt_timeout_message, no_endpoints_message

# states, shared with proxy.py
NEW, ROUTING, CONNECTING, SENT, RESPONDING, DONE = range(6)


class Attempts:
    """The upstream half of :class:`~l5d.http.proxy.Exchange` (a mixin; no state of its own)."""

    # -- starting ------------------------------------------------------------
    def send_via(self: Any, route: Any, up_head: bytes, now: float | None = None) -> None:
        """Routing succeeded (at ``now``, when the router read the clock): the first request
        to the client ``route``."""
        self.route = route
        self._up_head = up_head
        self.state = CONNECTING
        self._client_request(now)

    def _client_request(self: Any, now: float | None = None) -> None:
        """A request to the client (the first, or a retry): counted, then an attempt."""
        if self._timer is not None:  # (stored only when set: see Exchange's docstring)
            self._timer = None
        if self.state == DONE:
            return
        self.state = CONNECTING
        self.route.c_requests.value += 1
        self._in_client = True
        self._up_status = 0
        self._client_at = self.router.now() if now is None else now
        self._attempt()

    def _attempt(self: Any) -> None:
        client = self.route
        node = client.balancer.pick()
        if node is None:
            self.fail(502, no_endpoints_message(self.dst, client.id))
            return
        if node is self._avoid:
            node = self._elsewhere(client.balancer, node)
        self._node = self.picked = node
        self._token = client.balancer.acquired(node)
        timeout = client.attempt_timeout_s
        if timeout is not None:
            expires = self._expires
            if expires is None or self.router.now() + timeout < expires:
                # a deadline sooner than the attempt timeout is the total timer's to enforce
                self._attempt_timer = self.router.reactor.callLater(timeout,
                                                                    self._attempt_timeout)
        waiter = node.endpoint.acquire(self._connected, self._connect_failed)
        if waiter is not None:  # waiting for a connection of a full pool
            self._waiter = waiter

    def _elsewhere(self: Any, balancer: Any, node: Any) -> Any:
        """A pick other than ``node`` (where the last attempt failed), if there is one:
        more picks, then the first other endpoint that is up."""
        for _ in range(4):
            other = balancer.pick()
            if other is not node:
                return other
        now = self.router.now()
        for other in balancer.nodes:
            if other is not node and other.status(now) == OPEN:
                return other
        return node

    def _end_attempt(self: Any, success: bool | None) -> None:
        """Release the attempt's node: ``success`` True, False, or None (neither)."""
        node = self._node
        if node is None:
            return
        self._node = None
        if not success:
            self._avoid = node  # a retry or requeue goes elsewhere if it can
        self.route.balancer.released(node, self._token)
        health = node.health
        if health is not None:
            if success:
                health.succeeded()
            elif success is None:
                health.ignored()
            else:
                health.failed()

    def _close_client_request(self: Any, success: bool, now: float | None = None) -> None:
        """The client request is over: its stats, and a requeue-budget deposit on success."""
        if self._in_client:
            self._in_client = False
            client = self.route
            if now is None:
                now = self.router.now()
            if success:
                client.requeue_budget.deposit(now)
            if not self.router.record_stats:
                return
            (client.c_success if success else client.c_failures).value += 1
            status = self._up_status
            if status:
                table = client.status
                table[status] = table.get(status, 0) + 1
            client.latency.add(int((now - self._client_at) * 1e6))

    def _cancel_attempt_timer(self: Any) -> None:
        timer = self._attempt_timer
        if timer is not None:
            self._attempt_timer = None
            if timer.active():
                timer.cancel()

    # -- connecting ----------------------------------------------------------
    def _connect_failed(self: Any, pool: Any, detail: str, local: bool = False) -> None:
        if self._waiter is not None:
            self._waiter = None
        if self.state == DONE:
            return
        self._cancel_attempt_timer()
        node = self._node
        self._node = None
        client = self.route
        if node is not None:
            self._avoid = node
            client.balancer.released(node, self._token)
            if node.health is not None and not local:  # a full pool is not the endpoint's fault
                node.health.acquire_failed()
        client.c_connect_failures.value += 1
        any_open = client.any_open()
        if (may_requeue_connect(self._requeues, any_open, client.size)
                and not (local and self._requeues + 1 >= client.size)  # full pools: each once
                and not self._past_deadline()):
            self._requeues += 1
            client.c_requeues.value += 1
            self._attempt()
            return
        if not any_open:
            client.c_not_open.value += 1
        # requeues are spent (Finagle flags the failure non-retryable then, so the service
        # does not retry it either); nothing reached anyone: the caller may send it elsewhere
        self._close_client_request(False)
        if local:  # l5d's own limit (hostConnectionPool): overloaded, not unreachable
            self.fail(503, f"{detail}: {pool.host}:{pool.port}", retryable=True)
        else:
            self.fail(502, self.router.connect_failed_text(self, pool, detail), retryable=True)

    def _connected(self: Any, upstream: Any) -> None:
        if self._waiter is not None:
            self._waiter = None
        if self.state == DONE:  # failed or timed out while connecting: the connection is unused
            if not upstream.closed:
                upstream.pool.release(upstream)
            return
        node = self._node
        if node is not None and node.health is not None:
            node.health.dispatched()
        self.upstream = upstream
        self.state = SENT
        head = self.head
        upstream.start(self, head.method == "HEAD")
        up_head = self._up_head
        attempt_s = self.route.attempt_timeout_s
        if self._ctx_deadline is not None or attempt_s is not None:
            deadline = self._ctx_deadline
            if attempt_s is not None:
                deadline = Deadline.after(self.router.wall(), attempt_s).combined(deadline)
            up_head = with_deadline(up_head, deadline)
        if head.expect_continue and not self.request_done and not self._body:
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._body
        if body:
            if head.chunked:
                parts = [up_head]
                for chunk in body:
                    parts.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                upstream.write(b"".join(parts))
            else:
                upstream.write(up_head + b"".join(body))
            if not self._keep_body:
                self._body = None
        else:
            upstream.write(up_head)
        if self._paused_for_buffer:
            self._paused_for_buffer = False
            self.conn.resume_reading("body-buffer")
        if self.request_done:
            if head.chunked:
                upstream.write(b"0\r\n\r\n")
            upstream.request_sent()
        else:
            self._pace_request_body(upstream)

    # -- failures ------------------------------------------------------------
    def upstream_failed(self: Any, message: str, response_started: bool,
                        answered: bool = False) -> None:
        """The upstream connection failed. ``answered``: it sent bytes (a malformed response),
        so the request reached a server."""
        if self.state == DONE:
            return
        self.upstream = None
        if self._discarding:
            # the retryable response being dropped broke off: the retry is decided already
            self._discarding = False
            self.set_timer(self._retry_after, self._client_request)
            return
        if self.state == RESPONDING or response_started:
            self._abort_downstream()
            return
        self._stop_request_flow()
        self._cancel_attempt_timer()
        self._end_attempt(False)
        if may_requeue_unanswered(self.head.method, answered,
                                  self._keep_body and self.request_done, self._resent):
            # typically a pooled connection the server had closed: once more, elsewhere
            client = self.route
            if client.requeue_budget.try_withdraw():
                self._resent = True
                client.c_requeues.value += 1
                self.state = CONNECTING
                self._attempt()
                return
            client.c_budget_exhausted.value += 1
        self._attempt_failed("framing" if answered else "closed", 502, message)

    def _attempt_timeout(self: Any) -> None:
        self._attempt_timer = None
        if self.state == DONE:
            return
        if self.state == RESPONDING:
            self._abort_downstream()
            return
        upstream, self.upstream = self.upstream, None
        self._stop_request_flow()
        if upstream is not None:
            upstream.abort()
        if self._discarding:
            self._discarding = False
            self.set_timer(self._retry_after, self._client_request)
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.cancel()
        self._end_attempt(False)
        route = self.route
        self._attempt_failed("timeout", 503,
                             attempt_timeout_message(route.attempt_timeout_s, route.id))

    def _attempt_failed(self: Any, error: str, status: int, message: str,
                        retryable: bool = False) -> None:
        """The client request failed without a response: retry it, or answer ``status``."""
        self._close_client_request(False)
        cls = self.svc.classify(Outcome(self.head.method, error=error,
                                        streamed=not self._keep_body))
        if may_retry(cls, self._keep_body and self.request_done, False):
            delay = self._retry_delay()
            if delay is not None:
                if delay > 0:
                    self.set_timer(delay, self._client_request)
                else:
                    self._client_request()
                return
        self.fail(status, message, retryable=retryable)

    def _retry_delay(self: Any) -> float | None:
        """A retry is allowed: its backoff delay, charged to the service's budget; or ``None``
        when the deadline would pass first or the budget is spent."""
        svc = self.svc
        delay = 0.0
        if svc.backoff is not None:
            if self._backoff is None:
                self._backoff = svc.backoff()
            delay = next(self._backoff)
        expires = self._expires
        if expires is not None and self.router.now() + delay >= expires:
            return None
        if not svc.budget.try_withdraw():
            svc.c_budget_exhausted.value += 1
            return None
        self.retries += 1
        svc.c_retries.value += 1
        return delay

    def _past_deadline(self: Any) -> bool:
        expires = self._expires
        return expires is not None and self.router.now() >= expires
