"""The stats registry as Linkerd's ``/admin/metrics.json`` (pure).

* **Flat** (the default): names join their scopes with ``/``
  (``rt/http/service/svc/hello/requests``). Counters and gauges are numbers. A
  histogram reads from its last snapshot (Linkerd snapshots every minute): ``<name>.count``
  always, and when it is above 0 ``.max``, ``.min``, ``.p50``, ``.p90``, ``.p95``, ``.p99``,
  ``.p9990``, ``.p9999``, ``.sum`` and ``.avg``.
* **Tree** (``?tree=1``): one object per scope; a metric sits in its node under
  ``counter``, ``gauge`` or ``stat`` (``stat.count``, ``stat.p99`` ...).
* **Subtree** (``?q=rt/http/service``): either form, from the node that ``q`` names, with
  names relative to it. A scope with ``/`` inside (``svc/hello``, a client id) is one node
  and ``q`` may name it whole. :func:`resolve` gives ``None`` for a ``q`` that names no node
  (Linkerd's 404).
"""

from __future__ import annotations

from typing import Any, Iterator

from l5d.telemetry.histogram import Summary
from l5d.telemetry.stats import Scope, Stats

__all__ = ["flat_metrics", "tree_metrics", "resolve", "summary_fields"]


def summary_fields(summary: Summary) -> Iterator[tuple[str, float]]:
    """Linkerd's fields of a histogram summary, in Linkerd's order (only ``count`` when
    it is 0)."""
    yield "count", summary.count
    if summary.count > 0:
        yield "max", summary.max
        yield "min", summary.min
        yield from summary.percentiles
        yield "sum", summary.sum
        yield "avg", summary.avg


def _metrics(stats: Stats) -> Iterator[tuple[Scope, str, Any]]:
    for name, value in stats.counters():
        yield name, "counter", value
    for name, value in stats.gauges():
        yield name, "gauge", value
    for name, hist in stats.stats():
        yield name, "stat", hist.last


def resolve(stats: Stats, q: str) -> Scope | None:
    """The scope that the ``/``-separated ``q`` names, or ``None`` when no metric is under
    it. A scope may span several segments of ``q`` (``svc/hello``); the longest match wins."""
    segs = [s for s in q.split("/") if s]
    names = [name for name, _, _ in _metrics(stats)]
    prefix: Scope = ()
    i = 0
    while i < len(segs):
        n = len(prefix)
        nexts = {name[n] for name in names if len(name) > n and name[:n] == prefix}
        best = None
        for k in range(len(segs) - i, 0, -1):
            if "/".join(segs[i:i + k]) in nexts:
                best = k
                break
        if best is None:
            return None
        prefix = prefix + ("/".join(segs[i:i + best]),)
        i += best
    if not any(name[:len(prefix)] == prefix for name in names):
        return None
    return prefix


def flat_metrics(stats: Stats, under: Scope = ()) -> dict[str, Any]:
    """Every metric under ``under`` by its ``/``-joined name relative to it, sorted."""
    out: dict[str, Any] = {}
    n = len(under)
    for name, kind, value in _metrics(stats):
        if name[:n] != under:
            continue
        key = "/".join(name[n:])
        if kind == "stat":
            for field, v in summary_fields(value):
                out[f"{key}.{field}" if key else field] = v
        else:
            out[key] = value
    return dict(sorted(out.items()))


def tree_metrics(stats: Stats, under: Scope = ()) -> dict[str, Any]:
    """Every metric under ``under`` as nested objects (Linkerd's ``tree=1``)."""
    root: dict[str, Any] = {}
    n = len(under)
    for name, kind, value in sorted(_metrics(stats), key=lambda m: m[0]):
        if name[:n] != under:
            continue
        node = root
        for seg in name[n:]:
            node = node.setdefault(seg, {})
        if kind == "stat":
            for field, v in summary_fields(value):
                node[f"stat.{field}"] = v
        else:
            node[kind] = value
    return root
