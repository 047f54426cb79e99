"""A worker's stats as shipped bodies: what changed, windows taken and closed, removals."""

from __future__ import annotations

import marshal

from l5d.telemetry.histogram import bucket_index
from l5d.telemetry.stats import Stats
from l5d.workers.stats_ship import Body, StatsShipper, worker_renames

SVC = ("rt", "http", "service", "svc/a")


def _body(shipper: StatsShipper) -> Body:
    """The next body, through marshal as the channel carries it."""
    return Body(*marshal.loads(marshal.dumps(shipper.collect())))


class StatsShipperTests:
    """collect() ships what changed since the previous body, as plain values."""

    def test_the_first_body_is_full_and_holds_everything(self) -> None:
        """Counters (statuses flattened, function counters read), gauges and histograms,
        new ones even at 0 or empty."""
        stats = Stats()
        stats.counter(*SVC, "requests").incr(3)
        stats.counter(*SVC, "failures")
        stats.statuses(*SVC)[200] = 2
        stats.statuses(*SVC)[204] = 1
        stats.function_counter(lambda: 7, *SVC, "adds")
        stats.gauge(*SVC, "pending").set(2.0)
        stats.stat(*SVC, "request_latency_ms", scale=1000).add(1500)
        stats.stat(*SVC, "retries")
        b = _body(StatsShipper(stats))
        assert b.full is True
        assert b.counters == {
            SVC + ("requests",): 3, SVC + ("failures",): 0, SVC + ("adds",): 7,
            SVC + ("status", "200"): 2, SVC + ("status", "204"): 1, SVC + ("status", "2XX"): 3}
        assert b.gauges == {SVC + ("pending",): 2.0}
        assert b.histograms == {
            SVC + ("request_latency_ms",): (1000, {bucket_index(1500): 1}, 1500),
            SVC + ("retries",): (1, {}, 0)}
        assert (b.gone_counters, b.gone_histograms, b.removed) == ({}, {}, [])

    def test_an_unchanged_registry_ships_an_empty_body(self) -> None:
        """Nothing changed: no counter, gauge or histogram goes again."""
        stats = Stats()
        stats.counter("a").incr()
        stats.gauge("g").set(1.0)
        stats.stat("h").add(4)
        shipper = StatsShipper(stats)
        shipper.collect()
        assert _body(shipper) == Body(False, {}, {}, {}, {}, {}, [])

    def test_changed_metrics_go_as_absolute_values_and_windows(self) -> None:
        """A counter goes with its running value; a histogram with its new window only."""
        stats = Stats()
        c = stats.counter("a")
        stats.counter("b").incr(5)
        h = stats.stat("h")
        h.add(4)
        shipper = StatsShipper(stats)
        shipper.collect()
        c.incr(2)
        h.add(300)
        stats.statuses("s")[503] = 1
        stats.gauge("g").set(-1.5)
        b = _body(shipper)
        assert b.counters == {("a",): 2, ("s", "status", "503"): 1, ("s", "status", "5XX"): 1}
        assert b.histograms == {("h",): (1, {bucket_index(300): 1}, 300)}
        assert b.gauges == {("g",): -1.5}

    def test_windows_are_closed_into_the_workers_totals(self) -> None:
        """Shipping a window snapshots the histogram: its open window is empty after."""
        stats = Stats()
        h = stats.stat("h")
        h.add(1)
        h.add(2)
        shipper = StatsShipper(stats)
        shipper.collect()
        assert h.window() == ({}, 0)
        assert (h.count, h.sum, h.last.count) == (2, 3, 2)

    def test_removed_metrics_ship_what_they_gained_and_their_names(self) -> None:
        """A counter's gain since it was shipped and a histogram's open window go with the
        names removed (status tables by their flattened names)."""
        stats = Stats()
        stats.counter(*SVC, "requests").incr(4)
        stats.statuses(*SVC)[200] = 1
        stats.gauge(*SVC, "pending").set(1.0)
        stats.stat(*SVC, "lat").add(9)
        shipper = StatsShipper(stats)
        shipper.collect()
        stats.counter(*SVC, "requests").incr(2)
        stats.statuses(*SVC)[200] += 1
        stats.stat(*SVC, "lat").add(10)
        stats.remove_prefix(*SVC)
        b = _body(shipper)
        assert (b.counters, b.gauges, b.histograms) == ({}, {}, {})
        assert b.gone_counters == {SVC + ("requests",): 2, SVC + ("status", "200"): 1,
                                   SVC + ("status", "2XX"): 1}
        assert b.gone_histograms == {SVC + ("lat",): (1, {10: 1}, 10)}
        assert sorted(b.removed) == sorted([
            SVC + ("requests",), SVC + ("status", "200"), SVC + ("status", "2XX"),
            SVC + ("pending",), SVC + ("lat",)])

    def test_a_name_removed_twice_ships_both_gains(self) -> None:
        """Removed, made again and removed again between bodies: the gains add up, and the
        name made a third time ships as new."""
        stats = Stats()
        stats.counter("a").incr(5)
        stats.stat("h").add(3)
        shipper = StatsShipper(stats)
        shipper.collect()
        stats.counter("a").incr(1)
        stats.remove([("a",), ("h",)])
        stats.counter("a").incr(2)
        stats.stat("h").add(3)
        stats.remove([("a",), ("h",)])
        stats.counter("a")
        b = _body(shipper)
        assert b.gone_counters == {("a",): 3}
        assert b.gone_histograms == {("h",): (1, {3: 1}, 3)}
        assert b.removed == [("a",), ("h",)]
        assert b.counters == {("a",): 0}

    def test_process_figures_are_renamed_under_the_workers_scope(self) -> None:
        """``process/...`` goes as ``workers/<index>/process/...``; other names as they are."""
        stats = Stats()
        stats.function_gauge(lambda: 123, "process", "mem", "rss")
        stats.function_counter(lambda: 2, "process", "gc", "cycles")
        stats.counter("processes")
        shipper = StatsShipper(stats, renames=worker_renames(3))
        b = _body(shipper)
        assert b.gauges == {("workers", "3", "process", "mem", "rss"): 123}
        assert b.counters == {("workers", "3", "process", "gc", "cycles"): 2,
                              ("processes",): 0}
        stats.remove([("process", "mem", "rss")])
        assert _body(shipper).removed == [("workers", "3", "process", "mem", "rss")]

    def test_a_status_table_removed_twice_ships_both_gains(self) -> None:
        """A status table's flattened counters gain what each generation had after the
        last body; only changed codes ship while the table lives."""
        stats = Stats()
        stats.statuses("s")[200] = 3
        stats.statuses("s")[500] = 1
        shipper = StatsShipper(stats)
        shipper.collect()
        stats.statuses("s")[200] = 4
        assert _body(shipper).counters == {("s", "status", "200"): 4,
                                           ("s", "status", "2XX"): 4}
        stats.statuses("s")[500] = 2
        stats.remove([("s",)])
        stats.statuses("s")[200] = 5
        stats.remove([("s",)])
        b = _body(shipper)
        assert b.gone_counters == {("s", "status", "500"): 1, ("s", "status", "5XX"): 1,
                                   ("s", "status", "200"): 5, ("s", "status", "2XX"): 5}
        assert b.counters == {}
        assert sorted(b.removed) == sorted(("s", "status", x) for x in ("200", "500", "2XX",
                                                                          "5XX"))
