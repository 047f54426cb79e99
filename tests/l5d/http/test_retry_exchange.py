"""Retries, requeues and deadlines in :class:`l5d.http.proxy.Exchange`, on a Clock.

The exchange is driven with the fakes of ``test_proxy`` (a real round-robin balancer
over fake pools, the real :class:`~l5d.http.service.Service` with its classifier,
budget and backoff); the real-socket behaviour is in ``tests/integration/``.
"""

from __future__ import annotations

from l5d.config.retries import Backoff, RetryBudgetConfig
from l5d.config.service_policy import ResponseClassifierConfig, ServiceParams
from l5d.http.client import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, ResponseHead
from l5d.http.deadline import Deadline, parse
from l5d.http.proxy import DONE, Exchange
from tests.l5d.http.test_proxy import (
    FakePool, FakeRoute, FakeRouter, exchange, head, status_of,
)

READ = "io.l5d.http.retryableRead5XX"
ALL = "io.l5d.http.retryableAll5XX"


def answer(ex: Exchange, status: int, body: bytes = b"xx", headers=(),
           framing: int = FRAMING_LENGTH) -> None:
    """The upstream answers ``status`` with ``body`` (head, body, complete)."""
    hdrs = [(b"Content-Length", b"%d" % len(body))] if framing == FRAMING_LENGTH else []
    ex.response_head(ResponseHead.of(status, b"X", hdrs + list(headers)), "1.1", framing)
    if body and framing != FRAMING_NONE:
        ex.response_body(body)
    ex.response_complete()


def setup(classifier: str = READ, params: ServiceParams | None = None, total_s=None,
          deadline=None):
    a, b = FakePool("a"), FakePool("b")
    router = FakeRouter(FakeRoute(a, b), total_s=total_s, classifier=classifier, params=params,
                        deadline=deadline)
    return router, a, b


def service_params(classifier: str = READ, **kw) -> ServiceParams:
    return ServiceParams(response_classifier=ResponseClassifierConfig(classifier), **kw)


