"""The stats registry: counters, gauges and histograms under scope tuples (pure).

Names are tuples such as ``("rt", "http", "service", "svc/hello", "requests")``;
exporters render them (``/`` for the admin JSON, ``.`` for statsd). Metric
objects are created once and kept by the code that updates them, so the data
path pays one attribute increment per event. Reactor-thread only.
"""

from __future__ import annotations

from typing import Callable, Iterator

from l5d.telemetry.histogram import Histogram

Scope = tuple[str, ...]


class Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def incr(self, n: int = 1) -> None:
        self.value += n


class Gauge:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value


class FunctionGauge:
    """A gauge whose value is computed when read (a balancer's size, a budget's balance)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], float]) -> None:
        self.fn = fn

    @property
    def value(self) -> float:
        return self.fn()


class FunctionCounter(FunctionGauge):
    """A counter whose running total is computed when read (a balancer's ``adds``)."""

    __slots__ = ()


def status_counters(name: Scope, table: dict[int, int]) -> Iterator[tuple[Scope, int]]:
    """The counters that the status table ``name`` reads as: ``<name>/status/<code>`` for
    each code, then ``<name>/status/<n>XX`` for each class (see :meth:`Stats.statuses`)."""
    classes: dict[int, int] = {}
    for code, n in table.items():
        yield name + ("status", str(code)), n
        classes[code // 100] = classes.get(code // 100, 0) + n
    for c, n in classes.items():
        yield name + ("status", f"{c}XX"), n


class Stats:
    """A flat registry; ``scope(*names)`` gives a view that prefixes names."""

    def __init__(self) -> None:
        self._counters: dict[Scope, Counter | FunctionCounter] = {}
        self._gauges: dict[Scope, Gauge | FunctionGauge] = {}
        self._stats: dict[Scope, Histogram] = {}
        self._statuses: dict[Scope, dict[int, int]] = {}
        self._removal_listeners: list[Callable[["Stats"], None]] = []

    def counter(self, *name: str) -> Counter:
        return self.counter_at(name)

    # the *_at methods take the name as one tuple, which the registry keeps as its key (a
    # scope passes the tuple it also keeps in ``names``: one tuple per metric, not two)
    def counter_at(self, name: Scope) -> Counter:
        c = self._counters.get(name)
        if c is None:
            c = self._counters[name] = Counter()
        return c

    def gauge(self, *name: str) -> Gauge:
        return self.gauge_at(name)

    def gauge_at(self, name: Scope) -> Gauge:
        g = self._gauges.get(name)
        if g is None:
            g = self._gauges[name] = Gauge()
        return g

    def function_gauge(self, fn: Callable[[], float], *name: str) -> FunctionGauge:
        """A gauge read from ``fn`` (replaces whatever gauge had the name)."""
        return self.function_gauge_at(fn, name)

    def function_gauge_at(self, fn: Callable[[], float], name: Scope) -> FunctionGauge:
        g = self._gauges[name] = FunctionGauge(fn)
        return g

    def function_counter(self, fn: Callable[[], float], *name: str) -> FunctionCounter:
        """A counter whose running total is read from ``fn`` (replaces one of that name)."""
        return self.function_counter_at(fn, name)

    def function_counter_at(self, fn: Callable[[], float], name: Scope) -> FunctionCounter:
        c = self._counters[name] = FunctionCounter(fn)
        return c

    def stat(self, *name: str, scale: int = 1) -> Histogram:
        """The histogram ``name`` (see :mod:`l5d.telemetry.histogram`; ``scale`` 1000 for
        latencies recorded in microseconds and read in milliseconds)."""
        return self.stat_at(name, scale)

    def stat_at(self, name: Scope, scale: int = 1) -> Histogram:
        s = self._stats.get(name)
        if s is None:
            s = self._stats[name] = Histogram(scale)
        return s

    def statuses(self, *name: str) -> dict[int, int]:
        """A table of response counts by status code, read as the counters
        ``<name>/status/<code>`` and ``<name>/status/<n>XX`` (the data path adds to one
        dict entry; the class totals are summed when read)."""
        return self.statuses_at(name)

    def statuses_at(self, name: Scope) -> dict[int, int]:
        t = self._statuses.get(name)
        if t is None:
            t = self._statuses[name] = {}
        return t

    def snapshot(self) -> None:
        """Close every histogram's window (Linkerd's periodic snapshot)."""
        for h in self._stats.values():
            h.snapshot()

    def scope(self, *prefix: str) -> "ScopedStats":
        return ScopedStats(self, prefix)

    def counters(self) -> Iterator[tuple[Scope, int]]:
        for k, c in self._counters.items():
            yield k, c.value
        for k, table in self._statuses.items():
            yield from status_counters(k, table)

    def stats(self) -> Iterator[tuple[Scope, Histogram]]:
        yield from self._stats.items()

    def gauges(self) -> Iterator[tuple[Scope, float]]:
        for k, g in self._gauges.items():
            yield k, g.value

    def add_removal_listener(self, listener: Callable[["Stats"], None]) -> None:
        """Call ``listener`` with a registry holding the metrics that :meth:`remove` or
        :meth:`remove_prefix` take out (the same objects, values as they were), before
        they go: an exporter that sends deltas (statsd) reads what they gained since its
        last read."""
        self._removal_listeners.append(listener)

    def tables(self) -> tuple[dict, dict, dict, dict]:
        """The live tables by name: counters (and function counters), gauges (and function
        gauges), histograms and status tables; read-only, for a reader that scans the whole
        registry with C-level loops (a worker's :mod:`~l5d.workers.stats_ship`)."""
        return self._counters, self._gauges, self._stats, self._statuses

    def _take(self, keys_of) -> None:
        """Remove, from each table, the keys that ``keys_of(table)`` lists."""
        gone = Stats() if self._removal_listeners else None
        for i, table in enumerate(self.tables()):
            for key in keys_of(table):
                metric = table.pop(key, None)
                if gone is not None and metric is not None:
                    gone.tables()[i][key] = metric
        if gone is not None:
            for listener in self._removal_listeners:
                listener(gone)

    def remove(self, names) -> None:
        """Forget the metrics with exactly these names (an evicted service or client)."""
        names = list(names)
        self._take(lambda table: [n for n in names if n in table])

    def remove_prefix(self, *prefix: str) -> None:
        """Forget every metric under ``prefix`` (reads the whole registry: for tools and
        tests; the router forgets a client or service by :attr:`ScopedStats.names`, which
        costs what that one has)."""
        n = len(prefix)
        self._take(lambda table: [k for k in table if k[:n] == prefix])


class ScopedStats:
    """A view of a :class:`Stats` that puts ``prefix`` before names, and keeps the names
    of the metrics made through it (``names``): what its owner hands to
    :meth:`Stats.remove` when it expires."""

    __slots__ = ("_stats", "_prefix", "names")

    def __init__(self, stats: Stats, prefix: Scope) -> None:
        self._stats = stats
        self._prefix = prefix
        self.names: list[Scope] = []

    def _name(self, name: tuple[str, ...]) -> Scope:
        full = self._prefix + name
        self.names.append(full)
        return full

    def counter(self, *name: str) -> Counter:
        return self._stats.counter_at(self._name(name))

    def gauge(self, *name: str) -> Gauge:
        return self._stats.gauge_at(self._name(name))

    def function_gauge(self, fn: Callable[[], float], *name: str) -> FunctionGauge:
        return self._stats.function_gauge_at(fn, self._name(name))

    def function_counter(self, fn: Callable[[], float], *name: str) -> FunctionCounter:
        return self._stats.function_counter_at(fn, self._name(name))

    def stat(self, *name: str, scale: int = 1) -> Histogram:
        return self._stats.stat_at(self._name(name), scale)

    def statuses(self, *name: str) -> dict[int, int]:
        return self._stats.statuses_at(self._name(name))

    def scope(self, *prefix: str) -> "ScopedStats":
        return ScopedStats(self._stats, self._prefix + prefix)

    @property
    def prefix(self) -> Scope:
        return self._prefix
