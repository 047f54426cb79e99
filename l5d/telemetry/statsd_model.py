"""``io.l5d.statsd``'s lines and datagrams, read losslessly from the registry (pure).

**Names** are Linkerd's (its ``StatsDStatsReceiver.mkName``): the scopes joined by ``/``,
every character outside ``[/A-Za-z0-9]`` made ``_``, each ``//`` made ``/`` (one pass,
left to right), then ``/`` made ``.``; the ``prefix`` goes in front with a ``.``. So
``rt/http/server/0.0.0.0/4140/requests`` is ``linkerd.rt.http.server.0_0_0_0.4140.requests``.

**Lines** are the plain statsd protocol that every collector reads (etsy's statsd, the
Sysdig agent's, statsite, Telegraf, Datadog's):

* a counter: ``name:<delta>|c``, what it gained since the previous flush (none when 0);
* a gauge: ``name:<value>|g``. A negative value goes as ``name:0|g`` then
  ``name:-3|g`` in one datagram, since a signed gauge value means "add" to statsd;
* a histogram: statsd timers, ``name:<value>|ms``, one line per value recorded since the
  previous flush. Linkerd sent every histogram as a timer (``retries/per_request`` too);
  so does l5d. A histogram keeps bucket counts, not values: each value is sent as its
  bucket's midpoint, exact below 256 recorded units (0.256 ms for latencies) and within
  0.4 % above; the count is exact. So a flush's timers are *runs*, ``(line, n)``: the same
  line ``n`` times, which :func:`pack_runs` packs without making ``n`` strings.
  :func:`sample` keeps each value with probability ``rate`` (the injected ``rng``) and
  marks its line ``|@rate``, which statsd counts as ``1/rate`` values; counters and
  gauges are never sampled.

The registry is read, never reset: :class:`Aggregator` keeps the counter values and
bucket counts it last sent and sends the difference, so the admin's histogram windows
(``/admin/metrics.json``, Prometheus) are not disturbed. Metrics that the router removes
(an expired or evicted client or service) are handed to :meth:`Aggregator.retire` first
(:meth:`~l5d.telemetry.stats.Stats.add_removal_listener`), so what they gained since the
last flush still goes out with the next one, and a client that comes back starts from 0.
Counters and gauges are read at once by :meth:`Aggregator.flush`; the histograms one at a
time by a :class:`TimerRound`, as its datagrams are taken, so that no single step reads
them all.

:func:`pack` joins lines into datagrams of at most ``max_bytes`` (1432 by default: an
Ethernet MTU of 1500 less IP and UDP headers with room for options, statsd's advice for
"Fast Ethernet").
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from l5d.telemetry.histogram import Histogram, bucket_bounds
from l5d.telemetry.stats import Scope, Stats

__all__ = ["Aggregator", "Flush", "DEFAULT_MAX_DATAGRAM_BYTES", "metric_name", "number",
           "gauge_unit", "pack", "pack_runs", "sample", "TimerRound", "Tally"]

DEFAULT_MAX_DATAGRAM_BYTES = 1432
_DISALLOWED = re.compile(r"[^/A-Za-z0-9]")


def metric_name(name: Scope, prefix: str = "") -> str:
    """Linkerd's statsd name of the scope tuple ``name`` (see the module docstring)."""
    path = _DISALLOWED.sub("_", "/".join(name)).replace("//", "/").replace("/", ".")
    return f"{prefix}.{path}" if prefix else path


def number(v: float) -> str:
    """``v`` as statsd reads it: an integer without a point, a float without an exponent
    (etsy's statsd reads a sample rate with ``[\\d.]+``)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    v = float(v)
    if v.is_integer() and abs(v) < 2 ** 53:
        return str(int(v))
    text = repr(v)
    if "e" in text or "E" in text:
        text = f"{v:.12f}".rstrip("0").rstrip(".")
    return text


def gauge_unit(name: str, value: float) -> str | None:
    """The line(s) that set gauge ``name`` to ``value`` (``None`` for NaN and infinities).
    A negative value is two lines, ``0`` then the value, to be sent together."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return None
    if value < 0:
        return f"{name}:0|g\n{name}:{number(value)}|g"
    return f"{name}:{number(value)}|g"


def _midpoint(index: int, scale: int) -> str:
    lower, upper = bucket_bounds(index)
    mid = lower if upper - lower == 1 else (lower + upper - 1) / 2
    return number(mid / scale if scale != 1 else mid)


