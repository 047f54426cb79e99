"""l5d.retry.backoff: constant, decorrelated-jitter and equal-jitter streams (spec 3.4, 3.5)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from l5d.retry.backoff import (
    DEFAULT_ACCRUAL_BACKOFF,
    DEFAULT_RETRY_BACKOFF,
    BackoffSpec,
    constant,
    decorrelated_jitter,
    equal_jitter,
)


def take(stream, n: int) -> list[float]:
    return list(itertools.islice(stream, n))


class ConstantTests:
    """constant(d) repeats d forever and rejects negative or non-finite delays."""

    @pytest.mark.parametrize("delay", [0, 0.0, 0.25, 10.0, 300])
    def test_repeats_the_delay(self, delay: float) -> None:
        """Every element is the delay, as a float."""
        values = take(constant(delay), 100)
        assert values == [float(delay)] * 100
        assert all(isinstance(v, float) for v in values)

    @pytest.mark.parametrize("delay", [-0.001, -1, math.inf, math.nan, "1"])
    def test_rejects_bad_delays(self, delay) -> None:
        """A negative, infinite, NaN or non-numeric delay is a ValueError naming delay_s."""
        with pytest.raises(ValueError, match="delay_s"):
            constant(delay)


BOUNDS = [
    (0.001, 0.002),
    (0.01, 10.0),
    (0.1, 0.4),
    (1.0, 1.000000001),
    (5.0, 300.0),
    (0.3, 0.4),
    (10.0, 10000.0),
]

BAD_BOUNDS = [
    ("zero-min", 0.0, 1.0, "min_s"),
    ("negative-min", -1.0, 1.0, "min_s"),
    ("zero-max", 1.0, 0.0, "max_s"),
    ("min-above-max", 2.0, 1.0, "min_s must be <= max_s"),
    ("nan-min", math.nan, 1.0, "min_s"),
    ("infinite-max", 1.0, math.inf, "max_s"),
    ("sub-nanosecond-min", 1e-12, 1.0, "min_s"),
]


class DecorrelatedJitterTests:
    """Finagle's decorrelated jitter: starts at min, never decreases, stays within [min, max]."""

    @pytest.mark.parametrize("seed", range(20))
    @pytest.mark.parametrize(("lo", "hi"), BOUNDS)
    def test_non_decreasing_within_bounds(self, lo: float, hi: float, seed: int) -> None:
        """The first value is min; each next value is in [prev, min(3*prev, max))."""
        values = take(decorrelated_jitter(lo, hi, random.Random(seed)), 300)
        assert values[0] == lo
        for prev, cur in zip(values, values[1:]):
            assert prev <= cur <= hi, (prev, cur)
            assert cur < min(3 * prev, hi) or cur == prev == hi, (prev, cur)
        assert all(lo <= v <= hi for v in values)

    @pytest.mark.parametrize(("lo", "hi"), [(0.3, 0.4), (0.01, 10.0), (5.0, 300.0)])
    def test_produces_at_least_two_distinct_values(self, lo: float, hi: float) -> None:
        """Linkerd's ConfigTest: 300 draws hold at least two durations when min < max."""
        assert len(set(take(decorrelated_jitter(lo, hi, random.Random(1)), 300))) >= 2

    def test_steps_are_uniform_up_to_three_times_the_previous(self) -> None:
        """From min far below max, the second value is uniform over [min, 3*min): mean 2*min."""
        seconds = [take(decorrelated_jitter(1.0, 100.0, random.Random(s)), 2)[1]
                   for s in range(2000)]
        assert 1.95 < sum(seconds) / len(seconds) < 2.05
        assert min(seconds) < 1.01 and 2.99 < max(seconds) < 3.0

    def test_climbs_towards_the_maximum(self) -> None:
        """With room to grow the stream approaches max (min(3d, max) caps each step)."""
        values = take(decorrelated_jitter(0.01, 1.0, random.Random(7)), 2000)
        assert values[-1] > 0.99

    def test_equal_bounds_give_a_constant(self) -> None:
        """min == max is Backoff.const(min), drawing nothing from the rng."""
        rng = random.Random(3)
        state = rng.getstate()
        assert take(decorrelated_jitter(2.0, 2.0, rng), 10) == [2.0] * 10
        assert rng.getstate() == state

    def test_same_seed_same_stream(self) -> None:
        """The stream depends only on the rng it is given."""
        a = take(decorrelated_jitter(0.1, 30.0, random.Random(42)), 50)
        b = take(decorrelated_jitter(0.1, 30.0, random.Random(42)), 50)
        c = take(decorrelated_jitter(0.1, 30.0, random.Random(43)), 50)
        assert a == b and a != c

    @pytest.mark.parametrize(("name", "lo", "hi", "message"), BAD_BOUNDS, ids=lambda x: str(x))
    def test_rejects_bad_bounds(self, name: str, lo: float, hi: float, message: str) -> None:
        """Finagle requires 0 < min <= max ('jittered' in Linkerd)."""
        with pytest.raises(ValueError, match=message):
            decorrelated_jitter(lo, hi, random.Random(0))


# (attempt index, lower bound inclusive, upper bound exclusive) for equal jitter 5 s .. 300 s.
EQUAL_300 = [(1, 5, 10), (2, 10, 20), (3, 20, 40), (4, 40, 80), (5, 80, 160)]


