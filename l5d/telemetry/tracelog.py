"""``io.l5d.tracelog``: each sampled span as one line of l5d's log (Twisted shell).

Linkerd's ``TracelogTelemeter`` logs every trace record of a sampled request at ``level``
with the logger ``io.l5d.tracelog``; l5d logs each of its spans (server and client, see
:mod:`l5d.telemetry.spans`) as one line of Zipkin v2 JSON, in the log namespace
``io.l5d.tracelog`` (l5d's log goes to standard error; ``l5d/main.py`` lets this namespace
through at every level). As in Linkerd, this tracer never decides for the next hop: a
trace whose sampling was decided (by ``l5d-sample``, an earlier hop or a sampling tracer
such as ``io.l5d.zipkin``) is logged when sampled; an undecided one is logged at
``sampleRate`` (the router draws, with its seeded ``rng``, before it makes a record).
"""

from __future__ import annotations

import json
from twisted.logger import Logger, LogLevel

from l5d.config.telemeters import TracelogConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.spans import record_spans
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["LEVELS", "NAMESPACE", "TracelogTelemeter"]

NAMESPACE = "io.l5d.tracelog"
#: Linkerd's level names -> Twisted's (``OFF``: nothing)
LEVELS: dict[str, LogLevel | None] = {
    "ALL": LogLevel.debug, "TRACE": LogLevel.debug, "DEBUG": LogLevel.debug,
    "INFO": LogLevel.info, "WARNING": LogLevel.warn, "ERROR": LogLevel.error,
    "CRITICAL": LogLevel.critical, "FATAL": LogLevel.critical, "OFF": None,
}


class TracelogTelemeter(Telemeter):
    """``io.l5d.tracelog`` (see the module's docstring).

    :param log: where lines go (tests pass a ``Logger`` with their own observer).
    """

    #: a tracer that never decides sampling for others
    tracer = True

    def __init__(self, cfg: TracelogConfig, ctx: TelemetryContext,
                 log: Logger | None = None) -> None:
        self._log = log if log is not None else Logger(namespace=NAMESPACE)
        self._level = LEVELS[cfg.level]
        self.sample_rate = cfg.sample_rate  # the router draws for undecided traces
        if self._level is not None:
            self.record = self._record
        else:  # OFF: neither a sink nor a tracer
            self.tracer = False

    def _record(self, record: RequestRecord) -> None:
        if record.sampled is False:  # the router offers sampled traces only
            return
        emit, level = self._log.emit, self._level
        for span in record_spans(record):
            emit(level, "{span}", span=json.dumps(span, separators=(",", ":")))
