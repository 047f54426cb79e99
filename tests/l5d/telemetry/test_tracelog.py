"""io.l5d.tracelog: sampled spans as log lines at the configured level."""

from __future__ import annotations

import json
import random

from twisted.internet import task
from twisted.logger import Logger, LogLevel

from l5d.config.telemeters import TracelogConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter
from l5d.telemetry.tracelog import NAMESPACE, TracelogTelemeter

REC = RequestRecord(router="in", started=5.0, duration_us=10, method="GET", uri="/",
                    version="1.1", host="h", source="127.0.0.1:1", status=200, ok=True,
                    trace_id=1, span_id=2, parent_id=1, sampled=True, client_sent=5.0)


def make(seed: int = 1, **cfg) -> tuple[TracelogTelemeter, list[dict]]:
    clock = task.Clock()
    stats = Stats()
    ctx = TelemetryContext(clock, stats, lambda: stats, clock.seconds, clock.seconds,
                           random.Random(seed))
    events: list[dict] = []
    return TracelogTelemeter(TracelogConfig(**cfg), ctx,
                             Logger(namespace=NAMESPACE, observer=events.append)), events


class TracelogTests:
    def test_each_span_is_a_json_line_at_the_level(self) -> None:
        t, events = make(level="DEBUG")
        t.record(REC)
        assert [e["log_level"] for e in events] == [LogLevel.debug, LogLevel.debug]
        spans = [json.loads(e["span"]) for e in events]
        assert [s["kind"] for s in spans] == ["SERVER", "CLIENT"]
        assert all(e["log_namespace"] == NAMESPACE for e in events)

    def test_a_decision_is_honoured(self) -> None:
        """Decided not sampled: nothing, whatever the rate."""
        t, events = make(sample_rate=1.0)
        t.record(REC._replace(sampled=False))
        assert events == []

    def test_an_undecided_trace_it_is_offered_is_logged(self) -> None:
        """The router drew at sampleRate before offering it (see test_trace_router)."""
        t, events = make(sample_rate=0.5)
        t.record(REC._replace(sampled=None))
        assert len(events) == 2

    def test_it_is_a_tracer_that_never_decides(self) -> None:
        """Its sampleRate is the share of undecided traces it wants; it decides nothing."""
        t, _ = make(sample_rate=0.2)
        assert (t.tracer, t.sample_rate, t.trace_sample_rate) == (True, 0.2, None)
        assert t.record is not None

    def test_off_logs_nothing_and_is_no_tracer(self) -> None:
        t, _ = make(level="OFF")
        assert t.record is None and t.tracer is False

    def test_builds_from_its_kind(self) -> None:
        clock = task.Clock()
        stats = Stats()
        t = build_telemeter(TracelogConfig(), TelemetryContext(
            clock, stats, lambda: stats, clock.seconds, clock.seconds, random.Random(1)))
        assert isinstance(t, TracelogTelemeter)
