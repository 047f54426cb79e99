"""The workers' stats merged into the control process's registry, and their other state
gathered (pure).

:class:`StatsMerger` applies the bodies that :class:`~l5d.workers.stats_ship.StatsShipper`
makes (layout in :mod:`l5d.workers.stats_ship`) to the control's
:class:`~l5d.telemetry.stats.Stats`, so that its exporters (``/admin/metrics.json``,
Prometheus, statsd, influxdb, the dashboard) read one registry as they would read a
single process's:

* **counters** are sums: each worker ships absolute values; the merger adds the
  difference from that worker's previous value (the whole value at first sight, or when
  it went down: made anew). A merged counter never goes down: a worker that dies leaves
  what it counted.
* **histograms** are sums: a worker's window goes into the open window of the control's
  histogram of that name (:meth:`~l5d.telemetry.histogram.Histogram.add_window`), which
  the control's periodic snapshot closes. The buckets are fixed, so counts, sums,
  percentiles and statsd's bucket deltas are exactly those of one registry that recorded
  every value.
* **gauges** are the sum of the latest values of the live workers that report them (a
  function gauge per name, reading the merger's table). :meth:`StatsMerger.worker_gone`
  drops a dead worker's values; a gauge that no live worker reports goes from the
  registry.
* **removals**: a name that a worker removed leaves the control's registry (through
  :meth:`~l5d.telemetry.stats.Stats.remove`, so statsd sends what it gained first) when
  no other live worker reports it; one that a dead worker alone reported stays (its
  counts are in the totals).

The merger touches only the names that workers send; the control's own metrics (its
``process/...``, namers, dtab store) live beside them under other names, and a worker's
``process/...`` arrives as ``workers/<index>/process/...``. A name is one kind of metric.
One exception: a name the control has as a *function* counter of its own (statsd's
``statsd/timer_values``: every process has a statsd telemeter) reads the control's function
plus what the workers shipped under it.

:func:`merge_recent` and :func:`merge_client_states` gather the workers' recent requests
and client states for the admin pages. Reactor-thread only.
"""

from __future__ import annotations

import heapq
import itertools
from operator import itemgetter
from typing import Any, Hashable, Iterable, Mapping

from l5d.telemetry.stats import Counter, Scope, Stats
from l5d.workers.stats_ship import Body

__all__ = ["StatsMerger", "merge_recent", "merge_client_states"]


#: gauges that describe one balancer's endpoints, alike in every worker (each balances
#: over the same endpoints): merged as the largest, not the sum, so that "endpoints 3"
#: does not read 6 with two workers
SAME_IN_EVERY_WORKER = frozenset({"size", "closed", "logical_aperture", "physical_aperture",
                                  "algorithm"})
#: ... except ``available``: the fewest any worker has (each worker's failure accrual marks
#: endpoints on its own; an alert on available against expected fires when any worker
#: lost one)
FEWEST = "available"


def _merge_rule(name: Scope) -> str:
    if "loadbalancer" not in name:
        return "sum"
    rest = name[name.index("loadbalancer") + 1:]
    if not rest:
        return "sum"
    if rest[0] == FEWEST:
        return "min"
    return "max" if rest[0] in SAME_IN_EVERY_WORKER else "sum"


class _Gauge:
    """The merged gauge of one name: the sum of the live workers' latest values (what is
    in flight, connections, budgets, load), their largest for what every worker's balancer
    has alike (:data:`SAME_IN_EVERY_WORKER`), their fewest for ``available``."""

    __slots__ = ("values", "rule")

    def __init__(self, rule: str = "sum") -> None:
        self.values: dict[Hashable, Any] = {}
        self.rule = rule

    def read(self) -> Any:
        values = self.values.values()
        if self.rule == "max":
            return max(values, default=0)
        if self.rule == "min":
            return min(values, default=0)
        return sum(values)


class _FunctionSum:
    """A control's own function counter plus what workers shipped under its name."""

    __slots__ = ("fn", "total")

    def __init__(self, fn: Any, total: Any = 0) -> None:
        self.fn = fn
        self.total = total

    def read(self) -> Any:
        return self.fn() + self.total


