"""What shipping a worker's stats costs: StatsShipper.collect, marshal and StatsMerger.apply
for 1,000 services x 30 metrics (issue 14; reported in docs/performance.md).

Per service: 20 counters, a status table of 3 codes (5 counter names), 3 histograms and
2 gauges. Cases: the first (full) body, a body when nothing changed, when 10 % of the
services had traffic since the previous body, and when all of them had.

    .venv/bin/python bench/stats_ship_bench.py [--services 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import marshal
import random
import statistics
import time

from l5d.telemetry.stats import Stats
from l5d.workers.stats_merge import StatsMerger
from l5d.workers.stats_ship import StatsShipper, worker_renames

COUNTERS = [f"c{i}" for i in range(20)]
HISTS = ("request_latency_ms", "retries", "connect_latency_ms")


def build(services: int) -> tuple[Stats, list]:
    stats = Stats()
    handles = []
    for s in range(services):
        scope = stats.scope("rt", "http", "service", f"svc/s{s}")
        counters = [scope.counter(c) for c in COUNTERS]
        table = scope.statuses()
        for code in (200, 404, 503):
            table[code] = 1
        hists = [scope.stat(h, scale=1000) for h in HISTS]
        gauges = [scope.gauge("pending"), scope.gauge("connections")]
        handles.append((counters, table, hists, gauges))
    return stats, handles


def touch(handles: list, share: float, rng: random.Random) -> None:
    """Traffic on ``share`` of the services: a few requests each."""
    for counters, table, hists, gauges in rng.sample(handles, int(len(handles) * share)):
        for _ in range(3):
            counters[0].incr()
            counters[rng.randrange(1, 20)].incr()
            table[200] += 1
            hists[0].add(rng.randrange(100, 100_000))
            gauges[0].set(float(rng.randrange(5)))


def timed(fn) -> tuple[float, object]:
    """CPU milliseconds (this process's, so that other load on the machine counts less)."""
    t = time.process_time()
    out = fn()
    return (time.process_time() - t) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(1)
    stats, handles = build(args.services)
    shipper = StatsShipper(stats, worker_renames(0))
    merger = StatsMerger(Stats())
    metrics = sum(1 for _ in stats.counters()) + sum(1 for _ in stats.gauges()) + sum(
        1 for _ in stats.stats())
    print(f"{args.services} services, {metrics} metric names")
    for case, share in (("full", None), ("unchanged", 0.0), ("10% changed", 0.1),
                        ("all changed", 1.0)):
        rows = []
        for _ in range(1 if share is None else args.repeat):
            if share:
                touch(handles, share, rng)
            ms_collect, body = timed(shipper.collect)
            ms_dumps, data = timed(lambda: marshal.dumps(body))
            ms_loads, loaded = timed(lambda: marshal.loads(data))
            ms_apply, _ = timed(lambda: merger.apply(0, loaded))
            rows.append((ms_collect, ms_dumps + ms_loads, ms_apply, len(data)))
        med = [statistics.median(r[i] for r in rows) for i in range(4)]
        print(f"{case:12s} collect {med[0]:7.2f} ms  marshal {med[1]:6.2f} ms  "
              f"apply {med[2]:7.2f} ms  body {med[3] / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
