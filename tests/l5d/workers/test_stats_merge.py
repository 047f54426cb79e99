"""Workers' stats merged into the control's registry: exactly what one registry that saw
all the traffic reads, through every exporter; dead workers; removals; gathered state."""

from __future__ import annotations

import marshal
import random

from l5d.telemetry import prometheus
from l5d.telemetry.flat import flat_metrics
from l5d.telemetry.statsd_model import Aggregator
from l5d.telemetry.stats import Stats
from l5d.workers.stats_merge import StatsMerger, merge_client_states, merge_recent
from l5d.workers.stats_ship import StatsShipper, worker_renames

SERVICES = [("rt", "http", "service", f"svc/s{i}") for i in range(8)] + [
    ("rt", "http", "client", "%/io.l5d.port/4141/#/io.l5d.k8s/ns/http/web", "service",
     "svc/web")]
CODES = (200, 200, 200, 204, 301, 404, 500, 503)


def _values(rng: random.Random) -> int:
    """A latency in microseconds, over the exact buckets and many powers of two."""
    return rng.choice((rng.randrange(0, 256), rng.randrange(0, 20_000),
                       rng.randrange(0, 10**8)))


class _Cluster:
    """Worker registries with shippers, the control's registry with a merger, and one
    registry that gets every worker's traffic directly; statsd aggregators on both."""

    def __init__(self, workers: int = 2, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.workers = [Stats() for _ in range(workers)]
        self.shippers = [StatsShipper(s, worker_renames(i)) for i, s in enumerate(self.workers)]
        self.control = Stats()
        self.merger = StatsMerger(self.control)
        self.single = Stats()
        self.adds = [0] * workers  # what each worker's function counter reads
        for i, w in enumerate(self.workers):
            w.function_counter(lambda i=i: self.adds[i], "rt", "http", "client", "x", "adds")
        self.statsd = {}
        for name, reg in (("control", self.control), ("single", self.single)):
            self.statsd[name] = agg = Aggregator("l5d")
            reg.add_removal_listener(agg.retire)
        for reg in (self.control, self.single):  # the control's own: left alone
            reg.counter("namer", "io.l5d.k8s", "updates").incr(4)

    def traffic(self, n: int, ship_rate: float = 0.02) -> None:
        """``n`` random events on random workers, and on the single registry; now and then
        a worker ships."""
        rng = self.rng
        for _ in range(n):
            i = rng.randrange(len(self.workers))
            w = self.workers[i]
            svc = rng.choice(SERVICES)
            kind = rng.random()
            if kind < 0.3:
                k = rng.randrange(1, 4)
                leaf = rng.choice(("requests", "success", "failures"))
                for reg in (w, self.single):
                    reg.counter(*svc, leaf).incr(k)
            elif kind < 0.5:
                code = rng.choice(CODES)
                for reg in (w, self.single):
                    t = reg.statuses(*svc)
                    t[code] = t.get(code, 0) + 1
            elif kind < 0.8:
                v = _values(rng)
                for reg in (w, self.single):
                    reg.stat(*svc, "request_latency_ms", scale=1000).add(v)
            elif kind < 0.85:
                r = rng.randrange(0, 4)
                for reg in (w, self.single):
                    reg.stat(*svc, "retries", "per_request").add(r)
            elif kind < 0.95:
                w.gauge(*svc, "pending").set(float(rng.randrange(0, 40)))
            else:
                self.adds[i] += 1
                self.single.counter("rt", "http", "client", "x", "adds").incr()
            if rng.random() < ship_rate:
                self.ship(rng.randrange(len(self.workers)))

    def ship(self, i: int) -> None:
        body = marshal.loads(marshal.dumps(self.shippers[i].collect()))
        self.merger.apply(i, body)

    def sync(self) -> None:
        """Every worker ships; the single registry's gauges become the workers' sums."""
        for i in range(len(self.workers)):
            self.ship(i)
        sums: dict = {}
        for w in self.workers:
            for name, value in w.gauges():
                sums[name] = sums.get(name, 0) + value
        for name, value in sums.items():
            self.single.gauge(*name).set(value)

    def remove(self, svc: tuple) -> None:
        for reg in (*self.workers, self.single):
            reg.remove_prefix(*svc)

    def statsd_flush(self, name: str) -> tuple:
        reg = self.control if name == "control" else self.single
        agg = self.statsd[name]
        flush = agg.flush(reg)
        timers = {n: agg.read(n, h) for n, h in flush.histograms}
        return sorted(flush.priority), _lines(flush.runs), timers


def _lines(runs: list[tuple[str, int]]) -> dict[str, int]:
    """How many times each line goes (a name that goes from the control registry twice in
    one sync, as a worker that never shipped it removes it last, makes two runs)."""
    out: dict[str, int] = {}
    for line, n in runs:
        out[line] = out.get(line, 0) + n
    return out


def _histograms(stats: Stats) -> dict:
    return {name: (h.scale, h.totals(), h.last, h.summary()) for name, h in stats.stats()}


class MergeExactnessTests:
    """Merged registries read exactly as one registry that saw all the traffic."""

    def assert_same(self, c: _Cluster) -> None:
        assert flat_metrics(c.control) == flat_metrics(c.single)
        assert prometheus.render(c.control, "l5d_") == prometheus.render(c.single, "l5d_")
        assert _histograms(c.control) == _histograms(c.single)
        assert c.statsd_flush("control") == c.statsd_flush("single")

    def test_random_traffic_reads_the_same_through_every_exporter(self) -> None:
        """Counters, statuses, histograms and gauges from two workers, shipped at random
        points through marshal: admin JSON, Prometheus, histogram summaries and statsd
        deltas equal the single registry's at every sync point, snapshots included."""
        for seed in range(5):
            c = _Cluster(workers=2, seed=seed)
            for step in range(12):
                c.traffic(c.rng.randrange(50, 400))
                c.sync()
                if step % 3 == 2:
                    c.control.snapshot()
                    c.single.snapshot()
                self.assert_same(c)
                assert any(h.last.count for _, h in c.control.stats()) or step < 2

    def test_three_workers_and_removed_services(self) -> None:
        """Services removed from every worker at once leave the control's registry as they
        leave the single one (statsd sends what they gained first), then come back at 0."""
        c = _Cluster(workers=3, seed=42)
        for step in range(10):
            c.traffic(300)
            if step % 2 == 1:
                c.remove(c.rng.choice(SERVICES))
            c.sync()
            c.control.snapshot()
            c.single.snapshot()
            self.assert_same(c)

    def test_snapshot_windows_hold_what_was_shipped_since_the_last_snapshot(self) -> None:
        """The control's periodic snapshot closes windows filled by several bodies."""
        c = _Cluster(workers=2, seed=9)
        c.traffic(500, ship_rate=0.2)
        c.sync()
        c.control.snapshot()
        c.single.snapshot()
        c.traffic(500, ship_rate=0.2)
        c.sync()
        c.control.snapshot()
        c.single.snapshot()
        name = SERVICES[0] + ("request_latency_ms",)
        merged = dict(c.control.stats())[name].last
        assert merged == dict(c.single.stats())[name].last and merged.count > 0
        c.control.snapshot()
        assert dict(c.control.stats())[name].last.count == 0


class WorkerLifeTests:
    """What a worker's death, return and removals do to the merged registry."""

    def _pair(self) -> tuple[Stats, StatsMerger, list[Stats], list[StatsShipper]]:
        control = Stats()
        workers = [Stats(), Stats()]
        return control, StatsMerger(control), workers, [StatsShipper(w) for w in workers]

    def test_a_dead_worker_keeps_its_counts_and_drops_its_gauges(self) -> None:
        """Counters and histogram contents stay in the totals; gauges are the live
        workers' sum, and a gauge only the dead worker had goes."""
        control, merger, workers, shippers = self._pair()
        for w, n in zip(workers, (3, 4)):
            w.counter("requests").incr(n)
            w.gauge("pending").set(float(n))
            w.stat("lat").add(n)
        workers[0].gauge("only0").set(5.0)
        for i, s in enumerate(shippers):
            merger.apply(i, s.collect())
        flat = flat_metrics(control)
        assert (flat["requests"], flat["pending"], flat["only0"]) == (7, 7.0, 5.0)
        merger.worker_gone(0)
        control.snapshot()
        flat = flat_metrics(control)
        assert (flat["requests"], flat["pending"], flat["lat.count"]) == (7, 4.0, 2)
        assert "only0" not in flat
        assert merger.workers == [1]

    def test_a_restarted_worker_adds_from_zero(self) -> None:
        """A new process under the same id ships a full body: its counts add to the
        totals from 0, whatever the old process had reached."""
        control, merger, workers, shippers = self._pair()
        workers[0].counter("requests").incr(10)
        merger.apply(0, shippers[0].collect())
        merger.worker_gone(0)
        again = Stats()
        again.counter("requests").incr(2)
        merger.apply(0, StatsShipper(again).collect())
        assert flat_metrics(control)["requests"] == 12
        again.counter("requests").incr(1)
        merger.apply(0, StatsShipper(again).collect())  # full again, no worker_gone
        assert flat_metrics(control)["requests"] == 15

    def test_a_name_goes_when_no_live_worker_reports_it(self) -> None:
        """One worker's removal keeps a name that another worker still reports; the last
        one's removal takes it out, and statsd sends what it gained first."""
        control, merger, workers, shippers = self._pair()
        agg = Aggregator()
        control.add_removal_listener(agg.retire)
        for w in workers:
            w.counter("svc", "requests").incr(2)
            w.gauge("svc", "pending").set(1.0)
        for i, s in enumerate(shippers):
            merger.apply(i, s.collect())
        agg.flush(control)
        workers[0].counter("svc", "requests").incr(1)
        workers[0].remove_prefix("svc")
        merger.apply(0, shippers[0].collect())
        flat = flat_metrics(control)
        assert (flat["svc/requests"], flat["svc/pending"]) == (5, 1.0)
        workers[1].counter("svc", "requests").incr(3)
        workers[1].remove_prefix("svc")
        merger.apply(1, shippers[1].collect())
        assert "svc/requests" not in flat_metrics(control)
        assert "svc/pending" not in flat_metrics(control)
        assert agg.flush(control).priority == ["svc.requests:4|c"]

    def test_a_dead_workers_names_stay_until_a_live_one_removes_them(self) -> None:
        """A counter only a dead worker reported stays (monotone); a removal by a worker
        that never reported it takes it out (no live worker reports it)."""
        control, merger, workers, shippers = self._pair()
        workers[0].counter("svc", "requests").incr(2)
        merger.apply(0, shippers[0].collect())
        merger.apply(1, shippers[1].collect())
        merger.worker_gone(0)
        assert flat_metrics(control)["svc/requests"] == 2
        workers[1].counter("svc", "requests")
        workers[1].remove_prefix("svc")
        merger.apply(1, shippers[1].collect())
        assert "svc/requests" not in flat_metrics(control)

    def test_control_metrics_are_left_alone(self) -> None:
        """Names the workers never send keep the control's values; a worker's process
        figures stand beside the control's own."""
        control = Stats()
        control.function_gauge(lambda: 100, "process", "mem", "rss")
        control.counter("namer", "updates").incr(3)
        worker = Stats()
        worker.function_gauge(lambda: 40, "process", "mem", "rss")
        merger = StatsMerger(control)
        merger.apply(0, StatsShipper(worker, worker_renames(0)).collect())
        flat = flat_metrics(control)
        assert flat["process/mem/rss"] == 100 and flat["namer/updates"] == 3
        assert flat["workers/0/process/mem/rss"] == 40
        merger.worker_gone(0)
        assert "workers/0/process/mem/rss" not in flat_metrics(control)
        assert flat_metrics(control)["process/mem/rss"] == 100

    def test_a_control_function_counter_adds_what_workers_ship_under_its_name(self) -> None:
        """statsd's own counters are function counters in every process: the control's
        reads its function plus the workers' sum (it used to raise AttributeError), also
        after the control registers it anew."""
        own = [5]
        control = Stats()
        control.function_counter(lambda: own[0], "statsd", "timer_values")
        workers = [Stats(), Stats()]
        tallies = [3, 10]
        for i, w in enumerate(workers):
            w.function_counter(lambda i=i: tallies[i], "statsd", "timer_values")
        shippers = [StatsShipper(w, worker_renames(i)) for i, w in enumerate(workers)]
        merger = StatsMerger(control)
        for i, sh in enumerate(shippers):
            merger.apply(i, sh.collect())
        assert flat_metrics(control)["statsd/timer_values"] == 5 + 3 + 10
        tallies[0], own[0] = 7, 6
        merger.apply(0, shippers[0].collect())
        assert flat_metrics(control)["statsd/timer_values"] == 6 + 7 + 10
        control.function_counter(lambda: 1, "statsd", "timer_values")  # a reload
        tallies[1] = 12
        merger.apply(1, shippers[1].collect())
        assert flat_metrics(control)["statsd/timer_values"] == 1 + 7 + 12


class GatherTests:
    """Recent requests and client states gathered from the workers."""

    def test_recent_requests_newest_first_and_bounded(self) -> None:
        """Records of all workers by start time (field 1), newest first, at most capacity;
        equal starts keep worker order."""
        a = [("http", 5.0, "a5"), ("http", 1.0, "a1"), ("http", 3.0, "a3")]
        b = [("http", 4.0, "b4"), ("http", 3.0, "b3")]
        assert merge_recent([a, b], 4) == [
            ("http", 5.0, "a5"), ("http", 4.0, "b4"), ("http", 3.0, "a3"), ("http", 3.0, "b3")]
        assert merge_recent([a, b], 0) == []
        assert merge_recent([[], []], 3) == []

    def test_client_states_prefer_the_one_that_says_most(self) -> None:
        """bound beats Failed beats Neg beats Pending; then more addresses; and the
        answer does not depend on the workers' order."""
        one = {"c1": {"state": "bound", "addresses": ["10.0.0.1:80"]},
               "c2": {"state": "Pending", "addresses": []},
               "c3": {"state": "Neg", "addresses": []},
               "c4": {"state": "bound", "addresses": ["10.0.0.2:80"]}}
        two = {"c1": {"state": "bound", "addresses": ["10.0.0.1:80", "10.0.0.9:80"]},
               "c2": {"state": "Failed: boom", "addresses": []},
               "c3": {"state": "Pending", "addresses": []},
               "c4": {"state": "bound", "addresses": ["10.0.0.3:80"]},
               "c5": {"state": "Pending", "addresses": []}}
        merged = merge_client_states([one, two])
        assert merged == merge_client_states([two, one])
        assert list(merged) == ["c1", "c2", "c3", "c4", "c5"]
        assert merged["c1"]["addresses"] == ["10.0.0.1:80", "10.0.0.9:80"]
        assert merged["c2"]["state"] == "Failed: boom"
        assert merged["c3"]["state"] == "Neg"
        assert merged["c4"]["addresses"] == ["10.0.0.3:80"]
        assert merged["c5"]["state"] == "Pending"


def test_a_balancers_endpoint_gauges_merge_by_meaning() -> None:
    """Two workers balance over the same 3 endpoints: size reads 3, not 6; available the
    fewest a worker has (one marked an endpoint dead); what is in flight adds up."""
    from l5d.workers.stats_merge import StatsMerger
    from l5d.workers.stats_ship import StatsShipper

    control = Stats()
    merger = StatsMerger(control)
    scope = ("rt", "http", "client", "$/inet/127.0.0.1/1", "loadbalancer")
    for worker, (available, load) in enumerate([(3, 2), (2, 5)]):
        stats = Stats()
        stats.function_gauge(lambda: 3, *scope, "size")
        stats.function_gauge(lambda a=available: a, *scope, "available")
        stats.function_gauge(lambda x=load: x, *scope, "load")
        stats.function_gauge(lambda: 1, *scope, "algorithm", "p2c")
        merger.apply(worker, marshal.loads(marshal.dumps(StatsShipper(stats).collect())))
    gauges = dict(control.gauges())
    assert [gauges[scope + (leaf,)] for leaf in ("size", "available", "load")] == [3, 2, 7]
    assert gauges[scope + ("algorithm", "p2c")] == 1
