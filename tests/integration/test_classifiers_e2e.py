"""Response classifiers end to end (spec 5.3 and 5.5): a real l5d per kind, a real backend.

The backend answers the first request for each target with a scripted 5xx and every
later one with 200, so the number of requests it saw for a target is the number of
attempts: 2 means l5d retried, 1 means it passed the 5xx on. Each case also checks the
``l5d-success-class`` header and the success/failure counters of the three scopes
(server, service, client: the client counts every attempt, the others every request).
"""

from __future__ import annotations

import itertools

import pytest
import requests

from tests.helpers.l5d_process import L5d
from tests.helpers.resilience import OK, Backend, answer, stat

TIMEOUT_S = 20
ROUTER = "cls"

DEFAULT = "io.l5d.http.nonRetryable5XX"
READ = "io.l5d.http.retryableRead5XX"
IDEMPOTENT = "io.l5d.http.retryableIdempotent5XX"
ALL = "io.l5d.http.retryableAll5XX"
ALL_SUCCESSFUL = "io.l5d.http.allSuccessful"

#: the methods whose 500 each kind retries (spec 5.3's truth table)
RETRIED = {
    DEFAULT: set(),
    READ: {"GET"},
    IDEMPOTENT: {"GET", "PUT"},
    ALL: {"GET", "PUT", "POST"},
    ALL_SUCCESSFUL: set(),
}
_ids = itertools.count()


class Routed:
    """One l5d with ``kind`` as the router-wide classifier, and its backend."""

    def __init__(self, kind: str | None) -> None:
        self.kind = kind or DEFAULT
        self._first: dict[str, bytes] = {}
        self.backend = Backend(self._respond)
        service = f"service: {{responseClassifier: {{kind: {kind}}}}}\n" if kind else ""
        self.l5d = L5d(f"/svc=>/$/inet/127.0.0.1/{self.backend.port}",
                       router_yaml=f"label: {ROUTER}\n{service}"
                                   "client: {failureAccrual: {kind: none}}\n")

    def _respond(self, seen):
        """The target's scripted first answer (a 500 unless given), then 200 ``ok``."""
        if self.backend.count(seen.target) == 1:
            return self._first.get(seen.target, answer(500, b"boom"))
        return OK

    def send(self, method: str, first: bytes | None = None) -> tuple[requests.Response, str, dict]:
        """One request to a fresh target (answered ``first`` once, if given, else a 500
        once); the response, the target and the stats deltas."""
        target = f"/c{next(_ids)}"
        if first is not None:
            self._first[target] = first
        before = self.l5d.metrics()
        rsp = requests.request(method, f"http://x{target}",
                               data=b"payload" if method != "GET" else None,
                               proxies={"http": f"http://{self.l5d.proxy}"}, timeout=TIMEOUT_S)
        after = self.l5d.metrics()
        deltas = {}
        for scope, prefix in (("server", f"rt/{ROUTER}/server/"),
                              ("service", f"rt/{ROUTER}/service/svc/x/"),
                              ("client", f"rt/{ROUTER}/client/")):
            for name in ("success", "failures"):
                deltas[f"{scope}/{name}"] = stat(after, prefix, name) - stat(before, prefix, name)
        name = f"rt/{ROUTER}/service/svc/x/retries/total"
        deltas["retries"] = after[name] - before.get(name, 0)
        return rsp, target, deltas


@pytest.fixture(scope="module", params=[None, DEFAULT, READ, IDEMPOTENT, ALL, ALL_SUCCESSFUL],
                ids=["unset", "nonRetryable5XX", "read5XX", "idempotent5XX", "all5XX",
                     "allSuccessful"])
def routed(request):
    r = Routed(request.param)
    with r.backend, r.l5d:
        yield r


