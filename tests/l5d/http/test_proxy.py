"""l5d.http.proxy.Exchange on a Clock: timeouts at their boundaries, re-send decisions.

The exchange is driven directly, with small fakes for the client connection,
the router, the endpoint pool and the upstream connection, and a
``MemoryReactorClock`` for time (the real-socket behaviour is in
``tests/integration/test_upstream_faults.py``).
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.testing import MemoryReactorClock

from dtab import Path
from l5d.config.service_policy import ResponseClassifierConfig, ServiceParams
from l5d.http.client import FRAMING_LENGTH, ResponseHead
from l5d.http.proxy import DONE, RESPONDING, Exchange
from l5d.http.server import RequestHead
from l5d.http.service import Service
from l5d.lb import Balancer
from l5d.retry import retry_budget
from l5d.telemetry.stats import Stats


class FakeTransport:
    def __init__(self) -> None:
        self.producer: Any = None
        self.resumed = 0

    def resumeProducing(self) -> None:
        self.resumed += 1

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert self.producer is None
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None


class FakeConn:
    """The client side: records what the exchange writes and how it ends."""

    def __init__(self) -> None:
        self.written = b""
        self.finished: list[bool] = []
        self.aborted = False
        self.lost = False
        self.draining = False  # shutting down: responses say Connection: close
        self.paused: set[str] = set()
        self.transport = FakeTransport()

    def write(self, data: bytes) -> None:
        self.written += data

    def pause_reading(self, reason: str) -> None:
        self.paused.add(reason)

    def resume_reading(self, reason: str) -> None:
        self.paused.discard(reason)

    def exchange_finished(self, ex: Any, keep_alive: bool) -> None:
        self.finished.append(keep_alive)

    def abort(self) -> None:
        self.aborted = True

    def cork(self) -> bool:
        return False

    def uncork(self) -> None:
        pass


class FakeUpstream:
    def __init__(self, pool: "FakePool") -> None:
        self.pool = pool
        self.written = b""
        self.aborted = False
        self.sent = False
        self.closed = False
        self.reused = False
        self.exchange: Any = None
        self.transport = FakeTransport()

    def start(self, ex: Any, head_request: bool) -> None:
        self.exchange = ex

    def write(self, data: bytes) -> None:
        self.written += data

    def request_sent(self) -> None:
        self.sent = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True


class FakePool:
    """``acquire`` answers at once with a new upstream (or a failure), or waits if ``hold``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.made: list[FakeUpstream] = []
        self.released: list[FakeUpstream] = []
        self.hold = False
        self.fail_with: str | None = None
        self.reuse = False  # hand out connections that carried an exchange before
        self.waiting: list[Any] = []

    def acquire(self, on_ready, on_fail) -> None:
        if self.fail_with is not None:
            on_fail(self, self.fail_with)
            return
        if self.hold:
            self.waiting.append(on_ready)
            return
        up = FakeUpstream(self)
        up.reused = self.reuse
        self.made.append(up)
        on_ready(up)

    def complete_connect(self) -> FakeUpstream:
        up = FakeUpstream(self)
        self.made.append(up)
        self.waiting.pop(0)(up)
        return up

    def release(self, up: FakeUpstream) -> None:
        self.released.append(up)


class FakeRoute:
    """A client over fake pools: a real round-robin balancer, real counters and budget."""

    def __init__(self, *pools: FakePool, attempt_s: float | None = None,
                 clock: Any = None) -> None:
        self.id = Path.read("/$/inet/127.0.0.1/8080")
        self.clock = clock
        self.attempt_timeout_s = attempt_s
        self.balancer = Balancer("roundRobin", rng=random.Random(1), now=self._now)
        self.balancer.update([(p.name, p) for p in pools])
        stats = Stats().scope("client")
        self.stats = stats
        for name in ("requests", "success", "failures", "connect_failures", "requeues",
                     "budget_exhausted", "not_open"):
            setattr(self, "c_" + name, stats.counter(name))
        self.status = stats.statuses()
        self.latency = stats.stat("request_latency_ms", scale=1000)
        self.requeue_budget = retry_budget(10, 10, 0.2, self._now)

    def _now(self) -> float:
        return self.clock.seconds() if self.clock is not None else 0.0

    @property
    def pools(self) -> list[FakePool]:
        return [n.endpoint for n in self.balancer.nodes]

    @property
    def size(self) -> int:
        return len(self.balancer.nodes)

    def any_open(self) -> bool:
        return self.open

    open = True


