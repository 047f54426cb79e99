"""The service retry budget and backoff through a real l5d (spec 4.2 and 4.5).

The backend (:class:`~tests.helpers.resilience.Scripted`) answers by target: ``/ok`` is
200, ``/once...`` is 500 the first time and 200 after, ``/twice...`` 500 twice,
``/always...`` 500 every time. The number of requests it saw per target is the number
of attempts.

* Linkerd's ``RetriesEndToEndTest`` with ``budget: {minRetriesPerSec: 0, percentCanRetry:
  0.5}`` (each request deposits half a retry): 200, then 500+200 (one retry), then an
  always-500 that finds the budget empty;
* the default budget (10 retries/s over 10 s, a reserve of 100): one request to an
  always-500 backend is tried 101 times;
* backoff: a retried request waits at least the configured delay; a backoff that would
  end after ``totalTimeoutMs`` is not started (the 5xx is passed on).
"""

from __future__ import annotations

import itertools
import time

import requests

from tests.helpers.l5d_process import L5d
from tests.helpers.resilience import Scripted, stat

TIMEOUT_S = 20
SVC = "rt/http/service/svc/x/"
READ5XX = "io.l5d.http.retryableRead5XX"
_ids = itertools.count()


def get(l5d: L5d, target: str) -> requests.Response:
    return requests.get(f"http://x{target}", proxies={"http": f"http://{l5d.proxy}"},
                        timeout=TIMEOUT_S)


def router(port: int, service_keys: str = "") -> L5d:
    """An l5d in front of ``port`` whose service retries GETs (retryableRead5XX), with
    ``service_keys`` (YAML flow-mapping entries) added to its ``service`` block."""
    keys = ", ".join(k for k in (f"responseClassifier: {{kind: {READ5XX}}}", service_keys) if k)
    return L5d(f"/svc=>/$/inet/127.0.0.1/{port}", router_yaml=f"service: {{{keys}}}\n")


class BudgetTests:
    """How many retries the budget allows."""

    def test_linkerd_retries_end_to_end(self) -> None:
        """percentCanRetry 0.5, no minimum: 200 -> budget 0; 500 then 200 -> one retry,
        budget 0; always 500 -> the 500, budget_exhausted 1 and no second attempt."""
        with Scripted() as b, router(b.port, "retries: {budget: {minRetriesPerSec: 0, "
                                            "percentCanRetry: 0.5, ttlSecs: 10}}") as l5d:
            assert get(l5d, "/ok").status_code == 200
            m = l5d.metrics()
            assert (m[SVC + "retries/budget"], m[SVC + "retries/total"]) == (0, 0)

            assert get(l5d, "/once").status_code == 200
            m = l5d.metrics()
            assert b.count("/once") == 2
            assert (m[SVC + "retries/budget"], m[SVC + "retries/total"]) == (0, 1)
            assert m[SVC + "retries/budget_exhausted"] == 0
            # histograms read the window since the last read (metricsSnapshotIntervalMs: 0)
            assert (m[SVC + "retries/per_request.count"], m[SVC + "retries/per_request.sum"]) \
                == (1, 1)

            rsp = get(l5d, "/always")
            m = l5d.metrics()
            assert (rsp.status_code, rsp.text) == (500, "boom")
            assert b.count("/always") == 1
            assert m[SVC + "retries/total"] == 1
            assert m[SVC + "retries/budget_exhausted"] == 1
            assert (m[SVC + "retries/per_request.count"], m[SVC + "retries/per_request.sum"]) \
                == (1, 0)
            assert (m[SVC + "success"], m[SVC + "failures"]) == (2, 1)

    def test_default_budget_allows_the_reserve(self) -> None:
        """Default budget, always 500: 1 + 100 attempts, the client gets the 500; the next
        request's deposit buys no retry."""
        with Scripted() as b, router(b.port) as l5d:
            rsp = get(l5d, "/always1")
            assert (rsp.status_code, rsp.text) == (500, "boom")
            assert rsp.headers["l5d-success-class"] == "0.0"
            assert b.count("/always1") == 101
            m = l5d.metrics()
            assert m[SVC + "retries/total"] == 100
            assert m[SVC + "retries/budget_exhausted"] == 1
            assert m[SVC + "retries/per_request.max"] == 100
            assert m[SVC + "retries/budget"] == 0
            client_failures = stat(m, "rt/http/client/", "failures")
            assert client_failures == 101  # every attempt, at the client

            assert get(l5d, "/always2").status_code == 500
            assert b.count("/always2") == 1
            assert l5d.metric("svc/x/retries/budget_exhausted") == 2

    def test_budgets_are_per_service(self) -> None:
        """Another name has its own budget: after /svc/x spent its reserve, /svc/y still
        retries."""
        with Scripted() as b, router(b.port) as l5d:
            assert get(l5d, "/always3").status_code == 500
            rsp = requests.get("http://y/once-y", proxies={"http": f"http://{l5d.proxy}"},
                               timeout=TIMEOUT_S)
            assert (rsp.status_code, b.count("/once-y")) == (200, 2)
            m = l5d.metrics()
            assert m["rt/http/service/svc/y/retries/total"] == 1
            assert m["rt/http/service/svc/y/retries/budget"] == 99


class BackoffTests:
    """``service.retries.backoff``."""

    def test_constant_backoff_delays_the_retry(self) -> None:
        """constant 200 ms: a request retried once takes at least 0.2 s."""
        with Scripted() as b, router(
                b.port, "retries: {backoff: {kind: constant, ms: 200}}") as l5d:
            target = f"/once{next(_ids)}"
            started = time.monotonic()
            rsp = get(l5d, target)
            elapsed = time.monotonic() - started
            assert (rsp.status_code, b.count(target)) == (200, 2)
            assert elapsed >= 0.2

    def test_jittered_backoff_waits_at_least_min_each_time(self) -> None:
        """jittered 150..300 ms, two retries: at least 2 x 150 ms."""
        with Scripted() as b, router(
                b.port, "retries: {backoff: {kind: jittered, minMs: 150, maxMs: 300}}") as l5d:
            target = f"/twice{next(_ids)}"
            started = time.monotonic()
            rsp = get(l5d, target)
            elapsed = time.monotonic() - started
            assert (rsp.status_code, b.count(target)) == (200, 3)
            assert elapsed >= 0.3
            assert l5d.metric("svc/x/retries/total") == 2

    def test_no_backoff_past_the_total_timeout(self) -> None:
        """totalTimeoutMs 300 and a 1 s backoff: the retry would end after the deadline, so
        the 500 is passed on at once (not a 503 from the timeout) and nothing is charged."""
        keys = "totalTimeoutMs: 300, retries: {backoff: {kind: constant, ms: 1000}}"
        with Scripted() as b, router(b.port, keys) as l5d:
            rsp = get(l5d, "/always-deadline")
            assert (rsp.status_code, rsp.text) == (500, "boom")
            assert b.count("/always-deadline") == 1
            m = l5d.metrics()
            assert m[SVC + "retries/total"] == 0
            assert m[SVC + "retries/budget"] == 100
