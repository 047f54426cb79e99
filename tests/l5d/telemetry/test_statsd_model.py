"""io.l5d.statsd's pure part: Linkerd's names, lines, datagrams, lossless flushes."""

from __future__ import annotations

import random

import pytest

from l5d.telemetry.flat import flat_metrics
from l5d.telemetry.histogram import bucket_bounds, bucket_index
from l5d.telemetry.stats import Stats
from l5d.telemetry.statsd_model import (
    Aggregator,
    Tally,
    TimerRound,
    gauge_unit,
    metric_name,
    number,
    pack,
    pack_runs,
    sample,
)

SVC = ("rt", "http", "service", "svc/hello")
CLIENT = ("rt", "http", "client", "$/inet/127.0.0.1/8080")
SERVER = ("rt", "http", "server", "0.0.0.0/4140")


class Reader:
    """An aggregator and what its flushes send: ``flush()`` returns the runs of every
    timer (a round read to its end)."""

    def __init__(self, prefix: str = "", rate: float = 1.0, seed: int = 0) -> None:
        self.agg = Aggregator(prefix)
        self.rate, self.rng, self.tally = rate, random.Random(seed), Tally()

    def flush(self, stats: Stats) -> tuple[list[str], list[tuple[str, int]]]:
        out = self.agg.flush(stats)
        runs = list(out.runs)
        for name, hist in out.histograms:
            runs.extend(self.agg.read(name, hist))
        return out.priority, runs

    def lines(self, stats: Stats) -> list[str]:
        """The counter, gauge and timer lines of a flush, in order."""
        priority, runs = self.flush(stats)
        return [ln for unit in priority for ln in unit.split("\n")] + expand(runs)


def expand(runs) -> list[str]:
    return [line for line, n in runs for _ in range(n)]


class MetricNameTests:
    """Names are Linkerd's StatsDStatsReceiver.mkName, with the prefix and a dot in front."""

    @pytest.mark.parametrize("scopes, expected", [
        # the three vectors of Linkerd's StatsDStatsReceiverTest
        (("foo", "$", "", "bar/baz.stuff#word?who//what^when*where\\why", "#/^//\\huh?@$%^&"),
         "foo._.bar.baz_stuff_word_who.what_when_where_why._._._huh______"),
        (("clnt", "zipkin-tracer", "service_creation", "service_acquisition_latency_ms"),
         "clnt.zipkin_tracer.service_creation.service_acquisition_latency_ms"),
        (("rt", "http", "client", "#/io.l5d.fs/default/path/http/1.1/GET/default",
          "request_latency_ms"),
         "rt.http.client._.io_l5d_fs.default.path.http.1_1.GET.default.request_latency_ms"),
        # the reference's examples (section 6.2)
        (("rt", "outgoing", "server", "0.0.0.0/4140", "requests"),
         "rt.outgoing.server.0_0_0_0.4140.requests"),
        (("rt", "outgoing", "service", "svc/hello", "requests"),
         "rt.outgoing.service.svc.hello.requests"),
        (CLIENT + ("status", "2XX"), "rt.http.client._.inet.127_0_0_1.8080.status.2XX"),
    ])
    def test_linkerd_vectors(self, scopes, expected) -> None:
        """Every character outside [/A-Za-z0-9] is _, // is /, / is ."""
        assert metric_name(scopes) == expected
        assert metric_name(scopes, "linkerd") == "linkerd." + expected


class LineTests:
    def test_numbers_have_no_exponent(self) -> None:
        """Integers print without a point; floats never with an exponent."""
        assert [number(v) for v in (0, 7, 3.0, 12.5, 0.001, 1e-7, -2.5, 2 ** 60)] == [
            "0", "7", "3", "12.5", "0.001", "0.0000001", "-2.5", str(2 ** 60)]

    def test_negative_gauges_are_set_through_zero(self) -> None:
        """A signed gauge value adds in statsd, so -3 is sent as 0 then -3, together."""
        assert gauge_unit("g", 2.5) == "g:2.5|g"
        assert gauge_unit("g", -3) == "g:0|g\ng:-3|g"
        assert gauge_unit("g", float("nan")) is None
        assert gauge_unit("g", float("inf")) is None


