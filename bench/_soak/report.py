"""The soak's figures and verdict, from what it recorded (pure: standard library only).

:func:`summarize` turns the requests (:class:`~.outcome.Record`), the resource samples
(:class:`Sample`), the events (:class:`EventResult`) and the end-of-run checks
(:class:`Check`) into one JSON-able summary, whose ``problems`` list is empty when the
soak passed: no request lost, every event done (the worker kill may be skipped when l5d
runs one process), the churn wrote, every check passed and no process grew
(:func:`growth`).
"""

from __future__ import annotations

import dataclasses

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from .outcome import Kind, Record
from .plan import EVENTS

__all__ = ["ATTRIBUTION_S", "LIMITS", "Check", "EventResult", "Growth", "Limits", "Sample",
           "absorbed", "growth", "percentile", "summarize"]

#: a failure this long after an event started is counted as near it
ATTRIBUTION_S = 15.0
#: the event that may be skipped, and the only reason it may be
SKIPPABLE = ("worker-kill", "skipped: l5d runs one process")


@dataclass(frozen=True, slots=True)
class Sample:
    """One process's resources ``t_s`` seconds into the run: ``VmRSS`` and open fds."""

    t_s: float
    label: str          # "l5d node-1", "l5d node-1 worker", "kube-apiserver", "etcd"
    pid: int
    rss_kib: int
    fds: int


@dataclass(frozen=True, slots=True)
class EventResult:
    """A one-off event: ``status`` is ``done``, ``failed`` or ``skipped: <why>``."""

    name: str
    round: int
    planned_s: float
    start_s: float
    end_s: float
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """An end-of-run check (the namers caught up with the API...)."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a process may grow between the first and the last third of its samples
    (after the warm-up): more than the larger of the two bounds is growth."""

    rss_pct: float = 10.0
    rss_kib: int = 4096
    fds_pct: float = 25.0
    fds: int = 10


LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Growth:
    """A process's resources over the run: the medians of its first and last thirds of
    samples after the warm-up, and whether that is growth (``judged`` is false with
    fewer than three samples, as for a process that was restarted late)."""

    label: str
    pid: int
    samples: int
    rss_first_kib: int
    rss_last_kib: int
    fds_first: int
    fds_last: int
    judged: bool
    rss_grew: bool
    fds_grew: bool


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``, or ``None``.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99)
    (2, 4)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _grew(first: float, last: float, pct: float, floor: float) -> bool:
    return last - first > max(first * pct / 100, floor)