class StatsMerger:
    """Applies worker bodies to ``stats`` (see the module docstring).

    :param stats: the control process's registry.
    """

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        #: worker -> {name it reports: its last counter value (None: not a counter)}
        self._workers: dict[Hashable, dict[Scope, Any]] = {}
        #: name -> how many live workers report it
        self._reporters: dict[Scope, int] = {}
        self._gauges: dict[Scope, _Gauge] = {}
        self._sums: dict[Scope, _FunctionSum] = {}

    @property
    def workers(self) -> list[Hashable]:
        """The workers heard from and not gone."""
        return list(self._workers)

    def apply(self, worker_id: Hashable, body: tuple) -> None:
        """Merge one body from ``worker_id`` (a full body starts that worker afresh)."""
        b = Body(*body)
        if b.full:
            self.worker_gone(worker_id)
        seen = self._workers.get(worker_id)
        if seen is None:
            seen = self._workers[worker_id] = {}
        stats = self._stats
        for name, delta in b.gone_counters.items():
            if delta:
                self._add(name, delta)
        for name, (scale, buckets, total) in b.gone_histograms.items():
            stats.stat(*name, scale=scale).add_window(buckets, total)
        if b.removed:
            self._removed(worker_id, seen, b.removed)
        for name, value in b.counters.items():
            last = seen.get(name, _MISSING)
            if last is _MISSING:
                self._report(name)
                delta = value
            elif last is None or value < last:
                delta = value
            else:
                delta = value - last
            seen[name] = value
            if delta or last is _MISSING:
                c = stats.counter(*name)
                if c.__class__ is Counter:
                    c.value += delta
                else:
                    self._add(name, delta)
        for name, (scale, buckets, total) in b.histograms.items():
            if name not in seen:
                self._report(name)
                seen[name] = None
            h = stats.stat(*name, scale=scale)
            if buckets:
                h.add_window(buckets, total)
        for name, value in b.gauges.items():
            if name not in seen:
                self._report(name)
                seen[name] = None
            g = self._gauges.get(name)
            if g is None:
                g = self._gauges[name] = _Gauge(_merge_rule(name))
                stats.function_gauge(g.read, *name)
            g.values[worker_id] = value

    def _add(self, name: Scope, delta: Any) -> None:
        """Add ``delta`` to the counter ``name``; a function counter of the control's own
        becomes one that reads its function plus the workers' sum."""
        c = self._stats.counter(*name)
        if c.__class__ is Counter:
            c.value += delta
            return
        s = self._sums.get(name)
        if s is None or c.fn != s.read:  # the control's own, first seen or registered anew
            s = self._sums[name] = _FunctionSum(c.fn, s.total if s is not None else 0)
            self._stats.function_counter(s.read, *name)
        s.total += delta

    def worker_gone(self, worker_id: Hashable) -> None:
        """``worker_id`` is dead: drop its gauge values (a gauge no live worker reports
        goes); its counts stay in the totals."""
        seen = self._workers.pop(worker_id, None)
        if seen is None:
            return
        dead = []
        for name in seen:
            self._unreport(name)
            g = self._gauges.get(name)
            if g is not None:
                g.values.pop(worker_id, None)
                if not g.values:
                    del self._gauges[name]
                    dead.append(name)
        if dead:
            self._stats.remove(dead)

    def _report(self, name: Scope) -> None:
        self._reporters[name] = self._reporters.get(name, 0) + 1

    def _unreport(self, name: Scope) -> int:
        """One live worker fewer reports ``name``; how many still do."""
        n = self._reporters.get(name, 0) - 1
        if n > 0:
            self._reporters[name] = n
            return n
        self._reporters.pop(name, None)
        return 0

    def _removed(self, worker_id: Hashable, seen: dict[Scope, Any],
                 names: Iterable[Scope]) -> None:
        """``worker_id`` removed ``names``: those no other live worker reports go."""
        gone = []
        for name in names:
            if seen.pop(name, _MISSING) is not _MISSING:
                left = self._unreport(name)
            else:
                left = self._reporters.get(name, 0)
            g = self._gauges.get(name)
            if g is not None:
                g.values.pop(worker_id, None)
            if left == 0:
                self._gauges.pop(name, None)
                gone.append(name)
        if gone:
            self._stats.remove(gone)


_MISSING = object()


def merge_recent(lists_of_records: Iterable[Iterable[tuple]], capacity: int) -> list[tuple]:
    """The ``capacity`` newest records of all the lists, newest first, by field 1 (the
    wall-clock start); the lists need not be sorted, and records that started at the same
    time keep the order of the lists (worker order)."""
    return heapq.nlargest(capacity, itertools.chain.from_iterable(lists_of_records),
                          key=itemgetter(1))


def _rank(state: Mapping[str, Any]) -> tuple:
    """How much an address state says (:func:`merge_client_states`): greater is more."""
    text = str(state.get("state", ""))
    addresses = list(state.get("addresses") or ())
    kind = 3 if text == "bound" else 2 if text.startswith("Failed") else \
        1 if text == "Neg" else 0
    return kind, len(addresses), text, sorted(addresses)


def merge_client_states(states: Iterable[Mapping[str, Mapping[str, Any]]]
                        ) -> dict[str, Mapping[str, Any]]:
    """The workers' ``/client_state.json`` objects (client name -> ``{"state",
    "addresses"}``) as one, by name. Where workers disagree (one has not had the newest
    snapshot yet), the state that says the most wins: ``bound`` over ``Failed: ...`` over
    ``Neg`` over ``Pending``; then more addresses; then, so that the answer does not
    depend on the workers' order, the greater state text and sorted addresses."""
    out: dict[str, tuple[tuple, Mapping[str, Any]]] = {}
    for table in states:
        for name, state in table.items():
            rank = _rank(state)
            had = out.get(name)
            if had is None or rank > had[0]:
                out[name] = (rank, state)
    return {name: out[name][1] for name in sorted(out)}
