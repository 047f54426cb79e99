"""The stats registry as Linkerd's flat ``/admin/metrics.json`` (pure).

Names join their scopes with ``/`` (``rt/http/service/svc/hello/requests``). Counters and
gauges are numbers; a histogram is expanded into ``<name>.count``, ``.sum``, ``.avg``,
``.min``, ``.max`` and the percentiles ``.p50``, ``.p90``, ``.p95``, ``.p99``, ``.p9990``,
``.p9999`` over the samples it holds.
"""

from __future__ import annotations

from typing import Any

from l5d.telemetry.stats import Stats

__all__ = ["flat_metrics"]

_PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p9990", 0.999),
                ("p9999", 0.9999))


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def flat_metrics(stats: Stats) -> dict[str, Any]:
    """Every metric of ``stats`` under its ``/``-joined name, sorted by name."""
    out: dict[str, Any] = {}
    for name, value in stats.counters():
        out["/".join(name)] = value
    for name, value in stats.gauges():
        out["/".join(name)] = value
    for name, stat in stats.stats():
        key = "/".join(name)
        ordered = sorted(stat.samples)
        total = sum(ordered)
        out[key + ".count"] = stat.count
        out[key + ".sum"] = total
        out[key + ".avg"] = total / len(ordered) if ordered else 0
        out[key + ".min"] = ordered[0] if ordered else 0
        out[key + ".max"] = ordered[-1] if ordered else 0
        for suffix, q in _PERCENTILES:
            out[f"{key}.{suffix}"] = _percentile(ordered, q)
    return dict(sorted(out.items()))