class PackTests:
    """Lines go into datagrams of at most max_bytes, in order, a unit never split."""

    def test_fills_datagrams_up_to_the_limit(self) -> None:
        units = ["a:1|c"] * 5  # 5 bytes each, 6 with the newline
        assert pack(units, 17) == [b"a:1|c\na:1|c\na:1|c", b"a:1|c\na:1|c"]
        assert pack(units, 16) == [b"a:1|c\na:1|c", b"a:1|c\na:1|c", b"a:1|c"]
        assert pack(units, 11) == [b"a:1|c\na:1|c", b"a:1|c\na:1|c", b"a:1|c"]
        assert pack(units, 10) == [b"a:1|c"] * 5
        assert pack([], 100) == []

    def test_an_oversized_unit_goes_alone(self) -> None:
        big = "x" * 50 + ":1|c"
        assert pack(["a:1|c", big, "b:1|c"], 20) == [b"a:1|c", big.encode(), b"b:1|c"]

    def test_random_units_keep_order_and_limit(self) -> None:
        """On 200 seeded random inputs: joined back they give the input; none over max."""
        rng = random.Random(1234)
        for _ in range(200):
            units = ["n" * rng.randint(1, 60) + ":1|c" for _ in range(rng.randint(0, 80))]
            units += ["g:0|g\ng:-1|g"] * rng.randint(0, 3)
            rng.shuffle(units)
            limit = rng.randint(70, 400)
            datagrams = pack(units, limit)
            assert all(len(d) <= limit for d in datagrams)
            assert b"\n".join(datagrams).decode() == "\n".join(units)
            assert (datagrams == []) == (units == [])
            # a negative gauge's two lines share a datagram
            assert all(d.count(b"g:0|g") == d.count(b"g:-1|g") for d in datagrams)


class PackRunsTests:
    """pack_runs packs runs of identical lines as pack packs the lines one by one."""

    def test_runs_pack_as_their_lines(self) -> None:
        runs = [("a:1|ms", 5), ("bb:2|ms", 1), ("a:1|ms", 3)]
        expanded = [line for line, n in runs for _ in range(n)]
        for limit in (6, 7, 13, 14, 20, 100):
            assert list(pack_runs(runs, limit)) == pack(expanded, limit), limit

    def test_random_runs(self) -> None:
        """On 300 seeded random inputs, long runs and oversized lines included."""
        rng = random.Random(4321)
        for _ in range(300):
            runs = [("t" * rng.randint(1, 90) + ":1.5|ms", rng.choice([1, 2, 7, 40, 1000]))
                    for _ in range(rng.randint(0, 12))]
            limit = rng.randint(20, 1500)
            expanded = [line for line, n in runs for _ in range(n)]
            assert list(pack_runs(runs, limit)) == pack(expanded, limit)

    def test_lazy(self) -> None:
        """A million values: the first datagram comes without making a million lines."""
        it = pack_runs([("x:1|ms", 1_000_000)], 1432)
        assert next(it) == b"\n".join([b"x:1|ms"] * 204)


class SampleTests:
    def test_rate_one_keeps_everything_unmarked(self) -> None:
        runs = [("x:1|ms", 3), ("y:2|ms", 2)]
        assert sample(runs, 1.0, random.Random(1)) == (runs, 5)

    def test_sampled_values_are_marked(self) -> None:
        """Each value is kept with the rate's probability (the seeded rng decides); the
        kept ones are marked |@rate, which statsd counts 1/rate times."""
        runs = [("x:1|ms", 4000), ("y:2|ms", 4000)]
        out, kept = sample(runs, 0.25, random.Random(7))
        assert out == sample(runs, 0.25, random.Random(7))[0]
        assert [line for line, _ in out] == ["x:1|ms|@0.25", "y:2|ms|@0.25"]
        assert kept == sum(n for _, n in out)
        assert 1800 < kept < 2200  # binomial(8000, 0.25): mean 2000, sd 39


