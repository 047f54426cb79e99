"""Telemeters at run time: what each configured ``telemetry`` entry becomes (shell).

A :class:`Telemeter` may do any of three things, and the linker wires each:

* serve **admin pages**: ``pages`` maps a path on the admin server to a function of the
  query arguments (a :class:`PageArgs`) returning ``(status, content type, body)``
  (``io.l5d.prometheus``, ``io.l5d.influxdb``, ``io.l5d.recentRequests``);
* take **request records**: ``record`` is called with a
  :class:`~l5d.telemetry.record.RequestRecord` at the end of every request
  (``io.l5d.recentRequests``, the tracers), or is ``None``;
* run in the **background** between :meth:`~Telemeter.start` and :meth:`~Telemeter.stop`
  (``io.l5d.statsd`` flushing on a timer).

A **tracer** (``io.l5d.zipkin``, ``io.l5d.tracelog``; ``tracer`` is true) takes the
records of sampled traces rather than a share of all requests; the routers then give new
traces a server and a client span, and sample them at the largest ``trace_sample_rate`` of
the configured tracers (:mod:`l5d.http.trace`).

:func:`build_telemeter` makes one from its config; :class:`TelemetryContext` is all it
may use (no global reactor, clock or randomness).
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from l5d.config.telemeters import (
    InfluxDbConfig, PrometheusConfig, RecentRequestsConfig, StatsdConfig,
)
from l5d.telemetry import prometheus
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.stats import Stats

__all__ = ["BUILDERS", "Page", "PageArgs", "Telemeter", "TelemetryContext", "build_telemeter"]


class PageArgs(dict):
    """What an admin page is asked: the query arguments (the first value of each, by
    name) and, as :attr:`host`, the request's ``Host`` header (``""`` without one;
    ``io.l5d.influxdb`` tags its points with it, as Linkerd's does)."""

    __slots__ = ("host",)

    def __init__(self, args: Mapping[str, str] = {}, host: str = "") -> None:
        super().__init__(args)
        self.host = host


#: an admin page: query arguments -> (status, content type, body)
Page = Callable[[Mapping[str, str]], tuple[int, bytes, bytes]]


@dataclass(frozen=True, slots=True)
class TelemetryContext:
    """What a telemeter may use.

    :param reactor: ``IReactorTime`` (and ``IReactorUDP`` for statsd), never the global one.
    :param stats: the registry (to add a telemeter's own counters).
    :param read_metrics: the registry for reading (closes the histograms' window first
        when ``admin.metricsSnapshotIntervalMs`` is 0).
    :param now: monotonic seconds. :param wall: wall-clock seconds.
    :param rng: seeded randomness (sampling).
    """

    reactor: Any
    stats: Stats
    read_metrics: Callable[[], Stats]
    now: Callable[[], float]
    wall: Callable[[], float]
    rng: random.Random


class Telemeter:
    """A telemeter that does nothing; kinds override what they use."""

    #: admin path -> page
    pages: Mapping[str, Page] = {}
    #: called with each finished request's record, or ``None``
    record: Callable[[RequestRecord], None] | None = None
    #: the share of requests whose record ``record`` wants: the router draws (with its
    #: seeded rng) before it makes one, so an unsampled request costs a draw, not a record
    sample_rate: float = 1.0
    #: a tracer: ``record`` takes the records of sampled traces, never of traces decided
    #: unsampled, and of undecided ones (no deciding tracer) with probability
    #: ``sample_rate``; the routers then give new traces a server and a client span
    tracer: bool = False
    #: a tracer's say in sampling new traces: the share it wants sampled, or ``None`` when it
    #: never decides for others (``io.l5d.tracelog``)
    trace_sample_rate: float | None = None

    def start(self) -> None:
        """Begin background work (after the listeners are open)."""

    def stop(self) -> Any:
        """End background work, flushing what is pending; may return a Deferred."""
        return None


class PrometheusTelemeter(Telemeter):
    """``io.l5d.prometheus``: the registry in Prometheus' text format at ``path``."""

    def __init__(self, cfg: PrometheusConfig, ctx: TelemetryContext) -> None:
        read, prefix = ctx.read_metrics, cfg.prefix

        def page(args: Mapping[str, str]) -> tuple[int, bytes, bytes]:
            return (200, b"text/plain; version=0.0.4; charset=utf-8",
                    prometheus.render(read(), prefix).encode("utf-8"))

        self.pages = {cfg.path: page}


#: kind -> ``module:class`` of its runtime, imported only when a config names the kind
BUILDERS: dict[str, str] = {
    PrometheusConfig.kind: "l5d.telemetry.telemeter:PrometheusTelemeter",
    InfluxDbConfig.kind: "l5d.telemetry.influxdb:InfluxDbTelemeter",
    RecentRequestsConfig.kind: "l5d.telemetry.recent_requests:RecentRequestsTelemeter",
    StatsdConfig.kind: "l5d.telemetry.statsd:StatsdTelemeter",
    "io.l5d.zipkin": "l5d.telemetry.zipkin:ZipkinTelemeter",
    "io.l5d.tracelog": "l5d.telemetry.tracelog:TracelogTelemeter",
}


def build_telemeter(cfg: Any, ctx: TelemetryContext) -> Telemeter:
    """The runtime telemeter of ``cfg`` (``Class(cfg, ctx)``); a third-party config provides
    ``build(ctx)``.

    :raises ValueError: the kind has no runtime.
    """
    target = BUILDERS.get(cfg.kind)
    if target is not None:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(cfg, ctx)
    build = getattr(cfg, "build", None)
    if build is None:
        raise ValueError(f"telemeter kind {cfg.kind!r} has no build()")
    return build(ctx)