def pack(units: Iterable[str], max_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES) -> list[bytes]:
    """Datagrams of ``units`` joined by ``\\n``, each at most ``max_bytes`` long, in order.

    A unit is one line, or lines that must arrive together (a negative gauge); it is
    never split. A unit longer than ``max_bytes`` goes alone (l5d's names never are).
    Units are ASCII (mangled names, numbers).
    """
    out: list[bytes] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = len(unit)
        if current and size + 1 + n > max_bytes:
            out.append("\n".join(current).encode("ascii"))
            current, size = [], 0
        size += n + (1 if current else 0)
        current.append(unit)
    if current:
        out.append("\n".join(current).encode("ascii"))
    return out


def pack_runs(runs: Iterable[tuple[str, int]],
              max_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES) -> Iterator[bytes]:
    """:func:`pack` of the lines of ``runs`` (``(line, n)``: ``line`` ``n`` times), made
    lazily, one datagram at a time, at a cost that grows with the datagrams rather than
    the lines."""
    parts: list[bytes] = []  # pieces of the datagram being filled, joined by newlines
    size = 0
    for line, n in runs:
        b = line.encode("ascii")
        width = len(b) + 1  # the line and the newline before it
        while n > 0:
            if parts:
                k = min(n, (max_bytes - size) // width)
                if k <= 0:
                    yield b"\n".join(parts)
                    parts, size = [], 0
                    continue
                size += k * width
            else:
                per = max(1, (max_bytes + 1) // width)  # copies in an empty datagram
                k = min(n, per)
                size = k * width - 1
            parts.append(b"\n".join([b] * k))
            n -= k
    if parts:
        yield b"\n".join(parts)


def sample(runs: Iterable[tuple[str, int]], rate: float,
           rng: random.Random) -> tuple[list[tuple[str, int]], int]:
    """Keep each value of ``runs`` with probability ``rate`` and mark its line ``|@rate``
    (statsd then counts it ``1/rate`` times). Returns the kept runs and how many values
    they hold. ``rate`` >= 1 keeps everything, unmarked."""
    runs = list(runs)
    if rate >= 1:
        return runs, sum(n for _, n in runs)
    mark = f"|@{number(rate)}"
    out = []
    kept = 0
    for line, n in runs:
        k = sum(1 for _ in range(n) if rng.random() < rate)
        if k:
            out.append((line + mark, k))
            kept += k
    return out, kept


@dataclass
class Flush:
    """What one flush found: ``priority`` units (counters, then gauges) for :func:`pack`;
    the ``histograms`` to read for this flush's timers (see :class:`TimerRound`), and the
    timer ``runs`` of histograms removed since the previous flush."""

    priority: list[str] = field(default_factory=list)
    histograms: list[tuple[Scope, Histogram]] = field(default_factory=list)
    runs: list[tuple[str, int]] = field(default_factory=list)


_Seen = dict[Scope, tuple[Histogram, int, dict[int, int]]]


class Aggregator:
    """Turns the registry into statsd lines, one flush at a time. Reactor-thread only.

    Counters and gauges are read at once by :meth:`flush`; each histogram when
    :meth:`read` is called for it (by a :class:`TimerRound`, as datagrams are wanted).

    :param prefix: put with a ``.`` before every name (``""``: none).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._names: dict[Scope, str] = {}
        self._values: dict[tuple[int, int], str] = {}  # (bucket, scale) -> its value's text
        #: counter name -> the value last sent
        self._counts: dict[Scope, float] = {}
        #: histogram name -> (the histogram, its count, its bucket counts) last read
        self._hists: _Seen = {}
        #: histograms removed (and read one last time) since the last flush
        self._gone: set[int] = set()
        self._retired_priority: list[str] = []
        self._retired_runs: list[tuple[str, int]] = []

    def _name(self, name: Scope) -> str:
        text = self._names.get(name)
        if text is None:
            text = self._names[name] = metric_name(name, self.prefix)
        return text

    def flush(self, stats: Stats) -> Flush:
        """Every counter's delta since the previous flush and every gauge's value (and what
        removed metrics gained before they went), and the histograms to read."""
        out = Flush(self._retired_priority, list(stats.stats()), self._retired_runs)
        self._retired_priority, self._retired_runs = [], []
        self._gone = set()
        counts: dict[Scope, float] = {}
        self._counters(stats, self._counts, counts, out.priority)
        self._counts = counts
        live = set(counts)
        for name, value in stats.gauges():
            live.add(name)
            unit = gauge_unit(self._name(name), value)
            if unit is not None:
                out.priority.append(unit)
        hists = {name for name, _ in out.histograms}
        live |= hists
        if len(self._hists) > len(hists):  # forget histograms that are gone
            self._hists = {k: v for k, v in self._hists.items() if k in hists}
        if len(self._names) > len(live):
            self._names = {k: v for k, v in self._names.items() if k in live}
        return out

    def read(self, name: Scope, hist: Histogram) -> list[tuple[str, int]]:
        """The timer runs of the values ``hist`` gained since it was last read, each as its
        bucket's midpoint, in bucket order (none for a histogram removed meanwhile)."""
        if id(hist) in self._gone:
            return []
        before = self._hists.get(name)
        count, _, buckets = hist.totals()
        if before is not None and before[0] is hist:
            if before[1] == count:
                return []
            prev = before[2]
        else:
            prev = {}
        self._hists[name] = (hist, count, buckets)
        text = self._name(name)
        scale = hist.scale
        values = self._values
        runs = []
        for index in sorted(buckets):
            n = buckets[index] - prev.get(index, 0)
            if n > 0:
                value = values.get((index, scale))
                if value is None:
                    value = values[(index, scale)] = _midpoint(index, scale)
                runs.append((f"{text}:{value}|ms", n))
        return runs

    def retire(self, gone: Stats) -> None:
        """Metrics about to be removed from the registry: keep what they gained since the
        last flush (or read) for the next flush, and forget them."""
        self._counters(gone, self._counts, None, self._retired_priority)
        for name, _ in gone.counters():
            self._counts.pop(name, None)
        for name, hist in gone.stats():
            if id(hist) not in self._gone:
                self._retired_runs.extend(self.read(name, hist))
                self._gone.add(id(hist))
            self._hists.pop(name, None)

    def _counters(self, stats: Stats, last: dict[Scope, float],
                  seen: dict[Scope, float] | None, out: list[str]) -> None:
        for name, value in stats.counters():
            before = last.get(name, 0)
            # a counter below what was sent was made anew under the same name
            delta = value - before if value >= before else value
            if seen is not None:
                seen[name] = value
            if delta:
                out.append(f"{self._name(name)}:{number(delta)}|c")


@dataclass
class Tally:
    """Timer values read (``values``) and sent (``kept``: fewer when sampled)."""

    values: int = 0
    kept: int = 0


class TimerRound:
    """The timers of one flush, as datagrams: each histogram is read when the datagrams
    before it are out, so that no single step makes them all (pure, reactor-thread only).

    :param aggregator: reads the histograms. :param flush: what :meth:`Aggregator.flush`
        returned (the removed histograms' runs go first).
    :param rate: the share of values sent (:func:`sample`). :param rng: draws them.
    :param tally: counts the values read and sent.
    :param first: names of histograms to read before the others (those an earlier round
        did not reach).
    """

    def __init__(self, aggregator: Aggregator, flush: Flush, rate: float,
                 rng: random.Random, tally: Tally, first: Iterable[Scope] = (),
                 max_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES) -> None:
        self.rate = rate
        self._agg, self._rng, self._tally = aggregator, rng, tally
        early = set(first)
        self._todo = [item for item in flush.histograms if item[0] in early] + [
            item for item in flush.histograms if item[0] not in early]
        self.total = len(self._todo)
        self._read = 0
        self._stopping = False
        self._retired = flush.runs
        self._datagrams = pack_runs(self._runs(), max_bytes)

    def _sampled(self, runs: list[tuple[str, int]]) -> list[tuple[str, int]]:
        kept, n = sample(runs, self.rate, self._rng)
        self._tally.values += sum(k for _, k in runs)
        self._tally.kept += n
        return kept

    def _runs(self) -> Iterator[tuple[str, int]]:
        yield from self._sampled(self._retired)
        while self._read < self.total and not self._stopping:
            name, hist = self._todo[self._read]
            self._read += 1
            yield from self._sampled(self._agg.read(name, hist))

    def next(self) -> bytes | None:
        """The next datagram, or ``None`` when the round is over."""
        return next(self._datagrams, None)

    def stop_reading(self) -> list[Scope]:
        """Read no more histograms (what was read still comes out of :meth:`next`);
        returns the names not read, for the next round to read first."""
        self._stopping = True
        return [name for name, _ in self._todo[self._read:]]

    @property
    def fraction_read(self) -> float:
        return self._read / self.total if self.total else 1.0