class CounterTests:
    """Counters go out as their deltas since the previous flush."""

    def test_deltas_then_nothing_then_deltas(self) -> None:
        stats = Stats()
        r = Reader("linkerd")
        req = stats.counter(*SVC, "requests")
        req.incr(3)
        stats.statuses(*SVC)[200] = 2
        stats.statuses(*SVC)[503] = 1
        assert sorted(r.lines(stats)) == [
            "linkerd.rt.http.service.svc.hello.requests:3|c",
            "linkerd.rt.http.service.svc.hello.status.200:2|c",
            "linkerd.rt.http.service.svc.hello.status.2XX:2|c",
            "linkerd.rt.http.service.svc.hello.status.503:1|c",
            "linkerd.rt.http.service.svc.hello.status.5XX:1|c",
        ]
        assert r.lines(stats) == []  # zero deltas are not sent
        req.incr(2)
        stats.statuses(*SVC)[200] += 2
        assert sorted(r.lines(stats)) == [
            "linkerd.rt.http.service.svc.hello.requests:2|c",
            "linkerd.rt.http.service.svc.hello.status.200:2|c",
            "linkerd.rt.http.service.svc.hello.status.2XX:2|c",
        ]

    def test_the_sum_of_the_deltas_is_the_counter(self) -> None:
        """On seeded random increments and flushes, what is sent adds up to the value."""
        rng = random.Random(99)
        stats = Stats()
        r = Reader()
        counters = [stats.counter("c", str(i)) for i in range(5)]
        sent = {f"c.{i}": 0 for i in range(5)}
        for _ in range(300):
            rng.choice(counters).incr(rng.randint(0, 3))
            if rng.random() < 0.2:
                for line in r.lines(stats):
                    name, _, rest = line.partition(":")
                    sent[name] += int(rest.split("|")[0])
        for line in r.lines(stats):
            name, _, rest = line.partition(":")
            sent[name] += int(rest.split("|")[0])
        assert sent == {f"c.{i}": c.value for i, c in enumerate(counters)}

    def test_removed_counters_send_their_last_delta_and_restart_from_zero(self) -> None:
        """What a removed (expired) client gained since the last flush goes out with the
        next one; the same client made anew is counted from 0."""
        stats = Stats()
        r = Reader()
        stats.add_removal_listener(r.agg.retire)
        stats.counter(*CLIENT, "requests").incr(5)
        r.flush(stats)
        stats.counter(*CLIENT, "requests").incr(2)
        stats.remove_prefix(*CLIENT)
        stats.counter(*CLIENT, "requests").incr(6)  # back, above the 5 sent before
        assert r.lines(stats) == [
            "rt.http.client._.inet.127_0_0_1.8080.requests:2|c",
            "rt.http.client._.inet.127_0_0_1.8080.requests:6|c",
        ]
        stats.remove_prefix(*CLIENT)
        assert r.lines(stats) == []  # gone: nothing more

    def test_a_counter_below_what_was_sent_was_made_anew(self) -> None:
        """Without a removal listener, a counter that went down restarts from 0."""
        stats = Stats()
        r = Reader()
        stats.counter("c").incr(5)
        r.flush(stats)
        stats.remove_prefix("c")
        stats.counter("c").incr(3)
        assert r.lines(stats) == ["c:3|c"]


class GaugeTests:
    def test_every_gauge_every_flush(self) -> None:
        stats = Stats()
        r = Reader("l5d")
        stats.gauge(*CLIENT, "loadbalancer", "size").set(2)
        stats.function_gauge(lambda: -1.5, *SVC, "x")
        expected = ["l5d.rt.http.client._.inet.127_0_0_1.8080.loadbalancer.size:2|g",
                    "l5d.rt.http.service.svc.hello.x:0|g\nl5d.rt.http.service.svc.hello.x:-1.5|g"]
        assert r.flush(stats)[0] == expected
        assert r.flush(stats)[0] == expected


