"""Fixed-bucket histograms: bucket scheme, percentiles, windows, exact merges."""

from __future__ import annotations

import random

import pytest

from l5d.telemetry.histogram import Histogram, bucket_bounds, bucket_index


def test_small_values_have_a_bucket_each() -> None:
    for v in range(256):
        assert bucket_index(v) == v and bucket_bounds(v) == (v, v + 1)
    assert bucket_index(-5) == 0


def test_buckets_tile_the_integers_with_under_half_a_percent_error() -> None:
    rng = random.Random(7)
    values = [256, 257, 511, 512, 1023, 1024, 2**31 - 1, 2**40] + [
        rng.randrange(256, 10**9) for _ in range(5000)]
    for v in values:
        i = bucket_index(v)
        lower, upper = bucket_bounds(i)
        assert lower <= v < upper
        assert (upper - lower) / lower <= 1 / 128
        assert bucket_index(lower) == i and bucket_index(upper) == i + 1


def test_indices_are_monotonic() -> None:
    last = -1
    for v in range(0, 70000, 3):
        i = bucket_index(v)
        assert i >= last
        last = i


def test_percentiles_nearest_rank_exact_for_small_values() -> None:
    h = Histogram()
    for v in range(1, 101):  # 1..100
        h.add(v)
    s = h.snapshot()
    assert s.count == 100 and s.sum == 5050 and s.min == 1 and s.max == 100
    assert s.avg == 50.5
    assert dict(s.percentiles) == {"p50": 50, "p90": 90, "p95": 95, "p99": 99,
                                   "p9990": 100, "p9999": 100}


def test_latency_read_in_ms_within_half_a_percent() -> None:
    h = Histogram(scale=1000)
    rng = random.Random(3)
    values = sorted(rng.randrange(100, 2_000_000) for _ in range(10000))  # 0.1 ms .. 2 s
    for v in values:
        h.add(v)
    s = h.snapshot()
    assert s.sum == sum(values) / 1000
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        exact = values[max(0, int(q * len(values) + 0.999999) - 1)] / 1000
        assert s.quantile(name) == pytest.approx(exact, rel=0.005)


def test_snapshot_closes_a_window_and_keeps_running_totals() -> None:
    h = Histogram()
    h.add(5)
    h.add(7)
    first = h.snapshot()
    assert first.count == 2 and first.max == 7
    h.add(100)
    assert h.last.count == 2  # still the closed window
    second = h.snapshot()
    assert (second.count, second.min, second.max) == (1, 100, 100)
    assert h.count == 3 and h.sum == 112
    empty = h.snapshot()
    assert empty.count == 0 and h.count == 3


def test_merge_is_exact_whatever_the_split() -> None:
    rng = random.Random(11)
    values = [rng.randrange(0, 10**7) for _ in range(3000)]
    whole = Histogram(scale=1000)
    parts = [Histogram(scale=1000) for _ in range(3)]
    for n, v in enumerate(values):
        whole.add(v)
        parts[n % 3].add(v)
        if n == 1000:
            parts[0].snapshot()  # a closed window and an open one merge alike
    merged = parts[0].merge(parts[1:])
    assert merged.totals() == whole.totals()
    assert merged.summary() == whole.summary()


def test_added_windows_close_as_one_window_of_all_the_values() -> None:
    """Windows read from several histograms and added to another's open window snapshot
    exactly as one histogram that recorded every value."""
    rng = random.Random(12)
    whole = Histogram(scale=1000)
    merged = Histogram(scale=1000)
    parts = [Histogram(scale=1000) for _ in range(3)]
    for _ in range(3):
        for n in range(2000):
            v = rng.randrange(0, 10**7)
            whole.add(v)
            parts[n % 3].add(v)
        for p in parts:
            buckets, total = p.window()
            p.snapshot()
            merged.add_window(buckets, total)
        assert merged.snapshot() == whole.snapshot()
    assert merged.totals() == whole.totals()
    assert merged.window() == ({}, 0)