class ResponseRetryTests:
    def test_a_retryable_500_is_never_shown_and_goes_elsewhere(self) -> None:
        router, a, b = setup()
        ex, conn = exchange(router)
        answer(ex, 500)
        assert conn.written == b"" and ex.state != DONE
        router.reactor.advance(0)  # the retry starts on the next turn (the connection is back)
        assert len(b.made) == 1
        answer(ex, 200)
        assert status_of(conn) == 200 and b"l5d-success-class: 1.0" in conn.written
        assert ex.svc.c_retries.value == 1 and ex.retries == 1
        route = router.route
        # the client counts each attempt: one failure, one success
        assert (route.c_requests.value, route.c_success.value, route.c_failures.value) == (2, 1, 1)

    def test_default_classifier_passes_the_500_on(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        ex, conn = exchange(router)
        answer(ex, 500)
        assert status_of(conn) == 500 and b"l5d-success-class: 0.0" in conn.written
        assert b.made == [] and ex.svc.failures.value == 0  # the router counts; the fake not

    def test_all_successful_marks_a_500_a_success(self) -> None:
        router, a, b = setup("io.l5d.http.allSuccessful")
        ex, conn = exchange(router)
        answer(ex, 500)
        assert status_of(conn) == 500 and b"l5d-success-class: 1.0" in conn.written

    def test_post_is_not_retried_by_read5xx_but_by_all5xx(self) -> None:
        for classifier, retried in ((READ, False), (ALL, True)):
            router, a, b = setup(classifier)
            ex, conn = exchange(router, head("POST", length=2))
            ex.request_body(b"hi")
            ex.request_complete()
            answer(ex, 503)
            router.reactor.advance(0)
            assert (len(b.made) == 1) is retried, classifier
            if retried:
                assert b.made[0].written.endswith(b"\r\n\r\nhi")

    def test_l5d_retryable_is_honoured_for_any_method(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        ex, conn = exchange(router, head("POST", length=2))
        ex.request_body(b"hi")
        ex.request_complete()
        answer(ex, 502, headers=[(b"l5d-retryable", b"true")])
        router.reactor.advance(0)
        assert len(b.made) == 1

    def test_a_retry_after_0_nack_is_retried(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        ex, conn = exchange(router)
        answer(ex, 503, headers=[(b"Retry-After", b"0")])
        router.reactor.advance(0)
        assert len(b.made) == 1

    def test_a_streamed_body_is_never_retried(self) -> None:
        router, a, b = setup(ALL)
        n = 5 * 1024 + 1
        ex, conn = exchange(router, head("PUT", length=n))
        ex.request_body(b"x" * n)
        ex.request_complete()
        answer(ex, 500)
        assert status_of(conn) == 500 and b.made == []

    def test_a_chunked_body_is_never_retried(self) -> None:
        router, a, b = setup(ALL)
        ex, conn = exchange(router, head("PUT", chunked=True))
        ex.request_body(b"x")
        ex.request_complete()
        answer(ex, 500)
        assert status_of(conn) == 500 and b.made == []

    def test_budget_spent_the_500_goes_back(self) -> None:
        params = service_params(retry_budget=RetryBudgetConfig(10, 0, 0.5))
        router, a, b = setup(params=params)
        ex, conn = exchange(router)  # deposits 1000, a retry costs 2000
        answer(ex, 500)
        assert status_of(conn) == 500 and b.made == []
        assert ex.svc.c_budget_exhausted.value == 1

    def test_retries_stop_when_the_budget_does(self) -> None:
        """Always 500: 1 attempt + the reserve of 100 retries (Linkerd's default budget)."""
        router, a, b = setup()
        ex, conn = exchange(router)
        attempts = 0
        while ex.state != DONE:
            attempts += 1
            up = (a.made + b.made)[-1]
            assert up.exchange is ex
            answer(ex, 500)
            router.reactor.advance(0)
        assert attempts == 101 and status_of(conn) == 500
        assert ex.svc.c_retries.value == 100 and ex.svc.c_budget_exhausted.value == 1


class DrainTests:
    def test_chunked_500_is_drained_then_retried(self) -> None:
        router, a, b = setup()
        ex, conn = exchange(router)
        answer(ex, 500, body=b"oops", framing=FRAMING_CHUNKED)
        assert conn.written == b"" and not a.made[0].aborted
        router.reactor.advance(0)
        assert len(b.made) == 1

    def test_a_large_500_body_closes_its_connection(self) -> None:
        router, a, b = setup()
        ex, conn = exchange(router)
        ex.response_head(ResponseHead.of(500, b"X", [(b"Content-Length", b"100000")]), "1.1",
                         FRAMING_LENGTH)
        assert a.made[0].aborted and conn.written == b""
        router.reactor.advance(0)
        assert len(b.made) == 1

    def test_a_slow_500_body_is_given_up_after_a_second(self) -> None:
        router, a, b = setup()
        ex, conn = exchange(router)
        ex.response_head(ResponseHead.of(500, b"X", [(b"Content-Length", b"10")]), "1.1",
                         FRAMING_LENGTH)
        router.reactor.advance(0.999)
        assert not a.made[0].aborted and b.made == []
        router.reactor.advance(0.001)
        assert a.made[0].aborted
        router.reactor.advance(0)
        assert len(b.made) == 1


class BackoffAndDeadlineTests:
    def test_constant_backoff_delays_the_retry(self) -> None:
        params = service_params(retry_backoff=Backoff.constant(0.2))
        router, a, b = setup(params=params)
        ex, conn = exchange(router)
        answer(ex, 500)
        router.reactor.advance(0.199)
        assert b.made == []
        router.reactor.advance(0.001)
        assert len(b.made) == 1

    def test_no_retry_whose_backoff_ends_past_the_total_timeout(self) -> None:
        params = service_params(retry_backoff=Backoff.constant(1.0), total_timeout_s=0.5)
        router, a, b = setup(params=params)
        ex, conn = exchange(router)
        answer(ex, 500)
        assert status_of(conn) == 500 and b.made == []
        assert ex.svc.budget.balance == 100  # nothing withdrawn for a retry never made

    def test_an_expired_deadline_is_a_503_and_nothing_is_sent(self) -> None:
        wall_ns = int(1_700_000_000.0 * 1e9)
        router, a, b = setup(deadline=Deadline(wall_ns - 2_000_000_000, wall_ns - 1))
        ex, conn = exchange(router)
        assert status_of(conn) == 503 and b"deadline" in conn.written
        assert a.made == [] and b.made == []

    def test_the_deadline_ends_the_request_and_is_propagated(self) -> None:
        wall_ns = int(1_700_000_000.0 * 1e9)
        incoming = Deadline(wall_ns - 1000, wall_ns + 300_000_000)  # 0.3 s left
        router, a, b = setup(deadline=incoming)
        ex, conn = exchange(router)
        sent = a.made[0].written
        value = [line.split(b": ", 1)[1] for line in sent.split(b"\r\n")
                 if line.startswith(b"l5d-ctx-deadline: ")]
        assert parse(value) == incoming
        router.reactor.advance(0.299)
        assert conn.written == b""
        router.reactor.advance(0.001)
        assert status_of(conn) == 503 and a.made[0].aborted

    def test_a_total_timeout_stricter_than_the_deadline_is_what_goes_upstream(self) -> None:
        wall_ns = int(1_700_000_000.0 * 1e9)
        incoming = Deadline(wall_ns - 1000, wall_ns + 5_000_000_000)
        params = service_params(total_timeout_s=0.25)
        router, a, b = setup(params=params, deadline=incoming)
        exchange(router)
        line = [ln for ln in a.made[0].written.split(b"\r\n")
                if ln.startswith(b"l5d-ctx-deadline: ")][0]
        got = parse([line.split(b": ", 1)[1]])
        assert got == Deadline(wall_ns, wall_ns + 250_000_000)

    def test_no_deadline_no_header(self) -> None:
        router, a, b = setup()
        exchange(router)
        assert b"l5d-ctx-deadline" not in a.made[0].written


class TimeoutRetryTests:
    def test_an_attempt_timeout_is_retried_under_read5xx(self) -> None:
        a, b = FakePool("a"), FakePool("b")
        router = FakeRouter(FakeRoute(a, b), attempt_s=0.25, classifier=READ)
        ex, conn = exchange(router)
        router.reactor.advance(0.25)
        assert a.made[0].aborted and len(b.made) == 1 and conn.written == b""
        answer(ex, 200)
        assert status_of(conn) == 200

    def test_not_under_the_default(self) -> None:
        a, b = FakePool("a"), FakePool("b")
        router = FakeRouter(FakeRoute(a, b), attempt_s=0.25)
        ex, conn = exchange(router)
        router.reactor.advance(0.25)
        assert status_of(conn) == 503 and b.made == []


class ConnectRequeueTests:
    def test_a_refused_connect_goes_to_the_other_endpoint_for_free(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        a.fail_with = "connection refused"
        ex, conn = exchange(router, head("POST", length=2))
        ex.request_body(b"hi")
        ex.request_complete()
        assert len(b.made) == 1 and router.route.c_requeues.value == 1
        assert router.route.requeue_budget.balance == 100  # requeues after connect are free

    def test_all_refused_is_a_retryable_502(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        a.fail_with = b.fail_with = "connection refused"
        ex, conn = exchange(router)
        assert status_of(conn) == 502 and b"l5d-retryable: true" in conn.written
        assert router.route.c_requeues.value == 25  # FakeRoute.any_open is always True


class FlowControlTests:
    def test_a_paused_upstream_reads_again_before_it_is_pooled(self) -> None:
        """The client's buffer may pause the upstream on the last write of a big body; the
        connection must read again before it goes back to its pool."""
        router, a, b = setup()
        ex, conn = exchange(router)
        ex.response_head(ResponseHead.of(200, b"OK", [(b"Content-Length", b"100000")]), "1.1",
                         FRAMING_LENGTH)
        up = a.made[0]
        assert conn.transport.producer is up.transport
        ex.response_body(b"x" * 100000)
        ex.response_complete()
        assert conn.transport.producer is None and up.transport.resumed == 1


class DrainLimitTests:
    def test_a_big_chunked_500_closes_its_connection(self) -> None:
        router, a, b = setup()
        ex, conn = exchange(router)
        ex.response_head(ResponseHead.of(500, b"X", []), "1.1", FRAMING_CHUNKED)
        ex.response_body(b"x" * 40000)
        assert not a.made[0].aborted
        ex.response_body(b"x" * 40000)
        assert a.made[0].aborted and conn.written == b""
        router.reactor.advance(0)
        assert len(b.made) == 1


class PanicRequeueTests:
    def test_with_every_endpoint_down_each_other_one_is_tried_once(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        router.route.open = False  # every endpoint marked down: the balancer fails open
        a.fail_with = "connection refused"
        ex, conn = exchange(router)
        assert (len(a.made), len(b.made)) == (0, 1) and router.route.c_requeues.value == 1
        answer(ex, 200)
        assert status_of(conn) == 200

    def test_then_a_502(self) -> None:
        router, a, b = setup("io.l5d.http.nonRetryable5XX")
        router.route.open = False
        a.fail_with = b.fail_with = "connection refused"
        ex, conn = exchange(router)
        assert status_of(conn) == 502 and router.route.c_requeues.value == 1
        assert router.route.c_not_open.value == 1


class LateBodyRetryTests:
    def test_an_answer_before_the_body_is_whole_is_retried_once_it_is(self) -> None:
        router, a, b = setup(ALL)
        ex, conn = exchange(router, head("PUT", length=4))
        ex.request_body(b"ab")
        answer(ex, 503)
        assert a.made[0].aborted and conn.written == b"" and b.made == []
        ex.request_body(b"cd")
        assert b.made == []
        ex.request_complete()
        router.reactor.advance(0)
        assert b.made[0].written.endswith(b"\r\n\r\nabcd")
        answer(ex, 200)
        assert status_of(conn) == 200