class EqualJitterTests:
    """Finagle's equal jitter: 5, [5,10), [10,20), ... doubling, then the cap forever."""

    @pytest.mark.parametrize("seed", range(200))
    def test_default_accrual_ranges(self, seed: int) -> None:
        """5..300 s: 5, [5,10), [10,20), [20,40), [40,80), [80,160), [160,300) or 300, then 300."""
        values = take(equal_jitter(5.0, 300.0, random.Random(seed)), 30)
        assert values[0] == 5.0
        for k, lo, hi in EQUAL_300:
            assert lo <= values[k] < hi, (k, values[k])
        assert 160 <= values[6] < 300 or values[6] == 300
        assert values[7:] == [300.0] * 23

    def test_the_sixth_step_can_land_on_either_side_of_the_cap(self) -> None:
        """half + U[0, half) >= max turns the stream constant early; both branches occur."""
        sixth = [take(equal_jitter(5.0, 300.0, random.Random(s)), 7)[6] for s in range(200)]
        assert 300.0 in sixth
        assert any(v < 300.0 for v in sixth)

    @pytest.mark.parametrize("seed", range(200))
    def test_finagle_test_backoff_5_to_60(self, seed: int) -> None:
        """EqualJittered(5, 5, 60): 5, [5,10), [10,20), [20,40), [40,60) or 60, then 60."""
        values = take(equal_jitter(5.0, 60.0, random.Random(seed)), 12)
        assert values[0] == 5.0
        assert 5 <= values[1] < 10 and 10 <= values[2] < 20 and 20 <= values[3] < 40
        assert 40 <= values[4] < 60 or values[4] == 60
        assert values[5:] == [60.0] * 7

    def test_jitter_is_spread_over_the_range(self) -> None:
        """The first jittered step is uniform over [5, 10): its mean is close to 7.5."""
        firsts = [take(equal_jitter(5.0, 300.0, random.Random(s)), 2)[1] for s in range(2000)]
        assert 7.3 < sum(firsts) / len(firsts) < 7.7
        assert min(firsts) < 5.1 and max(firsts) > 9.9

    def test_non_decreasing(self) -> None:
        """Each range starts where the previous ends, so the stream never decreases."""
        for seed in range(50):
            values = take(equal_jitter(0.5, 100.0, random.Random(seed)), 40)
            assert values == sorted(values)

    def test_equal_bounds_give_a_constant(self) -> None:
        """min == max is Backoff.const(min)."""
        assert take(equal_jitter(7.0, 7.0, random.Random(0)), 5) == [7.0] * 5

    @pytest.mark.parametrize(("name", "lo", "hi", "message"), BAD_BOUNDS, ids=lambda x: str(x))
    def test_rejects_bad_bounds(self, name: str, lo: float, hi: float, message: str) -> None:
        """Finagle requires 0 < min <= max."""
        with pytest.raises(ValueError, match=message):
            equal_jitter(lo, hi, random.Random(0))


class BackoffSpecTests:
    """BackoffSpec: a validated frozen value that builds fresh streams."""

    def test_constant_kind(self) -> None:
        """kind constant streams delay_s."""
        assert take(BackoffSpec("constant", delay_s=0.5).stream(random.Random(0)), 3) == [0.5] * 3

    def test_jittered_kind_is_decorrelated(self) -> None:
        """kind jittered is Linkerd's JitteredBackoffConfig: decorrelated jitter."""
        spec = BackoffSpec("jittered", min_s=0.01, max_s=1.0)
        assert take(spec.stream(random.Random(5)), 20) == take(
            decorrelated_jitter(0.01, 1.0, random.Random(5)), 20)

    def test_equal_jittered_kind(self) -> None:
        """kind equalJittered is Finagle's equal jitter."""
        spec = BackoffSpec("equalJittered", min_s=5.0, max_s=300.0)
        assert take(spec.stream(random.Random(5)), 20) == take(
            equal_jitter(5.0, 300.0, random.Random(5)), 20)

    def test_each_stream_is_fresh(self) -> None:
        """stream() starts over each time; streams do not share a position."""
        spec = BackoffSpec("equalJittered", min_s=1.0, max_s=100.0)
        rng = random.Random(0)
        first, second = spec.stream(rng), spec.stream(rng)
        assert next(first) == 1.0 and next(first) >= 1.0 and next(second) == 1.0

    def test_defaults(self) -> None:
        """Retries default to no delay; accrual defaults to equal jitter 5..300 s."""
        assert DEFAULT_RETRY_BACKOFF == BackoffSpec("constant", delay_s=0.0)
        assert DEFAULT_ACCRUAL_BACKOFF == BackoffSpec("equalJittered", min_s=5.0, max_s=300.0)

    def test_is_frozen(self) -> None:
        """Specs are values."""
        spec = BackoffSpec("constant")
        with pytest.raises(AttributeError):
            spec.delay_s = 1.0  # type: ignore[misc]

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"kind": "exponential"}, "kind must be one of"),
        ({"kind": "constant", "delay_s": -1.0}, "delay_s"),
        ({"kind": "jittered"}, "min_s"),
        ({"kind": "jittered", "min_s": 1.0}, "max_s"),
        ({"kind": "jittered", "min_s": 3.0, "max_s": 2.0}, "min_s must be <= max_s"),
        ({"kind": "equalJittered", "max_s": 2.0}, "min_s"),
    ], ids=lambda x: str(x))
    def test_rejects_bad_specs(self, kwargs: dict, message: str) -> None:
        """Validation happens on construction, naming the field."""
        with pytest.raises(ValueError, match=message):
            BackoffSpec(**kwargs)