class TimerTests:
    """Histograms go out as statsd timers: every value since the previous read."""

    def test_every_value_since_the_last_flush_within_the_bucket_error(self) -> None:
        stats = Stats()
        r = Reader()
        h = stats.stat(*SVC, "request_latency_ms", scale=1000)
        recorded = [120, 250, 1000, 1000, 3000, 12_345, 987_654]  # microseconds
        for us in recorded:
            h.add(us)
        lines = expand(r.flush(stats)[1])
        values = [float(ln.split(":")[1].split("|")[0]) for ln in lines]
        assert all(ln.endswith("|ms") for ln in lines)
        assert sorted(values) == pytest.approx([us / 1000 for us in sorted(recorded)], rel=0.004)
        assert values[:2] == [0.12, 0.25]  # exact below 0.256 ms
        assert r.flush(stats)[1] == []
        h.add(200)
        h.add(200)
        assert r.flush(stats)[1] == [("rt.http.service.svc.hello.request_latency_ms:0.2|ms", 2)]

    def test_values_are_bucket_midpoints(self) -> None:
        """A value is sent as the midpoint of its bucket, as the admin percentiles read it."""
        stats = Stats()
        r = Reader()
        stats.stat("h").add(1_000_003)
        lower, upper = bucket_bounds(bucket_index(1_000_003))
        assert r.flush(stats)[1] == [(f"h:{number((lower + upper - 1) / 2)}|ms", 1)]

    def test_non_latency_histograms_are_timers_too(self) -> None:
        """retries/per_request is sent as a timer, as Linkerd sent every histogram."""
        stats = Stats()
        r = Reader("linkerd")
        per = stats.stat(*SVC, "retries", "per_request")
        for n in (0, 0, 2):
            per.add(n)
        assert r.flush(stats)[1] == [
            ("linkerd.rt.http.service.svc.hello.retries.per_request:0|ms", 2),
            ("linkerd.rt.http.service.svc.hello.retries.per_request:2|ms", 1)]

    def test_the_admin_window_is_not_disturbed(self) -> None:
        """Reading the histograms leaves /admin/metrics.json's snapshot as it was."""
        stats = Stats()
        r = Reader()
        h = stats.stat(*SVC, "request_latency_ms", scale=1000)
        for us in (1000, 2000, 3000):
            h.add(us)
        r.flush(stats)
        stats.snapshot()
        m = flat_metrics(stats)
        assert m["rt/http/service/svc/hello/request_latency_ms.count"] == 3
        assert m["rt/http/service/svc/hello/request_latency_ms.sum"] == 6.0
        h.add(4000)
        assert expand(r.flush(stats)[1]) == [  # after a snapshot: only the new value
            "rt.http.service.svc.hello.request_latency_ms:4.0075|ms"]  # bucket 4000..4015 us
        assert h.totals()[0] == 4

    def test_removed_histograms_send_their_last_values(self) -> None:
        stats = Stats()
        r = Reader()
        stats.add_removal_listener(r.agg.retire)
        stats.stat(*CLIENT, "request_latency_ms", scale=1000).add(100)
        r.flush(stats)
        stats.stat(*CLIENT, "request_latency_ms", scale=1000).add(200)
        stats.remove_prefix(*CLIENT)
        stats.stat(*CLIENT, "request_latency_ms", scale=1000).add(50)
        name = "rt.http.client._.inet.127_0_0_1.8080.request_latency_ms"
        assert r.flush(stats)[1] == [(f"{name}:0.2|ms", 1), (f"{name}:0.05|ms", 1)]


