"""``io.l5d.tracelog``: each sampled span as one line of l5d's log (Twisted shell).

Linkerd's ``TracelogTelemeter`` logs every trace record of a sampled request at ``level``
with the logger ``io.l5d.tracelog``; l5d logs each of its spans (server and client, see
:mod:`l5d.telemetry.spans`) as one line of Zipkin v2 JSON through the Python logger
``io.l5d.tracelog``, at ``level`` (l5d's log goes to standard error, see
``docs/logging.md``; :meth:`TracelogTelemeter.start` sets that logger's level to
``level``, so a ``DEBUG`` tracelog shows although l5d logs from ``INFO``). As in Linkerd,
this tracer never decides for the next hop: a trace whose sampling was decided (by
``l5d-sample``, an earlier hop or a sampling tracer such as ``io.l5d.zipkin``) is logged
when sampled; an undecided one is logged at ``sampleRate`` (the router draws, with its
seeded ``rng``, before it makes a record).
"""

from __future__ import annotations

import json
import logging

from l5d.config.telemeters import TracelogConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.spans import record_spans
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["LEVELS", "LOGGER", "TracelogTelemeter"]

LOGGER = "io.l5d.tracelog"
#: Linkerd's level names -> Python's (``OFF``: nothing)
LEVELS: dict[str, int | None] = {
    "ALL": logging.DEBUG, "TRACE": logging.DEBUG, "DEBUG": logging.DEBUG,
    "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL, "FATAL": logging.CRITICAL, "OFF": None,
}


class TracelogTelemeter(Telemeter):
    """``io.l5d.tracelog`` (see the module's docstring).

    :param logger: where lines go (default: the logger ``io.l5d.tracelog``).
    """

    #: a tracer that never decides sampling for others
    tracer = True

    def __init__(self, cfg: TracelogConfig, ctx: TelemetryContext,
                 logger: logging.Logger | None = None) -> None:
        self._logger = logger if logger is not None else logging.getLogger(LOGGER)
        self._level = LEVELS[cfg.level]
        self.sample_rate = cfg.sample_rate  # the router draws for undecided traces
        if self._level is not None:
            self.record = self._record
        else:  # OFF: neither a sink nor a tracer
            self.tracer = False

    def start(self) -> None:
        if self._level is not None and not self._logger.isEnabledFor(self._level):
            self._logger.setLevel(self._level)

    def _record(self, record: RequestRecord) -> None:
        if record.sampled is False:  # the router offers sampled traces only
            return
        log, level = self._logger.log, self._level
        for span in record_spans(record):
            log(level, "%s", json.dumps(span, separators=(",", ":")))  # type: ignore[arg-type]
