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


class Stats:
    """A flat registry; ``scope(*names)`` gives a view that prefixes names."""

    def __init__(self) -> None:
        self._counters: dict[Scope, Counter | FunctionCounter] = {}
        self._gauges: dict[Scope, Gauge | FunctionGauge] = {}
        self._stats: dict[Scope, Histogram] = {}
        self._statuses: dict[Scope, dict[int, int]] = {}

    def counter(self, *name: str) -> Counter:
        c = self._counters.get(name)
        if c is None:
            c = self._counters[name] = Counter()
        return c

    def gauge(self, *name: str) -> Gauge:
        g = self._gauges.get(name)
        if g is None:
            g = self._gauges[name] = Gauge()
        return g

    def function_gauge(self, fn: Callable[[], float], *name: str) -> FunctionGauge:
        """A gauge read from ``fn`` (replaces whatever gauge had the name)."""
        g = self._gauges[name] = FunctionGauge(fn)
        return g

    def function_counter(self, fn: Callable[[], float], *name: str) -> FunctionCounter:
        """A counter whose running total is read from ``fn`` (replaces one of that name)."""
        c = self._counters[name] = FunctionCounter(fn)
        return c

    def stat(self, *name: str, scale: int = 1) -> Histogram:
        """The histogram ``name`` (see :mod:`l5d.telemetry.histogram`; ``scale`` 1000 for
        latencies recorded in microseconds and read in milliseconds)."""
        s = self._stats.get(name)
        if s is None:
            s = self._stats[name] = Histogram(scale)
        return s

    def statuses(self, *name: str) -> dict[int, int]:
        """A table of response counts by status code, read as the counters
        ``<name>/status/<code>`` and ``<name>/status/<n>XX`` (the data path adds to one
        dict entry; the class totals are summed when read)."""
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
            classes: dict[int, int] = {}
            for code, n in table.items():
                yield k + ("status", str(code)), n
                classes[code // 100] = classes.get(code // 100, 0) + n
            for c, n in classes.items():
                yield k + ("status", f"{c}XX"), n

    def stats(self) -> Iterator[tuple[Scope, Histogram]]:
        yield from self._stats.items()

    def gauges(self) -> Iterator[tuple[Scope, float]]:
        for k, g in self._gauges.items():
            yield k, g.value

    def remove(self, names) -> None:
        """Forget the metrics with exactly these names (an evicted service or client)."""
        for name in names:
            self._counters.pop(name, None)
            self._gauges.pop(name, None)
            self._stats.pop(name, None)
            self._statuses.pop(name, None)

    def remove_prefix(self, *prefix: str) -> None:
        """Forget every metric under ``prefix`` (an expired client or service)."""
        n = len(prefix)
        for table in (self._counters, self._gauges, self._stats, self._statuses):
            for key in [k for k in table if k[:n] == prefix]:
                del table[key]


class ScopedStats:
    __slots__ = ("_stats", "_prefix")

    def __init__(self, stats: Stats, prefix: Scope) -> None:
        self._stats = stats
        self._prefix = prefix

    def counter(self, *name: str) -> Counter:
        return self._stats.counter(*self._prefix, *name)

    def gauge(self, *name: str) -> Gauge:
        return self._stats.gauge(*self._prefix, *name)

    def function_gauge(self, fn: Callable[[], float], *name: str) -> FunctionGauge:
        return self._stats.function_gauge(fn, *self._prefix, *name)

    def function_counter(self, fn: Callable[[], float], *name: str) -> FunctionCounter:
        return self._stats.function_counter(fn, *self._prefix, *name)

    def stat(self, *name: str, scale: int = 1) -> Histogram:
        return self._stats.stat(*self._prefix, *name, scale=scale)

    def statuses(self, *name: str) -> dict[int, int]:
        return self._stats.statuses(*self._prefix, *name)

    def scope(self, *prefix: str) -> "ScopedStats":
        return ScopedStats(self._stats, self._prefix + prefix)

    @property
    def prefix(self) -> Scope:
        return self._prefix