class ClassifierTableTests:
    """GET, PUT and POST answered 500 once, under each kind (and with none configured)."""

    @pytest.mark.parametrize("method", ["GET", "PUT", "POST"])
    def test_500_once(self, routed, method: str) -> None:
        """Retried exactly when the kind's method set has the method; the success class and
        the three scopes' counters follow the classification."""
        rsp, target, d = routed.send(method)
        attempts = routed.backend.count(target)
        if method in RETRIED[routed.kind]:
            assert (rsp.status_code, rsp.text, attempts) == (200, "ok", 2)
            assert rsp.headers["l5d-success-class"] == "1.0"
            assert [s.body for s in routed.backend.seen if s.target == target] == (
                [b"payload"] * 2 if method != "GET" else [b""] * 2)
            assert d == {"server/success": 1, "server/failures": 0,
                         "service/success": 1, "service/failures": 0,
                         "client/success": 1, "client/failures": 1, "retries": 1}
        elif routed.kind == ALL_SUCCESSFUL:
            assert (rsp.status_code, rsp.text, attempts) == (500, "boom", 1)
            assert rsp.headers["l5d-success-class"] == "1.0"
            assert d == {"server/success": 1, "server/failures": 0,
                         "service/success": 1, "service/failures": 0,
                         "client/success": 1, "client/failures": 0, "retries": 0}
        else:
            assert (rsp.status_code, rsp.text, attempts) == (500, "boom", 1)
            assert rsp.headers["l5d-success-class"] == "0.0"
            assert d == {"server/success": 0, "server/failures": 1,
                         "service/success": 0, "service/failures": 1,
                         "client/success": 0, "client/failures": 1, "retries": 0}

    def test_200_is_a_success_everywhere(self, routed) -> None:
        """A plain 200: success 1 in every scope, nothing retried."""
        rsp, target, d = routed.send("GET", answer(200, b"fine"))
        assert (rsp.status_code, rsp.text, routed.backend.count(target)) == (200, "fine", 1)
        assert rsp.headers["l5d-success-class"] == "1.0"
        assert d == {"server/success": 1, "server/failures": 0,
                     "service/success": 1, "service/failures": 0,
                     "client/success": 1, "client/failures": 0, "retries": 0}


@pytest.fixture(scope="module")
def default_router():
    r = Routed(None)
    with r.backend, r.l5d:
        yield r


@pytest.fixture(scope="module")
def all_successful_router():
    r = Routed(ALL_SUCCESSFUL)
    with r.backend, r.l5d:
        yield r


class RetryableHeaderTests:
    """Under the default classifier only nacks and ``l5d-retryable: true`` are retried, for
    any method; ``allSuccessful`` retries nothing."""

    @pytest.mark.parametrize("first", [
        answer(503, b"nack", [("Retry-After", "0")]),
        answer(503, b"nack", [("finagle-http-nack", "")]),
        answer(500, b"boom", [("l5d-retryable", "true")]),
        answer(502, b"boom", [("l5d-retryable", "TRUE")]),
    ], ids=["503-retry-after-0", "503-finagle-nack", "500-l5d-retryable", "502-l5d-retryable"])
    def test_retried_for_post_under_the_default(self, default_router, first: bytes) -> None:
        """A retryable nack or a 5xx marked retryable: the POST goes again, body intact."""
        rsp, target, d = default_router.send("POST", first)
        assert (rsp.status_code, rsp.text) == (200, "ok")
        assert [s.body for s in default_router.backend.seen if s.target == target] == [
            b"payload", b"payload"]
        assert d["retries"] == 1 and d["client/failures"] == 1 and d["service/success"] == 1

    @pytest.mark.parametrize("first, status", [
        (answer(503, b"no", [("Retry-After", "1")]), 503),
        (answer(502, b"no", [("Retry-After", "0")]), 502),
        (answer(500, b"no", [("l5d-retryable", "1")]), 500),
        (answer(500, b"no", [("l5d-retryable", "yes")]), 500),
    ], ids=["503-retry-after-1", "502-retry-after-0", "l5d-retryable-1", "l5d-retryable-yes"])
    def test_not_retried_under_the_default(self, default_router, first: bytes,
                                           status: int) -> None:
        """Not a nack (only a 503 with ``Retry-After: 0`` is) and not ``true``: passed on."""
        rsp, target, d = default_router.send("GET", first)
        assert (rsp.status_code, rsp.text) == (status, "no")
        assert default_router.backend.count(target) == 1
        assert rsp.headers["l5d-success-class"] == "0.0"
        assert d["retries"] == 0

    def test_retryable_header_on_a_200_is_a_success(self, default_router) -> None:
        """``l5d-retryable: true`` on a 2xx changes nothing."""
        rsp, target, d = default_router.send(
            "POST", answer(200, b"fine", [("l5d-retryable", "true")]))
        assert (rsp.status_code, rsp.text) == (200, "fine")
        assert default_router.backend.count(target) == 1
        assert rsp.headers["l5d-success-class"] == "1.0"
        assert d["retries"] == 0

    def test_all_successful_ignores_the_retryable_header(self, all_successful_router) -> None:
        """``allSuccessful``: even a 503 nack or a 5xx marked retryable is a success."""
        for status, first in ((500, answer(500, b"boom", [("l5d-retryable", "true")])),
                              (503, answer(503, b"boom", [("Retry-After", "0")]))):
            rsp, target, d = all_successful_router.send("GET", first)
            assert (rsp.status_code, rsp.text) == (status, "boom")
            assert all_successful_router.backend.count(target) == 1
            assert rsp.headers["l5d-success-class"] == "1.0"
            assert d["retries"] == 0 and d["service/success"] == 1
