"""io.l5d.tracelog: sampled spans as log lines at the configured level."""

from __future__ import annotations

import json
import logging
import random
from itertools import count

from twisted.internet import task

from l5d.config.telemeters import TracelogConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter
from l5d.telemetry.tracelog import LOGGER, TracelogTelemeter

REC = RequestRecord(router="in", started=5.0, duration_us=10, method="GET", uri="/",
                    version="1.1", host="h", source="127.0.0.1:1", status=200, ok=True,
                    trace_id=1, span_id=2, parent_id=1, sampled=True, client_sent=5.0)
_names = count()


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _ctx() -> TelemetryContext:
    clock = task.Clock()
    stats = Stats()
    return TelemetryContext(clock, stats, lambda: stats, clock.seconds, clock.seconds,
                            random.Random(1))


def make(**cfg) -> tuple[TracelogTelemeter, list[logging.LogRecord], logging.Logger]:
    """A tracelog writing to a fresh logger (WARNING, as an unconfigured one) of its own."""
    logger = logging.getLogger(f"test.tracelog.{next(_names)}")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    keep = _Keep()
    logger.addHandler(keep)
    t = TracelogTelemeter(TracelogConfig(**cfg), _ctx(), logger)
    t.start()
    return t, keep.records, logger


class TracelogTests:
    def test_each_span_is_a_json_line_at_the_level(self) -> None:
        """DEBUG lines show: start() lets the logger through at the configured level."""
        t, lines, logger = make(level="DEBUG")
        t.record(REC)
        assert [r.levelno for r in lines] == [logging.DEBUG, logging.DEBUG]
        spans = [json.loads(r.getMessage()) for r in lines]
        assert [s["kind"] for s in spans] == ["SERVER", "CLIENT"]
        assert logger.level == logging.DEBUG

    def test_a_level_already_enabled_is_left_alone(self) -> None:
        t, lines, logger = make(level="ERROR")
        assert logger.level == logging.WARNING
        t.record(REC)
        assert [r.levelno for r in lines] == [logging.ERROR] * 2

    def test_a_decision_not_to_sample_is_honoured(self) -> None:
        t, lines, _ = make()
        t.record(REC._replace(sampled=False))
        assert lines == []

    def test_an_undecided_trace_it_is_offered_is_logged(self) -> None:
        """The router drew at sampleRate before offering it (see test_trace_router)."""
        t, lines, _ = make(sample_rate=0.5)
        t.record(REC._replace(sampled=None))
        assert len(lines) == 2

    def test_it_is_a_tracer_that_never_decides(self) -> None:
        """Its sampleRate is the share of undecided traces it wants; it decides nothing."""
        t, _, _ = make(sample_rate=0.2)
        assert (t.tracer, t.sample_rate, t.trace_sample_rate) == (True, 0.2, None)
        assert t.record is not None

    def test_off_logs_nothing_and_is_no_tracer(self) -> None:
        t, _, _ = make(level="OFF")
        assert t.record is None and t.tracer is False

    def test_builds_from_its_kind_with_the_io_l5d_tracelog_logger(self) -> None:
        t = build_telemeter(TracelogConfig(), _ctx())
        assert isinstance(t, TracelogTelemeter) and t._logger.name == LOGGER
