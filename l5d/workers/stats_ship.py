"""A worker's stats, shipped to the control process as plain values (pure).

Each worker process keeps its own :class:`~l5d.telemetry.stats.Stats`; the control
process merges what the workers ship (:mod:`l5d.workers.stats_merge`) into its own
registry, which its exporters read. :meth:`StatsShipper.collect` makes one message body,
a tuple of plain values that ``marshal`` carries (:class:`Body` names its fields):

``(full, counters, gauges, histograms, gone_counters, gone_histograms, removed)``

* ``full`` (bool): the first body of this shipper. The merger starts the worker afresh
  (forgets what an earlier process under the same id sent; its totals stay).
* ``counters`` ``{name: value}``: the counters whose value changed since the previous
  body (or that are new), as **absolute** running values, as
  :meth:`~l5d.telemetry.stats.Stats.counters` reads them: status tables flattened to
  ``<name>/status/<code>`` and ``<name>/status/<n>XX``, function counters read.
* ``gauges`` ``{name: value}``: the gauges whose value changed or that are new (a gauge
  only goes away by removal, which ``removed`` says).
* ``histograms`` ``{name: (scale, {bucket index: count}, window sum)}``: each histogram's
  window since the previous body (then closed with
  :meth:`~l5d.telemetry.histogram.Histogram.snapshot`: the worker reads its windows only
  here), and every new histogram once, even empty, so that the control lists it.
* ``gone_counters`` ``{name: delta}``: what counters removed since the previous body
  gained after it and before they went (a **delta**: a name removed twice adds both).
* ``gone_histograms`` ``{name: (scale, buckets, sum)}``: the open windows of histograms
  removed since the previous body (both added, if removed twice).
* ``removed`` ``[name]``: every name (flattened) removed from the registry since the
  previous body, in order. The merger applies the ``gone_*`` parts, then ``removed``,
  then the others (a name removed and made again in between arrives as a new one).

Names are tuples of ``str``. ``renames`` maps name prefixes to others: a worker's
``process/...`` figures go as ``workers/<index>/process/...`` (:func:`worker_renames`),
so that they stand beside the control's own ``process/...``.

Cost: nothing is added to the data path (no dirty marks), so every
:meth:`~StatsShipper.collect` reads each counter and gauge and compares it with what it
last shipped, copies each status table and looks at each histogram's window; these scans
run as C-level loops (``map``, ``compress``) while no name comes or goes, and the rest
(flattening, closing windows, renaming, the body) costs what changed. Measured by
``bench/stats_ship_bench.py``: 1,000 services x 31 metrics, about 5 ms of CPU when nothing
changed, 7 ms when a tenth of the services had traffic, 35 ms for the first (full) body.
Those are plain counters and gauges; a real worker's function gauges (a client's balancer,
accrual and budget figures) are Python calls, and with 1,000 services bound a worker
spends about 6 % of a core at idle on its collects (``bench/rss_bench.py --idle-cpu``,
``docs/performance.md``). Reactor-thread only.
"""

from __future__ import annotations

from itertools import compress
from operator import attrgetter, ne
from typing import Any, Mapping, NamedTuple

from l5d.telemetry.stats import Scope, Stats, status_counters

__all__ = ["Body", "StatsShipper", "worker_renames", "add_window_to"]

#: a histogram's window as shipped: (scale, {bucket index: count}, the sum of its values)
Window = tuple[int, dict[int, int], int]
_MISSING = object()
_VALUE = attrgetter("value")


class Body(NamedTuple):
    """The fields of a shipped body (ship ``tuple(body)``: ``marshal`` takes no named
    tuples; read with ``Body(*t)``). See the module docstring."""

    full: bool
    counters: dict[Scope, Any]
    gauges: dict[Scope, Any]
    histograms: dict[Scope, Window]
    gone_counters: dict[Scope, Any]
    gone_histograms: dict[Scope, Window]
    removed: list[Scope]


def worker_renames(index: int) -> dict[Scope, Scope]:
    """Worker ``index``'s renames: its ``process/...`` under ``workers/<index>/process``."""
    return {("process",): ("workers", str(index), "process")}


def add_window_to(windows: dict[Scope, Window], name: Scope, scale: int,
                  buckets: Mapping[int, int], total: int) -> None:
    """Add a window to ``windows[name]`` (made when absent), bucket by bucket."""
    had = windows.get(name)
    if had is None:
        windows[name] = (scale, dict(buckets), total)
        return
    merged = had[1]
    for i, n in buckets.items():
        merged[i] = merged.get(i, 0) + n
    windows[name] = (had[0], merged, had[2] + total)


class _Scan:
    """A table's names and values as last shipped, to find what changed since with
    C-level loops (``map``, ``compress``) while the table keeps the same names."""

    __slots__ = ("keys", "values")

    def __init__(self) -> None:
        self.keys: list[Scope] = []
        self.values: list[Any] = []

    def changed(self, keys: list[Scope], values: list[Any], fresh: set[Scope]) -> list:
        """``(name, value)`` of the names that are new, changed or in ``fresh`` (removed
        and made again since)."""
        if not fresh and keys == self.keys:
            out = list(compress(zip(keys, values), map(ne, values, self.values)))
        else:
            old = dict(zip(self.keys, self.values))
            out = [(k, v) for k, v in zip(keys, values)
                   if k in fresh or old.get(k, _MISSING) != v]
        self.keys, self.values = keys, values
        return out


