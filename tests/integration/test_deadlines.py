"""``l5d-ctx-deadline`` through a real l5d (spec 7; l5d enforces what Linkerd 1.x only
propagated).

The header is ``"<timestamp_ns> <deadline_ns>"`` (wall clock, ns since the epoch). l5d
reads and removes the incoming one, answers 503 without sending anything when it has
already passed, ends the request with a 503 when it passes before the response head, and
sends upstream the strictest of the incoming deadline, ``totalTimeoutMs`` and
``requestAttemptTimeoutMs``, or no header when there is none of them. A ``clearContext``
server ignores and strips it.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.raw_http import RawClient, request
from tests.helpers.resilience import Backend, answer

TIMEOUT_S = 20
NS = 1_000_000_000
HEADER = "l5d-ctx-deadline"


def deadline(in_s: float, set_s_ago: float = 0.0) -> tuple[int, int, str]:
    """A deadline ``in_s`` from now (negative: passed), set ``set_s_ago``; and its header."""
    now = time.time_ns()
    ts, dl = now - int(set_s_ago * NS), now + int(in_s * NS)
    return ts, dl, f"{ts} {dl}"


def slow_first(seen) -> float:
    return 1.5 if seen.target == "/slow" else 0.0


def get(l5d: L5d, target: str = "/", headers: dict | None = None) -> requests.Response:
    return requests.get(f"http://x{target}", headers=headers,
                        proxies={"http": f"http://{l5d.proxy}"}, timeout=TIMEOUT_S)


def upstream_deadlines(backend: Backend) -> list[tuple[int, int]]:
    """The deadline header values of the last request the backend saw."""
    return [tuple(int(f) for f in v.split(" ")) for v in backend.seen[-1].headers_named(HEADER)]


@pytest.fixture(scope="module")
def plain():
    """No timeouts configured: only an incoming deadline makes one."""
    with Backend(delay_s=slow_first) as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}") as l5d:
        yield l5d, b


class EnforcedTests:
    """An incoming deadline is enforced."""

    def test_passed_deadline_is_a_503_and_nothing_is_sent(self, plain) -> None:
        """Expired on arrival: 503 naming the deadline; the backend gets no connection."""
        l5d, b = plain
        before = b.connections
        _, _, value = deadline(-1.0, set_s_ago=2.0)
        rsp = get(l5d, "/expired", {HEADER: value})
        assert rsp.status_code == 503
        assert "deadline" in rsp.text and "deadline" in rsp.headers["l5d-err"]
        time.sleep(0.1)
        assert b.connections == before and b.count("/expired") == 0

    def test_deadline_shorter_than_the_backend(self, plain) -> None:
        """300 ms left and a backend that takes 1.5 s: 503 naming the deadline (not the
        late 200), and the upstream request was sent."""
        l5d, b = plain
        _, _, value = deadline(0.3)
        started = time.monotonic()
        rsp = get(l5d, "/slow", {HEADER: value})
        assert time.monotonic() - started >= 0.25
        assert rsp.status_code == 503
        assert "deadline" in rsp.text
        assert b.count("/slow") == 1

    def test_unparsable_deadline_is_ignored(self, plain) -> None:
        """A value that is not two int64s is ignored, as Finagle ignores it."""
        l5d, b = plain
        for value in ("soon", "1 two", "123"):
            rsp = get(l5d, "/bad-deadline", {HEADER: value})
            assert rsp.status_code == 200
            assert b.seen[-1].headers_named(HEADER) == []


class PropagatedTests:
    """What goes upstream."""

    def test_no_deadline_no_header(self, plain) -> None:
        """No incoming deadline and no timeouts: no header upstream."""
        l5d, b = plain
        assert get(l5d, "/none").status_code == 200
        assert b.seen[-1].headers_named(HEADER) == []

    def test_incoming_deadline_is_sent_on(self, plain) -> None:
        """No timeouts: the backend gets the incoming deadline, once."""
        l5d, b = plain
        ts, dl, value = deadline(30.0, set_s_ago=1.0)
        assert get(l5d, "/one", {HEADER: value}).status_code == 200
        assert upstream_deadlines(b) == [(ts, dl)]

    def test_two_incoming_values_become_one(self, plain) -> None:
        """Two incoming headers: one goes upstream, the latest timestamp with the earliest
        deadline (the incoming headers are not forwarded as they are)."""
        l5d, b = plain
        ts1, dl1, v1 = deadline(30.0, set_s_ago=1.0)
        ts2, dl2, v2 = deadline(60.0, set_s_ago=0.5)
        with RawClient(l5d.port) as c:
            c.send(request("GET", "/two", [("Host", "x"), (HEADER, v1), (HEADER, v2)]))
            assert c.read_response().status == 200
        assert upstream_deadlines(b) == [(max(ts1, ts2), min(dl1, dl2))]

    def test_total_timeout_is_stricter(self) -> None:
        """totalTimeoutMs 500 under a 60 s incoming deadline: the backend gets a deadline
        about 500 ms after l5d received the request, set then."""
        with Backend() as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                 router_yaml="service: {totalTimeoutMs: 500}\n") as l5d:
            ts, dl, value = deadline(60.0, set_s_ago=1.0)
            sent = time.time_ns()
            assert get(l5d, "/total", {HEADER: value}).status_code == 200
            answered = time.time_ns()
            [(up_ts, up_dl)] = upstream_deadlines(b)
            assert up_dl < dl
            assert sent + NS // 2 <= up_dl + NS // 100  # 10 ms for clock rounding
            assert up_dl <= answered + NS // 2
            assert sent <= up_ts + NS // 100 and up_ts <= answered

            assert get(l5d, "/total-alone").status_code == 200
            [(_, alone_dl)] = upstream_deadlines(b)
            assert alone_dl > answered  # a deadline of its own, from totalTimeoutMs

    def test_incoming_deadline_stricter_than_total_timeout(self) -> None:
        """An incoming deadline sooner than totalTimeoutMs (10 s) is sent on unchanged."""
        with Backend() as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                 router_yaml="service: {totalTimeoutMs: 10000}\n") as l5d:
            ts, dl, value = deadline(5.0, set_s_ago=0.0)
            assert get(l5d, "/sooner", {HEADER: value}).status_code == 200
            [(up_ts, up_dl)] = upstream_deadlines(b)
            assert up_dl == dl and up_ts >= ts

    def test_attempt_timeout_makes_a_deadline(self) -> None:
        """requestAttemptTimeoutMs 2000 alone: each attempt goes with a deadline 2 s after
        it was sent."""
        with Backend() as b, L5d(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                 router_yaml="client: {requestAttemptTimeoutMs: 2000}\n") as l5d:
            sent = time.time_ns()
            assert get(l5d, "/attempt").status_code == 200
            answered = time.time_ns()
            [(up_ts, up_dl)] = upstream_deadlines(b)
            assert sent + 2 * NS <= up_dl + NS // 100
            assert up_dl <= answered + 2 * NS
            assert up_dl - up_ts == 2 * NS


class ClearContextTests:
    """``clearContext: true`` servers take no deadline from their clients."""

    def test_deadline_is_ignored_and_stripped(self) -> None:
        """An expired deadline on a clearContext server: served, and no header upstream."""
        with Backend() as b, L5d(config=config_text(f"/svc=>/$/inet/127.0.0.1/{b.port}",
                                                    server="clearContext: true")) as l5d:
            _, _, value = deadline(-5.0, set_s_ago=10.0)
            rsp = get(l5d, "/cleared", {HEADER: value})
            assert rsp.status_code == 200
            assert b.count("/cleared") == 1
            assert b.seen[-1].headers_named(HEADER) == []
            assert "l5d-success-class" not in rsp.headers


class RetriesWithinTheDeadlineTests:
    """No retry is started that would end after the incoming deadline."""

    def test_backoff_past_the_deadline_is_not_started(self) -> None:
        """retryableRead5XX with a 1 s backoff and 300 ms left: the 500 is passed on, one
        attempt."""
        with Backend(lambda seen: answer(500, b"boom")) as b, L5d(
                f"/svc=>/$/inet/127.0.0.1/{b.port}",
                router_yaml="service: {responseClassifier: {kind: io.l5d.http.retryableRead5XX}, "
                            "retries: {backoff: {kind: constant, ms: 1000}}}\n") as l5d:
            _, _, value = deadline(0.3)
            rsp = get(l5d, "/no-retry", {HEADER: value})
            assert (rsp.status_code, rsp.text) == (500, "boom")
            assert wait_for(lambda: b.count("/no-retry") == 1)
            assert l5d.metric("retries/total") == 0