class FakeServer:
    clear_context = False


class FakeRouter:
    """Routes every exchange at once to ``route`` (or leaves it binding if ``route`` is None)."""

    max_err_bytes = 1 << 20
    max_header_bytes = 8192
    replay_limit = 5 * 1024
    record_stats = True

    def __init__(
        self, route: FakeRoute | None, total_s: float | None = None, attempt_s: float | None = None,
        classifier: str = "io.l5d.http.nonRetryable5XX", params: Any = None,
        deadline: Any = None,
    ) -> None:
        self.reactor = MemoryReactorClock()
        self.route = route
        if route is not None:
            route.clock = self.reactor
            route.attempt_timeout_s = attempt_s
        self.params = params or ServiceParams(
            total_timeout_s=total_s, response_classifier=ResponseClassifierConfig(classifier))
        self.deadline = deadline  # an incoming l5d-ctx-deadline
        self.stats = Stats()
        self.done: list[int] = []
        self.rng = random.Random(2)

    @property
    def requeues(self) -> int:
        return self.route.c_requeues.value

    def now(self) -> float:
        return self.reactor.seconds()

    def wall(self) -> float:
        return 1_700_000_000.0 + self.reactor.seconds()

    def route_exchange(self, ex: Exchange) -> None:
        ex.dst = Path.read("/svc/web")
        ex.svc = Service(self.stats.scope("service"), ex.dst, self.params, self.rng, self.now)
        ex.svc.budget.deposit()
        total_s = self.params.total_timeout_s
        if (total_s is not None or self.deadline is not None) and not ex.set_deadline(
                self.deadline, total_s):
            return
        if self.route is not None:
            ex.send_via(self.route, b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")

    def exchange_done(self, ex: Exchange, ok: bool, now: float | None = None) -> None:
        self.done.append(ex.status)

    def connect_failed_text(self, ex: Exchange, pool: Any, detail: str = "") -> str:
        return "connect failed"


def head(method: str = "GET", length: int | None = None, chunked: bool = False) -> RequestHead:
    return RequestHead(
        method, b"/", "1.1", [(b"Host", b"web")], True, chunked, length, None, "127.0.0.1:1", False
    )


def exchange(router: FakeRouter, h: RequestHead | None = None) -> tuple[Exchange, FakeConn]:
    conn = FakeConn()
    ex = Exchange(conn, h or head(), router, FakeServer())
    ex.start()
    return ex, conn


def respond_head(ex: Exchange) -> None:
    ex.response_head(ResponseHead.of(200, b"OK", [(b"Content-Length", b"4")]), "1.1",
                     FRAMING_LENGTH)


def status_of(conn: FakeConn) -> int:
    return int(conn.written.split(b" ", 2)[1])


class TotalTimeoutTests:
    """service.totalTimeoutMs: from start() until the response is complete."""

    def test_just_before_and_at_the_deadline(self) -> None:
        """0.499 s: nothing; 0.5 s: a 503 with Finagle's text, the upstream aborted, keep-alive
        kept."""
        pool = FakePool("a")
        router = FakeRouter(FakeRoute(pool), total_s=0.5)
        ex, conn = exchange(router)
        router.reactor.advance(0.499)
        assert conn.written == b"" and ex.state != DONE
        router.reactor.advance(0.001)
        assert status_of(conn) == 503
        assert (
            b"exceeded 500.milliseconds to /svc/web while waiting for a response for the request, "
            b"including retries (if applicable)"
        ) in conn.written
        assert pool.made[0].aborted
        assert conn.finished == [True]
        assert router.done == [503]

    def test_while_binding(self) -> None:
        """The deadline covers binding too: an exchange still routing gets its 503."""
        router = FakeRouter(None, total_s=1.0)
        ex, conn = exchange(router)
        router.reactor.advance(1.0)
        assert status_of(conn) == 503

    def test_after_the_head_cuts_the_downstream(self) -> None:
        """Once the head went out the client connection is aborted instead."""
        pool = FakePool("a")
        router = FakeRouter(FakeRoute(pool), total_s=0.5)
        ex, conn = exchange(router)
        respond_head(ex)
        assert ex.state == RESPONDING
        router.reactor.advance(0.5)
        assert conn.aborted and pool.made[0].aborted
        assert router.done == [-1]

    def test_no_timer_outlives_the_exchange(self) -> None:
        """A response complete in time leaves no pending call on the reactor."""
        pool = FakePool("a")
        router = FakeRouter(FakeRoute(pool), total_s=0.5, attempt_s=0.2)
        ex, conn = exchange(router)
        respond_head(ex)
        ex.response_body(b"body")
        ex.response_complete()
        assert router.reactor.getDelayedCalls() == []
        router.reactor.advance(10)
        assert not conn.aborted and router.done == [200]

    def test_none_configured_no_timer(self) -> None:
        """Without timeouts no timer is ever scheduled."""
        router = FakeRouter(FakeRoute(FakePool("a")))
        exchange(router)
        assert router.reactor.getDelayedCalls() == []


class AttemptTimeoutTests:
    """client.requestAttemptTimeoutMs: per attempt, connecting included, re-armed on a re-send."""

    def test_connecting_counts(self) -> None:
        """A connect that never completes: 503 at the attempt timeout, named by the client."""
        pool = FakePool("a")
        pool.hold = True
        router = FakeRouter(FakeRoute(pool), attempt_s=0.25)
        ex, conn = exchange(router)
        router.reactor.advance(0.249)
        assert conn.written == b""
        router.reactor.advance(0.001)
        assert status_of(conn) == 503
        assert (
            b"exceeded 250.milliseconds to /$/inet/127.0.0.1/8080 while waiting for a response for "
            b"an individual request, excluding retries"
        ) in conn.written
        late = pool.complete_connect()  # the connect completes after all: unused, so pooled
        assert pool.released == [late]

    def test_re_armed_on_re_send(self) -> None:
        """The first attempt fails at 0.2 s and is re-sent: the second gets its own full 0.25 s."""
        a, b = FakePool("a"), FakePool("b")
        a.reuse = True
        router = FakeRouter(FakeRoute(a, b), attempt_s=0.25)
        ex, conn = exchange(router)
        router.reactor.advance(0.2)
        ex.upstream_failed("reset", response_started=False)
        assert router.requeues == 1 and len(b.made) == 1
        router.reactor.advance(0.249)
        assert conn.written == b""
        router.reactor.advance(0.001)
        assert status_of(conn) == 503
        assert b.made[0].aborted


class ReSendTests:
    """Which failures of a stale pooled connection get one more attempt (reliability 5)."""

    def _failed(
        self, h: RequestHead, body: bytes = b""
    ) -> tuple[FakeRouter, FakeConn, FakePool, FakePool]:
        a, b = FakePool("a"), FakePool("b")
        a.reuse = True
        router = FakeRouter(FakeRoute(a, b))
        ex, conn = exchange(router, h)
        if body:
            ex.request_body(body)
        ex.request_complete()
        ex.upstream_failed(
            "upstream closed the connection without a response", response_started=False
        )
        return router, conn, a, b

    def test_get_is_re_sent_to_the_next_endpoint(self) -> None:
        router, conn, a, b = self._failed(head("GET"))
        assert len(b.made) == 1 and conn.written == b""
        assert b.made[0].written.startswith(b"GET / HTTP/1.1")

    def test_put_body_is_re_sent_whole(self) -> None:
        """The body that streamed after the first send is kept and sent again in full."""
        router, conn, a, b = self._failed(head("PUT", length=5), body=b"hello")
        assert a.made[0].written.endswith(b"hello")
        assert b.made[0].written.endswith(b"\r\n\r\nhello")

    def test_post_is_not_re_sent(self) -> None:
        router, conn, a, b = self._failed(head("POST", length=5), body=b"hello")
        assert b.made == [] and status_of(conn) == 502

    def test_chunked_is_not_re_sent(self) -> None:
        router, conn, a, b = self._failed(head("PUT", chunked=True), body=b"hello")
        assert b.made == [] and status_of(conn) == 502

    def test_large_body_is_not_re_sent(self) -> None:
        """Bodies over streamAfterContentLengthKB are streamed, never kept: no re-send."""
        n = 5 * 1024 + 1
        router, conn, a, b = self._failed(head("PUT", length=n), body=b"x" * n)
        assert b.made == [] and status_of(conn) == 502

    def test_a_malformed_answer_is_not_re_sent(self) -> None:
        """A GET whose upstream answered garbage reached a server: 502 at once, no second try."""
        a, b = FakePool("a"), FakePool("b")
        router = FakeRouter(FakeRoute(a, b))
        ex, conn = exchange(router, head("GET"))
        ex.request_complete()
        ex.upstream_failed("malformed response from upstream", response_started=False,
                           answered=True)
        assert b.made == [] and status_of(conn) == 502 and router.requeues == 0

    def test_charged_to_the_requeue_budget(self) -> None:
        """The re-send is paid from the client's requeueBudget; an empty budget means 502."""
        router, conn, a, b = self._failed(head("GET"))
        assert router.route.requeue_budget.balance == 99
        a, b = FakePool("a"), FakePool("b")
        route = FakeRoute(a, b)
        route.requeue_budget = retry_budget(1, 0, 0.0, lambda: 0.0)  # Finagle's empty budget
        router = FakeRouter(route)
        ex, conn = exchange(router, head("GET"))
        ex.upstream_failed("closed", response_started=False)
        assert b.made == [] and status_of(conn) == 502 and route.c_budget_exhausted.value == 1

    def test_only_once(self) -> None:
        """A second failure, on a fresh connection, is a 502."""
        router, conn, a, b = self._failed(head("GET"))
        b.made[0].exchange.upstream_failed("again", response_started=False)
        assert status_of(conn) == 502 and router.requeues == 1

    def test_never_after_a_response_byte(self) -> None:
        """A failure after the head went out cuts the downstream; nothing is re-sent."""
        a, b = FakePool("a"), FakePool("b")
        router = FakeRouter(FakeRoute(a, b))
        ex, conn = exchange(router)
        ex.request_complete()
        respond_head(ex)
        ex.upstream_failed("cut", response_started=True)
        assert conn.aborted and b.made == []


class PoolIdleExpiryTests:
    """Pooled upstream connections idle for POOL_IDLE_S are closed, oldest first, not before."""

    def test_expire_idle_closes_only_connections_idle_long_enough(self) -> None:
        """Just before the limit nothing closes; at the limit the old one closes, the new one stays."""
        from twisted.internet.task import Clock

        from l5d.http.pool import EndpointPool

        class FakeConn:
            def __init__(self) -> None:
                self.closed = False
                self.transport = self

            def loseConnection(self) -> None:
                self.closed = True

        clock = Clock()
        pool = EndpointPool(clock, "127.0.0.1", 1)
        old, new = FakeConn(), FakeConn()
        pool.release(old)
        clock.advance(30)
        pool.release(new)
        clock.advance(29.75)  # 59.75 s idle: not yet
        assert pool.expire_idle(60) == 0 and pool.idle_count == 2
        clock.advance(0.25)  # 60 s: the limit
        assert pool.expire_idle(60) == 1 and old.closed and not new.closed
        assert pool.idle_count == 1