def growth(samples: Iterable[Sample], warmup_s: float, limits: Limits = LIMITS) -> list[Growth]:
    """Judge each process (a label and a pid: a restarted process is a new one) on its
    samples taken after ``warmup_s``, counted from its first sample: one started during
    the run (a restarted worker, a restarted API server) warms up like the others did."""
    ordered = sorted(samples, key=lambda s: s.t_s)
    first = ordered[0].t_s if ordered else 0.0
    shown: dict[tuple[str, int], list[Sample]] = {}  # after the run's warm-up
    born: dict[tuple[str, int], float] = {}
    for s in ordered:
        key = (s.label, s.pid)
        born.setdefault(key, s.t_s)
        if s.t_s >= warmup_s:
            shown.setdefault(key, []).append(s)
    out = []
    for (label, pid), all_ss in shown.items():
        start = born[label, pid]
        since = warmup_s if start <= first + 1.0 else start + warmup_s  # its own warm-up
        after = [s for s in all_ss if s.t_s >= since]
        judged = len(after) >= 3
        ss = after if judged else all_ss
        third = max(1, len(ss) // 3)
        rss0 = int(statistics.median(s.rss_kib for s in ss[:third]))
        rss1 = int(statistics.median(s.rss_kib for s in ss[-third:]))
        fds0 = int(statistics.median(s.fds for s in ss[:third]))
        fds1 = int(statistics.median(s.fds for s in ss[-third:]))
        out.append(Growth(label, pid, len(ss), rss0, rss1, fds0, fds1, judged,
                          judged and _grew(rss0, rss1, limits.rss_pct, limits.rss_kib),
                          judged and _grew(fds0, fds1, limits.fds_pct, limits.fds)))
    return out


def workers_fds(grown: list[Growth], samples: Iterable[Sample], warmup_s: float,
                limits: Limits = LIMITS) -> list[Growth]:
    """A node's l5d workers share its connections: when one is killed, its clients connect
    again and land on the others, so one worker's open fds rise while the node's do not.
    Each worker's fds are judged as their sum over the node's workers (a series labelled
    ``l5d node-N workers``, pid 0); each worker's RSS is still judged on its own."""
    total: dict[tuple[str, float], int] = {}
    for s in samples:
        if " worker " in s.label:
            node = s.label.split(" worker ")[0]
            key = (node, round(s.t_s))
            total[key] = total.get(key, 0) + s.fds
    sums = [Sample(t, f"{node} workers", 0, 0, fds) for (node, t), fds in total.items()]
    out = [dataclasses.replace(g, fds_grew=False) if " worker " in g.label else g
           for g in grown]
    return out + [dataclasses.replace(g, rss_grew=False) for g in growth(sums, warmup_s, limits)]


def absorbed(metrics: dict[str, float]) -> dict[str, dict[str, int]]:
    """What one l5d absorbed, from its ``/admin/metrics.json``, per router: the
    ``retries`` it made, the ``client failures`` it saw from the next hop (refused
    connections, 5xx...) and the ``server failures`` it answered its own callers with.

    >>> absorbed({"rt/in/client/%/a/b/failures": 3, "rt/in/client/%/a/b/service/svc/b/failures": 9,
    ...           "rt/in/service/svc/b/retries/total": 2, "rt/in/server/0.0.0.0/41/failures": 1})
    {'in': {'retries': 2, 'client failures': 3, 'server failures': 1}}
    """
    out: dict[str, dict[str, int]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) < 5 or parts[0] != "rt" or not isinstance(value, (int, float)):
            continue
        if parts[2] == "service" and parts[-2:] == ["retries", "total"]:
            what = "retries"
        elif parts[2] == "client" and parts[-1] == "failures" and "/service/" not in key:
            what = "client failures"
        elif parts[2] == "server" and parts[-1] == "failures":
            what = "server failures"
        else:
            continue
        counts = out.setdefault(parts[1], {"retries": 0, "client failures": 0,
                                           "server failures": 0})
        counts[what] += int(value)
    return out


def _attribute(records: Sequence[Record], events: Sequence[EventResult]) -> dict:
    """Failures and losses by the event that started at most ATTRIBUTION_S before them
    ("churn only" when none did): event -> "kind: detail" -> count."""
    starts = sorted((e.start_s, e.name) for e in events if e.status == "done")
    near: dict[str, Counter] = {}
    for r in records:
        if r.outcome.kind is Kind.OK:
            continue
        name = "churn only"
        for start, event in starts:
            if start <= r.t_s <= start + ATTRIBUTION_S:
                name = event
        near.setdefault(name, Counter())[f"{r.outcome.kind.value}: {r.outcome.detail}"] += 1
    return {k: dict(v.most_common()) for k, v in near.items()}


def _requests(records: Sequence[Record], duration_s: float) -> dict:
    kinds = Counter(r.outcome.kind for r in records)
    per_window = Counter(int(r.t_s // 10) for r in records)
    windows = [per_window.get(w, 0) for w in range(max(1, int(duration_s // 10)))]
    latencies = [r.latency_ms for r in records if r.outcome.status]
    by_node: dict[int, Counter] = {}
    for r in records:
        by_node.setdefault(r.node, Counter())[r.outcome.kind.value] += 1
    return {
        "sent": len(records),
        "answered": sum(1 for r in records if r.outcome.status),
        "ok": kinds[Kind.OK], "failed": kinds[Kind.FAILED], "lost": kinds[Kind.LOST],
        "failed_by_kind": dict(Counter(r.outcome.detail for r in records
                                       if r.outcome.kind is Kind.FAILED).most_common()),
        "lost_by_kind": dict(Counter(r.outcome.detail for r in records
                                     if r.outcome.kind is Kind.LOST).most_common()),
        "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                       "max": max(latencies, default=None)},
        "per_10s": {"min": min(windows), "max": max(windows)},
        "rps": round(len(records) / duration_s, 1) if duration_s else 0.0,
        "by_node": {f"node-{n}": dict(c) for n, c in sorted(by_node.items())},
    }


def _event_problems(events: Sequence[EventResult], churn: dict) -> list[str]:
    problems = []
    for e in events:
        if e.status == "done" or (e.name, e.status) == SKIPPABLE:
            continue
        problems.append(f"event {e.name} (round {e.round}) {e.status}: {e.detail}")
    missing = set(EVENTS) - {e.name for e in events}
    if missing:
        problems.append(f"events never run: {', '.join(sorted(missing))}")
    if not churn.get("writes"):
        problems.append("the Endpoints churn wrote nothing")
    return problems


def summarize(records: Sequence[Record], samples: Sequence[Sample],
              events: Sequence[EventResult], checks: Sequence[Check], churn: dict,
              params: dict, metrics: dict[str, dict] | None = None,
              limits: Limits = LIMITS) -> dict:
    """The soak's summary (JSON-able) with its ``problems`` and ``passed``.

    :param churn: the churn's counts (``writes``, ``write_errors``, ``errors``).
    :param params: the run's parameters; ``duration_s`` and ``warmup_s`` are used here.
    :param metrics: node -> that l5d's ``/admin/metrics.json`` at the end (shown, not
        judged: :func:`absorbed`).
    """
    req = _requests(records, params["duration_s"])
    grown = workers_fds(growth(samples, params["warmup_s"], limits),
                        samples, params["warmup_s"], limits)
    problems: list[str] = []
    notes: list[str] = []
    if not records:
        problems.append("no request was sent")
    if req["lost"]:
        problems.append(f"{req['lost']} requests lost: " + ", ".join(
            f"{n} {k}" for k, n in req["lost_by_kind"].items()))
    problems += _event_problems(events, churn)
    problems += [f"check {c.name} failed: {c.detail}" for c in checks if not c.passed]
    for g in grown:
        for what, grew, a, b, unit in (("RSS", g.rss_grew, g.rss_first_kib / 1024,
                                        g.rss_last_kib / 1024, " MiB"),
                                       ("open fds", g.fds_grew, g.fds_first, g.fds_last, "")):
            if grew:
                line = f"{g.label} (pid {g.pid}) {what} grew: {a:.1f} -> {b:.1f}{unit}"
                # l5d's processes must stay flat; the cluster's own (kube-apiserver, etcd:
                # restarted five times) are shown, not judged
                (problems if g.label.startswith("l5d") else notes).append(line)
    return {
        "params": params,
        "notes": notes,
        "requests": req,
        "near_events": _attribute(records, events),
        "events": [asdict(e) for e in events],
        "churn": churn,
        "absorbed": {node: absorbed(m) for node, m in (metrics or {}).items()},
        "checks": [asdict(c) for c in checks],
        "limits": asdict(limits),
        "growth": [asdict(g) for g in grown],
        "samples": [asdict(s) for s in samples],
        "problems": problems,
        "passed": not problems,
    }