class StatsShipper:
    """Reads a worker's registry into message bodies (see the module docstring).

    :param stats: the worker's registry (its periodic snapshot is off: this closes the
        histogram windows).
    :param renames: name prefix -> the prefix it is shipped under (the first that
        matches; :func:`worker_renames`).
    """

    def __init__(self, stats: Stats, renames: Mapping[Scope, Scope] | None = None) -> None:
        self._stats = stats
        self._renames = tuple((tuple(k), tuple(v)) for k, v in (renames or {}).items())
        self._full = True
        self._counters, self._gauges, self._statuses = _Scan(), _Scan(), _Scan()
        self._hists: list[Scope] = []  # the histograms' names at the previous body
        #: names removed since the previous body (made again, they ship as new)
        self._fresh: set[Scope] = set()
        #: counters and status tables at their first removal since the previous body (what
        #: they had when shipped is taken off at the next body), and what later ones had
        self._gone_first: dict[Scope, Any] = {}
        self._gone_first_tables: dict[Scope, dict[int, int]] = {}
        self._gone_counts: dict[Scope, Any] = {}
        self._gone_hists: dict[Scope, Window] = {}
        self._removed: dict[Scope, None] = {}  # an ordered set
        stats.add_removal_listener(self._on_removal)

    def _ship_name(self, name: Scope) -> Scope:
        for old, new in self._renames:
            if name[:len(old)] == old:
                return new + name[len(old):]
        return name

    def collect(self) -> tuple:
        """The body of what changed since the previous call (the first: everything), as
        a plain tuple (:class:`Body`'s fields)."""
        ship = self._ship_name if self._renames else _same
        if self._gone_first or self._gone_first_tables:
            self._settle_gone()
        counters_t, gauges_t, hists_t, statuses_t = self._stats.tables()
        fresh = self._fresh
        counters = {ship(k): v for k, v in self._counters.changed(
            list(counters_t), list(map(_VALUE, counters_t.values())), fresh)}
        scan = self._statuses
        old_keys, old_tables = scan.keys, scan.values
        changed = scan.changed(list(statuses_t), list(map(dict.copy, statuses_t.values())),
                               fresh)
        before = dict(zip(old_keys, old_tables)) if changed else {}
        for name, table in changed:  # only the codes that changed go
            was = {} if name in fresh else dict(status_counters(name, before.get(name, {})))
            for flat, value in status_counters(name, table):
                if was.get(flat) != value:
                    counters[ship(flat)] = value
        gauges = {ship(k): v for k, v in self._gauges.changed(
            list(gauges_t), list(map(_VALUE, gauges_t.values())), fresh)}
        hists: dict[Scope, Window] = {}
        names = list(hists_t)
        known = set(self._hists) if fresh or names != self._hists else None
        for name, h in hists_t.items():
            window, total = h.window()
            if window:
                h.snapshot()  # a new open window: ``window`` is ours now
                hists[ship(name)] = (h.scale, window, total)
            elif known is not None and (name not in known or name in fresh):
                hists[ship(name)] = (h.scale, {}, 0)
        self._hists = names
        body = Body(
            self._full, counters, gauges, hists,
            {ship(k): v for k, v in self._gone_counts.items()},
            {ship(k): v for k, v in self._gone_hists.items()},
            [ship(k) for k in self._removed])
        self._full = False
        self._fresh, self._gone_counts, self._gone_hists, self._removed = set(), {}, {}, {}
        return tuple(body)

    def _gone_add(self, name: Scope, delta: Any) -> None:
        if delta:
            self._gone_counts[name] = self._gone_counts.get(name, 0) + delta

    def _settle_gone(self) -> None:
        """What removed counters gained since they were last shipped."""
        sent = dict(zip(self._counters.keys, self._counters.values))
        for name, value in self._gone_first.items():
            self._gone_add(name, _gain(value, sent.get(name)))
        tables = dict(zip(self._statuses.keys, self._statuses.values))
        for name, table in self._gone_first_tables.items():
            before = dict(status_counters(name, tables.get(name, {})))
            for flat, value in status_counters(name, table):
                self._gone_add(flat, _gain(value, before.get(flat)))
        self._gone_first, self._gone_first_tables = {}, {}

    def _on_removal(self, gone: Stats) -> None:
        """Keep what removed metrics had and their names (a name removed again since the
        previous body was made since: all it had is a gain)."""
        counters_t, gauges_t, hists_t, statuses_t = gone.tables()
        fresh, removed = self._fresh, self._removed
        for name, c in counters_t.items():
            if name in fresh:
                self._gone_add(name, c.value)
            else:
                self._gone_first[name] = c.value
            removed[name] = None
        for name, table in statuses_t.items():
            if name in fresh:
                for flat, value in status_counters(name, table):
                    self._gone_add(flat, value)
            else:
                self._gone_first_tables[name] = dict(table)
            for flat, _ in status_counters(name, table):
                removed[flat] = None
        for name in gauges_t:
            removed[name] = None
        for name, h in hists_t.items():
            window, total = h.window()
            if window:
                add_window_to(self._gone_hists, name, h.scale, window, total)
            removed[name] = None
        fresh.update(counters_t, gauges_t, hists_t, statuses_t)


def _gain(value: Any, before: Any) -> Any:
    """What a counter gained since it was ``before`` (``None``: never shipped); below it
    means made anew meanwhile, as statsd reads it."""
    return value if before is None or value < before else value - before


def _same(name: Scope) -> Scope:
    return name
