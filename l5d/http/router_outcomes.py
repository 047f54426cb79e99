"""What a router does when an exchange ends, and the metrics it reads when asked
(Twisted-free; a mixin of :class:`~l5d.http.router.HttpRouter`).

At the end of every exchange: its outcome, status and latency at the server, the service
and the client's view of the service (unless ``L5D_STATS=off``), and its
:class:`~l5d.telemetry.record.RequestRecord` to the sinks that take it. When metrics are
read: the ``pending`` gauges, counted from the requests in flight. Reactor-thread only.
"""

from __future__ import annotations

from typing import Any

from l5d.http.exchange_record import exchange_record, trace_of, trace_sampled
from l5d.http.headers import TraceId
from l5d.http.trace import SAMPLING_KNOWN

__all__ = ["RouterOutcomes"]


class RouterOutcomes:
    """Needs the router's ``in_flight``, ``stats_scope``, ``_services``, ``clients``,
    ``now``, ``wall``, ``rng``, ``label``, ``record_stats``, ``sinks`` and
    ``trace_sinks``."""

    # -- metrics -------------------------------------------------------------
    def watch_server(self, server: Any, load: Any) -> None:
        """Export a server's :class:`~l5d.http.limits.ServerLoad`: ``pending``,
        ``connections``, ``connects``, ``sent_bytes``, ``received_bytes``."""
        scope = self.stats_scope.scope("server", *server.stats_label)
        scope.function_gauge(lambda: load.requests, "pending")
        scope.function_gauge(lambda: load.connections, "connections")
        scope.function_counter(lambda: load.connects, "connects")
        scope.function_counter(lambda: load.sent_bytes, "sent_bytes")
        scope.function_counter(lambda: load.received_bytes, "received_bytes")

    def count_pending(self) -> None:
        """Set every service's and client's ``pending`` gauge from the requests in flight
        (when metrics are read: the data path keeps no such count)."""
        by_svc: dict[Any, int] = {}
        by_client: dict[Any, int] = {}
        for ex in self.in_flight:
            svc, client = ex.svc, ex.route
            if svc is not None:
                by_svc[svc] = by_svc.get(svc, 0) + 1
            if client is not None and ex._in_client:
                by_client[client] = by_client.get(client, 0) + 1
        for svc in self._services.values():
            svc.pending.value = by_svc.get(svc, 0)
        for client in self.clients.values():
            client.pending.value = by_client.get(client, 0)

    # -- outcomes ------------------------------------------------------------
    def exchange_done(self, ex: Any, ok: bool, now: float | None = None) -> None:
        """The exchange is over (at ``now``, if the caller read the clock): ``ok`` is its
        classification (server and service stats)."""
        self.in_flight.discard(ex)
        if now is None:
            now = self.now()
        us = int((now - ex.started_at) * 1e6)  # request_latency_ms, in µs
        if self.record_stats:
            self._record(ex, ok, us)
        if self.sinks or self.trace_sinks:
            self._offer(ex, ok, now, us)

    def _offer(self, ex: Any, ok: bool, now: float, us: int) -> None:
        """The exchange's record to the sinks that take it (made once, if any does): a
        share of requests to each sink, the sampled traces to each tracer (and undecided
        ones at its rate)."""
        record = None
        rng = self.rng
        for rate, sink in self.sinks:
            if rate < 1.0 and rng.random() >= rate:
                continue
            if record is None:
                record = exchange_record(ex, ok, now, us, self.wall(), self.label)
            sink(record)
        if self.trace_sinks:
            trace = getattr(ex.head, "trace", None)
            # the common case first: a trace decided unsampled (flags SamplingKnown only),
            # without trace_of's and trace_sampled's calls
            if trace.__class__ is TraceId and trace.flags == SAMPLING_KNOWN:
                return
            sampled = trace_sampled(trace_of(ex))
            if sampled is False:
                return
            for rate, sink in self.trace_sinks:
                if sampled is None and (rate <= 0.0 or rng.random() >= rate):
                    continue
                if record is None:
                    record = exchange_record(ex, ok, now, us, self.wall(), self.label)
                sink(record)

    def _record(self, ex: Any, ok: bool, us: int) -> None:
        """The exchange's outcome, status and latency at server, service and client/service."""
        status = ex.status
        srv = ex.server_stats
        if srv is not None:
            srv[0 if ok else 1].value += 1
            if status > 0:
                table = srv[2]
                table[status] = table.get(status, 0) + 1
            srv[3].add(us)
        svc = ex.svc
        if svc is not None:
            (svc.success if ok else svc.failures).value += 1
            svc.per_request.add(ex.retries)
            if status > 0:
                table = svc.status
                table[status] = table.get(status, 0) + 1
            svc.latency.add(us)
        view = ex.view
        if view is not None:
            (view.success if ok else view.failures).value += 1
            if status > 0:
                table = view.status
                table[status] = table.get(status, 0) + 1
