"""io.l5d.zipkin's sender: batches, a bounded queue, one POST at a time, never raising.

A ``task.Clock`` is the reactor and a fake poster records each body and hands back a
Deferred the test fires; the real HTTP path is ``tests/integration/test_tracing.py``.
"""

from __future__ import annotations

import json
import logging
import random

import pytest
from twisted.internet import defer, task

from l5d.config.telemeters import ZipkinConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter
from l5d.telemetry.zipkin import POST_TIMEOUT_S, ZipkinTelemeter

REC = RequestRecord(router="out", started=100.0, duration_us=10, method="GET", uri="/",
                    version="1.1", host="h", source="127.0.0.1:1", status=200, ok=True,
                    trace_id=1, span_id=2, parent_id=1, sampled=True, client_sent=100.0)


class FakePoster:
    def __init__(self) -> None:
        self.bodies: list[list[dict]] = []
        self.pending: list[defer.Deferred] = []

    def __call__(self, body: bytes) -> defer.Deferred:
        self.bodies.append(json.loads(body))
        d: defer.Deferred = defer.Deferred()
        self.pending.append(d)
        return d

    def answer(self, code: int = 202) -> None:
        self.pending.pop(0).callback(code)


class _Keep(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def setup():
    clock = task.Clock()
    stats = Stats()
    lines: list[str] = []
    logger = logging.getLogger("test.zipkin")
    logger.handlers[:] = [_Keep(lines)]
    logger.propagate = False
    ctx = TelemetryContext(clock, stats, lambda: stats, clock.seconds, clock.seconds,
                           random.Random(1))
    poster = FakePoster()

    def make(**kw) -> ZipkinTelemeter:
        return ZipkinTelemeter(ZipkinConfig(), ctx, poster, logger=logger, **kw)

    return clock, stats, poster, make, lines


def _counter(stats: Stats, name: str) -> int:
    return dict(stats.counters()).get(("zipkin", name), 0)


def _record(z: ZipkinTelemeter, n: int = 1, **over) -> None:
    for i in range(n):
        z.record(REC._replace(trace_id=10 + i, parent_id=10 + i, **over))


class ZipkinTelemeterTests:
    def test_builds_from_its_kind_with_linkerds_defaults_and_zipkins_port(self) -> None:
        clock = task.Clock()
        stats = Stats()
        t = build_telemeter(ZipkinConfig(), TelemetryContext(
            clock, stats, lambda: stats, clock.seconds, clock.seconds, random.Random(1)))
        assert isinstance(t, ZipkinTelemeter)
        assert t.url == "http://localhost:9411/api/v2/spans"
        assert t.trace_sample_rate == 0.001
        assert ZipkinTelemeter(ZipkinConfig(host="::1", port=1), t_ctx(clock)).url == \
            "http://[::1]:1/api/v2/spans"

    def test_a_tracer_that_decides(self) -> None:
        """The router offers it sampled traces; it samples new ones at sampleRate."""
        z = ZipkinTelemeter(ZipkinConfig(sample_rate=0.25), t_ctx(task.Clock()), FakePoster())
        assert (z.tracer, z.sample_rate, z.trace_sample_rate) == (True, 0.25, 0.25)

    def test_unsampled_records_are_not_sent(self, setup) -> None:
        """A record decided unsampled makes no spans (the router does not offer one)."""
        clock, stats, poster, make, _ = setup
        z = make()
        z.start()
        _record(z, sampled=False)
        clock.advance(5)
        assert poster.bodies == [] and z.queued == 0

    def test_flushes_on_the_timer(self, setup) -> None:
        """A record's two spans go out at the next tick, as one JSON list."""
        clock, stats, poster, make, _ = setup
        z = make(interval_s=1.0)
        z.start()
        _record(z)
        clock.advance(0.99)
        assert poster.bodies == []
        clock.advance(0.01)
        [body] = poster.bodies
        assert [s["kind"] for s in body] == ["SERVER", "CLIENT"]
        poster.answer(202)
        assert _counter(stats, "sent") == 2

    def test_a_full_batch_goes_at_once_one_post_at_a_time(self, setup) -> None:
        """Batches of 4: the first full one goes at once; the next waits for its answer, then
        goes at once if full, else at the tick."""
        clock, stats, poster, make, _ = setup
        z = make(batch=4, interval_s=1.0)
        z.start()
        _record(z, 2)  # 4 spans
        assert len(poster.bodies) == 1 and len(poster.bodies[0]) == 4
        _record(z, 5)  # 10 more queued behind the POST in flight
        assert len(poster.bodies) == 1 and z.queued == 10
        poster.answer()
        assert len(poster.bodies) == 2 and z.queued == 6
        poster.answer()
        assert len(poster.bodies) == 3 and z.queued == 2
        poster.answer()
        assert len(poster.bodies) == 3  # 2 < a batch: the tick sends them
        clock.advance(1.0)
        assert [len(b) for b in poster.bodies] == [4, 4, 4, 2]
        poster.answer()
        assert _counter(stats, "sent") == 14 and _counter(stats, "dropped") == 0

    def test_a_full_queue_drops_the_newest_and_counts(self, setup) -> None:
        clock, stats, poster, make, _ = setup
        z = make(max_queued=5, batch=100)
        z.start()
        _record(z, 4)  # 8 spans for 5 places
        assert z.queued == 5 and _counter(stats, "dropped") == 3
        clock.advance(1.0)
        assert [s["traceId"] for s in poster.bodies[0]] == [
            "000000000000000a", "000000000000000a", "000000000000000b", "000000000000000b",
            "000000000000000c"]

    def test_errors_are_counted_and_logged_at_most_once_a_minute(self, setup) -> None:
        """A failed POST or a non-2xx answer loses its batch, counts, never raises; one line
        a minute, the held one written when the minute is over with how many more failed."""
        clock, stats, poster, make, lines = setup
        z = make(interval_s=1.0)
        z.start()
        for i in range(3):
            _record(z)
            clock.advance(1.0)
            poster.pending.pop(0).errback(ConnectionRefusedError("refused"))
        _record(z)
        clock.advance(1.0)
        poster.answer(500)
        assert _counter(stats, "errors") == 4 and _counter(stats, "sent") == 0
        assert len(lines) == 1 and "2 spans lost" in lines[0] and "refused" in lines[0]
        clock.advance(60.0)
        assert len(lines) == 2
        assert "answered 500" in lines[1] and "(3 more suppressed)" in lines[1]
        assert z.queued == 0

    def test_a_poster_that_raises_is_an_error_too(self, setup) -> None:
        clock, stats, poster, make, _ = setup

        def boom(body: bytes) -> defer.Deferred:
            raise RuntimeError("no")

        z = ZipkinTelemeter(ZipkinConfig(), t_ctx(clock, stats), boom)
        z.start()
        _record(z)
        clock.advance(1.0)
        assert _counter(stats, "errors") == 1

    def test_an_unanswered_post_times_out(self, setup) -> None:
        """A collector that never answers holds the one POST only until the timeout."""
        clock, stats, poster, make, _ = setup
        z = make(interval_s=1.0)
        z.start()
        _record(z)
        clock.advance(1.0)
        _record(z)
        clock.advance(POST_TIMEOUT_S - 1.0)
        assert len(poster.bodies) == 1 and _counter(stats, "errors") == 0
        clock.advance(1.0)
        assert _counter(stats, "errors") == 1
        clock.advance(1.0)
        assert len(poster.bodies) == 2

    def test_nothing_is_sent_before_start(self, setup) -> None:
        clock, stats, poster, make, _ = setup
        z = make(batch=2)
        _record(z, 3)
        clock.advance(10)
        assert poster.bodies == [] and z.queued == 6

    def test_stop_waits_for_the_post_in_flight_then_sends_the_rest(self, setup) -> None:
        clock, stats, poster, make, _ = setup
        z = make(batch=2, interval_s=1.0)
        z.start()
        _record(z, 3)  # one POST of 2 in flight, 4 queued
        fired: list = []
        z.stop().addBoth(fired.append)
        assert not fired and len(poster.bodies) == 1
        poster.answer()
        assert [len(b) for b in poster.bodies] == [2, 4] and not fired
        poster.answer()
        assert fired == [None] and _counter(stats, "sent") == 6
        clock.advance(10)
        assert len(poster.bodies) == 2  # the timer is gone


def t_ctx(clock, stats: Stats | None = None) -> TelemetryContext:
    stats = stats or Stats()
    return TelemetryContext(clock, stats, lambda: stats, clock.seconds, clock.seconds,
                            random.Random(1))