class TimerRoundTests:
    """A round reads one histogram at a time, as its datagrams are taken."""

    def registry(self, hists: int = 3, values: int = 1000) -> Stats:
        stats = Stats()
        for i in range(hists):
            h = stats.stat(f"h{i}")
            for v in range(values):
                h.add(v % 100)
        return stats

    def test_reads_lazily_and_sends_everything(self) -> None:
        stats = self.registry()
        agg, tally = Aggregator(), Tally()
        rnd = TimerRound(agg, agg.flush(stats), 1.0, random.Random(1), tally, max_bytes=200)
        first = rnd.next()
        assert first is not None and first.startswith(b"h0:0|ms")
        assert rnd.fraction_read == 1 / 3  # only h0 so far
        datagrams = [first]
        while (d := rnd.next()) is not None:
            datagrams.append(d)
        assert rnd.fraction_read == 1.0
        assert all(len(d) <= 200 for d in datagrams)
        lines = b"\n".join(datagrams).decode().split("\n")
        assert len(lines) == 3000 and (tally.values, tally.kept) == (3000, 3000)
        assert sorted({ln.split(":")[0] for ln in lines}) == ["h0", "h1", "h2"]

    def test_stop_reading_finishes_what_was_read_and_names_the_rest(self) -> None:
        """After stop_reading the round sends out the histogram it read and no other; the
        next round reads the ones left first, and gets their values, nothing lost."""
        stats = self.registry()
        agg, tally = Aggregator(), Tally()
        rnd = TimerRound(agg, agg.flush(stats), 1.0, random.Random(1), tally, max_bytes=200)
        assert rnd.next() is not None
        left = rnd.stop_reading()
        assert left == [("h1",), ("h2",)]
        rest = []
        while (d := rnd.next()) is not None:
            rest.append(d)
        assert {ln.split(b":")[0] for d in rest for ln in d.split(b"\n")} == {b"h0"}
        nxt = TimerRound(agg, agg.flush(stats), 0.5, random.Random(1), tally, first=left)
        names = []
        while (d := nxt.next()) is not None:
            names += [ln.split(b":")[0] for ln in d.split(b"\n")]
        assert names[0] == b"h1" and set(names) == {b"h1", b"h2"}
        assert tally.values == 3000 and 0 < tally.kept < 3000

    def test_a_histogram_removed_before_it_is_read_is_sent_once(self) -> None:
        stats = self.registry(hists=2, values=10)
        agg, tally = Aggregator(), Tally()
        stats.add_removal_listener(agg.retire)
        rnd = TimerRound(agg, agg.flush(stats), 1.0, random.Random(1), tally, max_bytes=40)
        assert rnd.next().startswith(b"h0:")
        stats.remove_prefix("h1")  # read now, by retire, for the next flush
        while rnd.next() is not None:
            pass
        nxt = TimerRound(agg, agg.flush(stats), 1.0, random.Random(1), tally)
        lines = []
        while (d := nxt.next()) is not None:
            lines += d.split(b"\n")
        assert len(lines) == 10 and all(ln.startswith(b"h1:") for ln in lines)
        assert tally.values == 20


class ThePythonStatsdPackageAgreesTests:
    """The ``statsd`` package (a project dependency) writes the same lines for the same
    metrics: counters and gauges to the byte, timers to the same number."""

    def package_lines(self, send) -> list[str]:
        from statsd.client.udp import StatsClient

        sent: list[str] = []
        client = StatsClient("127.0.0.1", 8125, prefix="linkerd")
        client._send = sent.append  # capture instead of sending
        try:
            send(client)
        finally:
            client.close()
        return [ln for datagram in sent for ln in datagram.split("\n")]

    def test_counters_gauges_and_timers(self) -> None:
        stats = Stats()
        r = Reader("linkerd")
        stats.counter(*SVC, "requests").incr(7)
        stats.gauge(*SVC, "up").set(3)
        stats.gauge(*SVC, "down").set(-2)
        stats.stat(*SVC, "request_latency_ms", scale=1000).add(12_000)
        ours = r.lines(stats)
        name = "rt.http.service.svc.hello."

        def send(client) -> None:
            client.incr(name + "requests", 7)
            client.gauge(name + "up", 3)
            client.gauge(name + "down", -2)
            client.timing(name + "request_latency_ms", 11.9995)  # 12 ms: its bucket midpoint

        theirs = self.package_lines(send)
        assert ours[:4] == theirs[:4]
        [ours_t], [theirs_t] = ours[4:], theirs[4:]
        assert ours_t.split(":")[0] == theirs_t.split(":")[0]
        assert float(ours_t.split(":")[1][:-3]) == float(theirs_t.split(":")[1][:-3])
