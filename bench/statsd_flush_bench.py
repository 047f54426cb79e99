"""How long io.l5d.statsd holds the reactor at a time, and how many bytes it makes.

Not a test: it builds a registry shaped like a busy router's (``--scopes`` services and as
many clients, each with Linkerd's request counters, six statuses, three gauges and a
latency histogram), records ``--rps`` requests per second for one flush interval (10 s:
latencies at the service, client and server scopes), then times what runs on the reactor:
the flush (counters, gauges, packing them), and the steps of the timer round, each of
which reads at most one histogram and packs one datagram (the telemeter sends 16 every 4 ms).

    PYTHONPATH=. taskset -c 0 .venv/bin/python bench/statsd_flush_bench.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from l5d.telemetry.stats import Stats
from l5d.telemetry.statsd_model import Aggregator, Tally, TimerRound, pack

INTERVAL_S = 10


def registry(scopes: int) -> tuple[Stats, list]:
    stats = Stats()
    hists = []
    server = ("rt", "http", "server", "127.0.0.1/4140")
    hists.append(stats.stat(*server, "request_latency_ms", scale=1000))
    for i in range(scopes):
        for scope in (("rt", "http", "service", f"svc/app-{i}"),
                      ("rt", "http", "client", f"#/io.l5d.k8s/default/http/app-{i}")):
            for leaf in ("requests", "success", "failures"):
                stats.counter(*scope, leaf)
            table = stats.statuses(*scope)
            for code in (200, 201, 204, 404, 500, 503):
                table[code] = 0
            for g in ("retries/budget", "loadbalancer/size", "loadbalancer/available"):
                stats.gauge(*scope, *g.split("/")).set(3)
            hists.append(stats.stat(*scope, "request_latency_ms", scale=1000))
    return stats, hists


def run(scopes: int, rps: int, reps: int) -> None:
    rng = random.Random(1)
    stats, hists = registry(scopes)
    agg = Aggregator("linkerd")
    TimerRound(agg, agg.flush(stats), 1.0, rng, Tally())  # a first read
    flushes, steps, totals, sizes, counts, values = [], [], [], [], [], 0
    for _ in range(reps):
        per_hist = rps * INTERVAL_S * 3 // len(hists)
        for h in hists:
            for _ in range(per_hist):
                h.add(int(rng.lognormvariate(8, 0.8)))  # ~3 ms median, in us
        for counter in [stats.counter(*k) for k, _ in list(stats.counters())
                        if k[-1] == "requests"]:
            counter.incr(rps * INTERVAL_S // scopes)
        start = time.perf_counter()
        out = agg.flush(stats)
        datagrams = pack(out.priority)
        flushes.append(time.perf_counter() - start)
        tally = Tally()
        rnd = TimerRound(agg, out, 1.0, rng, tally)
        longest = total = 0.0
        while True:
            t0 = time.perf_counter()
            d = rnd.next()
            dt = time.perf_counter() - t0
            longest, total = max(longest, dt), total + dt
            if d is None:
                break
            datagrams.append(d)
        steps.append(longest)
        totals.append(total)
        sizes.append(sum(len(d) for d in datagrams))
        counts.append(len(datagrams))
        values = tally.values
    n = statistics.median(counts)
    print(f"| {scopes} | {rps} | {values} | {statistics.median(flushes) * 1000:.1f} ms "
          f"| {statistics.median(steps) * 1000:.2f} ms | {statistics.median(totals) * 1000:.0f} ms "
          f"| {n} | {statistics.median(sizes) / 1e6:.2f} MB | {n / 4:.0f} ms |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scopes", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--rps", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print("| services (+clients) | requests/s | timer values per flush | flush "
          "| longest round step | all round steps | datagrams | bytes | paced sending |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for scopes in args.scopes:
        for rps in args.rps:
            run(scopes, rps, args.reps)


if __name__ == "__main__":
    main()
