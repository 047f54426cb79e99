"""The dashboard's view model: the metrics registry -> ``/admin/dashboard.json`` (pure).

:func:`dashboard` reads the registry's counters, gauges and histogram summaries once and
returns a compact document per router: the router's totals (from its servers, clients and
services), then one row per client and one per service, as arrays whose columns
``client_fields`` and ``service_fields`` name (500 clients are about 40 KB).

**Rates are computed by the page**, not here: every number is a running total or a gauge,
and the document carries ``t``, the monotonic time it was read at. The page keeps the
previous document and divides the difference of two totals by the difference of their
``t`` (requests/s, success rate over the last poll, retries per request); a total that
went down (a client that was evicted and came back) counts as a restart from 0. So the
server keeps no state per viewer and two open pages do not disturb each other.

Latencies are the percentiles of the histograms' last snapshot window (the same numbers
as ``/admin/metrics.json``: ``admin.metricsSnapshotIntervalMs``, Linkerd's one minute by
default); ``None`` when that window was empty. A router's latency is the slowest of its
servers' (each percentile separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

__all__ = ["CLIENT_FIELDS", "RouterInfo", "SERVICE_FIELDS", "dashboard"]

Scope = tuple[str, ...]

#: the columns of a client row
CLIENT_FIELDS = ("id", "requests", "success", "failures", "connections", "pending",
                 "available", "size", "requeues", "p50", "p95", "p99")
#: the columns of a service row
SERVICE_FIELDS = ("id", "requests", "success", "failures", "pending", "retries",
                  "budget_exhausted", "p50", "p95", "p99")
_PCTS = ("p50", "p95", "p99")
_KINDS = ("server", "client", "service")


@dataclass(frozen=True, slots=True)
class RouterInfo:
    """What the dashboard shows of a router that is not a metric.

    :param label: the router's label (``rt/<label>/...``).
    :param percent_can_retry: the router-wide retry budget's ``percentCanRetry`` (the
        page draws retries per request against it, as Linkerd's "retry budget" bar).
    """

    label: str
    percent_can_retry: float


def _group(values: Iterable[tuple[Scope, Any]],
           into: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    """File ``rt/<label>/<kind>/<id>/<metric...>`` values under (label, kind, id)."""
    for name, value in values:
        if len(name) < 5 or name[0] != "rt" or name[2] not in _KINDS:
            continue
        first = name[4]
        if first == "status" or (first == "service" and name[2] == "client"):
            continue  # status tables and a client's per-service views: not shown
        key = (name[1], name[2], name[3])
        metrics = into.get(key)
        if metrics is None:
            metrics = into[key] = {}
        metrics[first if len(name) == 5 else "/".join(name[4:])] = value


def _pcts(summary: Any) -> list[float | None]:
    if summary is None or summary.count == 0:
        return [None, None, None]
    return [summary.quantile(p) for p in _PCTS]


def _num(metrics: dict[str, Any], name: str) -> float:
    value = metrics.get(name, 0)
    return value if isinstance(value, (int, float)) else 0


def _row(ident: str, metrics: dict[str, Any], fields: Sequence[str],
         names: dict[str, str]) -> list[Any]:
    row: list[Any] = [ident]
    for field in fields[1:-3]:
        row.append(_num(metrics, names.get(field, field)))
    row.extend(_pcts(metrics.get("request_latency_ms")))
    return row


_CLIENT_NAMES = {"available": "loadbalancer/available", "size": "loadbalancer/size",
                 "requeues": "retries/requeues"}
_SERVICE_NAMES = {"retries": "retries/total", "budget_exhausted": "retries/budget_exhausted"}


def _slowest(summaries: Iterable[Any]) -> list[float | None]:
    out: list[float | None] = [None, None, None]
    for summary in summaries:
        for i, v in enumerate(_pcts(summary)):
            if v is not None and (out[i] is None or v > out[i]):
                out[i] = v
    return out


def _router(info: RouterInfo, entities: dict[tuple[str, str, str], dict[str, Any]]
            ) -> dict[str, Any]:
    mine = {(kind, ident): m for (label, kind, ident), m in entities.items()
            if label == info.label}
    servers = [m for (kind, _), m in mine.items() if kind == "server"]
    clients = sorted((ident, m) for (kind, ident), m in mine.items() if kind == "client")
    services = sorted((ident, m) for (kind, ident), m in mine.items() if kind == "service")
    client_rows = [_row(i, m, CLIENT_FIELDS, _CLIENT_NAMES) for i, m in clients]
    service_rows = [_row(i, m, SERVICE_FIELDS, _SERVICE_NAMES) for i, m in services]

    def total(rows: Sequence[Sequence[Any]], fields: Sequence[str], field: str) -> float:
        i = fields.index(field)
        return sum(r[i] for r in rows)

    latency = _slowest(m.get("request_latency_ms") for m in servers)
    return {
        "label": info.label,
        "percent_can_retry": info.percent_can_retry,
        "requests": sum(_num(m, "requests") for m in servers),
        "success": sum(_num(m, "success") for m in servers),
        "failures": sum(_num(m, "failures") for m in servers),
        "pending": sum(_num(m, "pending") for m in servers),
        "connections": sum(_num(m, "connections") for m in servers),
        "client_connections": total(client_rows, CLIENT_FIELDS, "connections"),
        "retries": (total(service_rows, SERVICE_FIELDS, "retries")
                    + total(client_rows, CLIENT_FIELDS, "requeues")),
        "budget_exhausted": total(service_rows, SERVICE_FIELDS, "budget_exhausted"),
        "p50": latency[0], "p95": latency[1], "p99": latency[2],
        "clients": client_rows,
        "services": service_rows,
    }


def dashboard(counters: Iterable[tuple[Scope, float]], gauges: Iterable[tuple[Scope, float]],
              summaries: Iterable[tuple[Scope, Any]], routers: Sequence[RouterInfo],
              t: float) -> dict[str, Any]:
    """The dashboard document.

    :param counters: ``(name, value)`` of every counter (``Stats.counters()``).
    :param gauges: ``(name, value)`` of every gauge.
    :param summaries: ``(name, Summary)`` of every histogram's last window.
    :param routers: the routers, in the config's order.
    :param t: monotonic seconds when the registry was read.
    """
    entities: dict[tuple[str, str, str], dict[str, Any]] = {}
    _group(counters, entities)
    _group(gauges, entities)
    _group(summaries, entities)
    return {"t": t, "client_fields": list(CLIENT_FIELDS),
            "service_fields": list(SERVICE_FIELDS),
            "routers": [_router(info, entities) for info in routers]}
