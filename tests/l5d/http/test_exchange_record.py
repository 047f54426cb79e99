"""l5d.http.exchange_record: what a finished exchange's record says."""

from __future__ import annotations

import random
from types import SimpleNamespace

from dtab import Path
from l5d.http.exchange_record import exchange_record
from l5d.http.headers import TraceId
from l5d.http.trace import SAMPLED, SAMPLING_KNOWN
from l5d.http.upstream_request import tracing


def _exchange(**over):
    head = SimpleNamespace(
        method="GET", target=b"/a?b=1", version="1.1", peer="127.0.0.1:5555", absolute=None,
        info=SimpleNamespace(host=b"hello"),
        headers=[(b"Host", b"hello"), (b"User-Agent", b"curl/8"), (b"referer", b"http://x/")])
    pool = SimpleNamespace(address="10.0.0.7:8080")
    fields = dict(head=head, svc=SimpleNamespace(name=Path.read("/svc/hello").show()),
                  route=SimpleNamespace(name="/#/io.l5d.fs/hello"),
                  picked=SimpleNamespace(endpoint=pool), status=200, retries=1, error="",
                  started_at=100.0, response_bytes=12, _client_at=100.05,
                  router=SimpleNamespace(tracing=tracing(random.Random(1))))
    fields.update(over)
    ex = _Ex()
    ex.__dict__.update(fields, server_stats=None, view=None)
    return ex


class _Ex:
    """An exchange's fields (hashable, as the router's in-flight set needs)."""


def test_a_routed_request() -> None:
    r = exchange_record(_exchange(), True, 100.25, 250_000, 5000.0, "http")
    assert (r.router, r.method, r.uri, r.version, r.host, r.source) == (
        "http", "GET", "/a?b=1", "1.1", "hello", "127.0.0.1:5555")
    assert (r.status, r.ok, r.service, r.client, r.endpoint, r.retries) == (
        200, True, "/svc/hello", "/#/io.l5d.fs/hello", "10.0.0.7:8080", 1)
    assert r.started == 4999.75 and r.duration_us == 250_000
    assert (r.user_agent, r.referer, r.response_bytes) == ("curl/8", "http://x/", 12)


def test_an_unroutable_request_has_no_client_or_endpoint() -> None:
    ex = _exchange(route=None, picked=None, status=502, error="Unable to route request!")
    r = exchange_record(ex, False, 100.0, 0, 5000.0, "http")
    assert (r.client, r.endpoint, r.status, r.ok) == ("", "", 502, False)
    assert r.error == "Unable to route request!"


def test_an_unidentified_request_has_no_service() -> None:
    r = exchange_record(_exchange(svc=None, route=None, picked=None, status=400), False,
                        100.0, 0, 5000.0, "http")
    assert r.service == ""


def _router(sinks, seed=7):
    import random

    from twisted.internet.task import Clock

    from dtab import Dtab, Interpreter
    from l5d.http.router import HttpRouter
    from l5d.telemetry.stats import Stats

    clock = Clock()
    return HttpRouter(label="http", reactor=clock, now=clock.seconds, rng=random.Random(seed),
                      dtab=lambda: Dtab(), interpreter=Interpreter([]), identifier=None,
                      stats=Stats(), sinks=sinks, record_stats=False)


def test_the_router_draws_before_it_makes_a_record() -> None:
    every, some = [], []
    router = _router(((1.0, every.append), (0.25, some.append)))
    for _ in range(2000):
        router.exchange_done(_exchange(), True, 100.5)
    assert len(every) == 2000
    assert 400 < len(some) < 600  # seeded: the same draw every run
    assert some[0] is every[0] or some[0] in every  # one record per request, shared


def test_no_sink_takes_it_no_record() -> None:
    import l5d.http.router_outcomes as router_module

    made = []
    real = router_module.exchange_record
    router_module.exchange_record = lambda *a: made.append(a) or real(*a)
    try:
        router = _router(((0.0, lambda r: None),))
        for _ in range(100):
            router.exchange_done(_exchange(), True, 100.5)
    finally:
        router_module.exchange_record = real
    assert made == []


def test_the_trace_it_went_upstream_with() -> None:
    """head.trace: the client span, its parent (l5d's server span), the incoming parent, the
    decision, and when the last client request started."""
    ex = _exchange()
    ex.head.trace = TraceId(7, 8, 9, SAMPLING_KNOWN | SAMPLED)
    ex.head.trace_parent = 6
    r = exchange_record(ex, True, 100.25, 250_000, 5000.0, "http")
    assert (r.trace_id, r.span_id, r.parent_id, r.server_parent_id, r.sampled) == (
        9, 7, 8, 6, True)
    assert r.client_sent == 5000.0 - 0.2


def test_a_one_span_root() -> None:
    """An int head.trace (no tracer): span = parent = trace, undecided."""
    ex = _exchange()
    ex.head.trace = 42
    r = exchange_record(ex, True, 100.25, 250_000, 5000.0, "http")
    assert (r.trace_id, r.span_id, r.parent_id, r.server_parent_id, r.sampled) == (
        42, 42, 42, 0, None)


def test_answered_by_l5d_gets_a_server_span_only() -> None:
    """No head.trace: decided now from the request's headers; no client span, no client_sent."""
    ex = _exchange(route=None, picked=None, status=502)
    incoming = TraceId(1, 2, 3, SAMPLING_KNOWN)
    ex.head.headers.append((b"L5d-Ctx-Trace", incoming.encode()))
    r = exchange_record(ex, False, 100.0, 0, 5000.0, "http")
    assert (r.trace_id, r.span_id, r.parent_id, r.server_parent_id, r.sampled) == (
        3, 0, 1, 2, False)
    assert r.client_sent == 0.0
