"""l5d.accrual.policy: consecutive failures, success rate (requests and time), none (spec 3.3, 3.5).

Vectors from finagle's FailureAccrualPolicyTest and linkerd's ConsecutiveFailuresTest.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from l5d.accrual.policy import (
    AccrualPolicy,
    ConsecutiveFailures,
    NoAccrual,
    SuccessRate,
    SuccessRateWindowed,
)
from l5d.retry.backoff import constant, equal_jitter


def const(seconds: float):
    return lambda: constant(seconds)


def jittered(seed: int, n: int | None = None):
    """Finagle's ``EqualJittered(5 s, 5 s, 60 s, 1, Rng(seed))``, optionally ``take(n)``: every
    call restarts from the same seed, so a restarted stream repeats."""
    def factory():
        stream = equal_jitter(5.0, 60.0, random.Random(seed))
        return stream if n is None else itertools.islice(stream, n)
    return factory


def failures(policy, count: int, now: float = 0.0) -> list[float | None]:
    return [policy.mark_dead_on_failure(now) for _ in range(count)]


class ConsecutiveFailuresTests:
    """consecutiveFailures(N, backoff)."""

    def test_fail_on_nth_attempt(self) -> None:
        """N=3: None, None, then the first backoff duration."""
        assert failures(ConsecutiveFailures(3, const(5)), 3) == [None, None, 5.0]

    def test_failures_reset_on_revived(self) -> None:
        """revived() zeroes the run."""
        policy = ConsecutiveFailures(3, const(5))
        assert failures(policy, 1) == [None]
        policy.revived(0.0)
        assert failures(policy, 3) == [None, None, 5.0]

    def test_failures_reset_on_success(self) -> None:
        """Any success zeroes the run."""
        policy = ConsecutiveFailures(3, const(5))
        assert failures(policy, 2) == [None, None]
        policy.record_success(0.0)
        assert failures(policy, 3) == [None, None, 5.0]

    def test_mark_dead_iterates_over_the_backoff(self) -> None:
        """N=1: each failure returns the next duration of the stream."""
        expected = list(jittered(7777, 6)())
        assert failures(ConsecutiveFailures(1, jittered(7777, 6)), 6) == expected

    def test_exhausted_backoff_is_padded_with_300_s(self) -> None:
        """When a finite stream runs out, mark dead for 300 s."""
        expected = list(jittered(9999, 6)())
        assert failures(ConsecutiveFailures(1, jittered(9999, 6)), 11) == expected + [300.0] * 5

    def test_mark_dead_for_restarts_on_revived(self) -> None:
        """revived() restarts the backoff stream from its start."""
        policy = ConsecutiveFailures(1, jittered(666))
        first = failures(policy, 6)
        policy.revived(0.0)
        assert failures(policy, 6) == first
        assert first == list(itertools.islice(jittered(666)(), 6))

    def test_marking_dead_does_not_reset_the_run(self) -> None:
        """After tripping, every further failure trips again with a longer duration."""
        policy = ConsecutiveFailures(2, jittered(5))
        assert failures(policy, 5) == [None] + list(itertools.islice(jittered(5)(), 4))

    def test_linkerd_constant_backoff(self) -> None:
        """failures: 5, constant 10000 ms: 20 failures give 4 None then 16 times 10 s."""
        assert failures(ConsecutiveFailures(5, const(10.0)), 20) == [None] * 4 + [10.0] * 16

    @pytest.mark.parametrize("seed", range(10))
    def test_linkerd_default_backoff_is_sorted(self, seed: int) -> None:
        """failures: 5 with equal jitter 5..300 s: 4 None, then 16 non-decreasing durations."""
        rng = random.Random(seed)
        delays = failures(ConsecutiveFailures(5, lambda: equal_jitter(5.0, 300.0, rng)), 20)
        assert delays[:4] == [None] * 4
        durations = delays[4:]
        assert all(d is not None for d in durations) and durations == sorted(durations)
        assert durations[0] == 5.0 and durations[-1] == 300.0

    @pytest.mark.parametrize("n", [2, 3, 7, 31, 99])
    def test_arbitrary_numbers_of_failures(self, n: int) -> None:
        """n-1 None, then durations on every failure."""
        rng = random.Random(n)
        delays = failures(ConsecutiveFailures(n, lambda: equal_jitter(5.0, 300.0, rng)), n + 20)
        assert delays[:n - 1] == [None] * (n - 1)
        assert all(d is not None for d in delays[n - 1:])

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
    def test_rejects_bad_thresholds(self, bad) -> None:
        """failures must be an integer >= 1."""
        with pytest.raises(ValueError, match="failures"):
            ConsecutiveFailures(bad, const(1))


class SuccessRateTests:
    """successRate(sr, N, backoff): an EMA over the request ordinal."""

    def test_needs_the_window_of_requests(self) -> None:
        """(0.5, 5): five failures give None x4 then the duration."""
        assert failures(SuccessRate(0.5, 5, const(5)), 5) == [None] * 4 + [5.0]

    def test_trips_when_the_rate_halves(self) -> None:
        """(0.5, 100) after 100 successes: failures 1..69 None, the 70th trips (100 ln 2)."""
        policy = SuccessRate(0.5, 100, const(5))
        for _ in range(100):
            policy.record_success(0.0)
        assert failures(policy, 70) == [None] * 69 + [5.0]

    def test_linkerd_example(self) -> None:
        """successRate 0.9 over 20 requests: after 20 successes, the 3rd failure marks dead."""
        policy = SuccessRate(0.9, 20, const(10))
        for _ in range(20):
            policy.record_success(0.0)
        assert failures(policy, 3) == [None, None, 10.0]
        assert math.exp(-2 / 20) > 0.9 > math.exp(-3 / 20)

    def test_iterates_over_the_backoff_and_pads(self) -> None:
        """(1, 1): every failure trips, walking the stream, then 300 s."""
        expected = list(jittered(333, 6)())
        assert failures(SuccessRate(1.0, 1, jittered(333, 6)), 11) == expected + [300.0] * 5

    def test_revived_resets_rate_ordinal_and_backoff(self) -> None:
        """(1, 2): after revived() the first failure is again below the window."""
        policy = SuccessRate(1.0, 2, jittered(333))
        backoffs = list(itertools.islice(jittered(333)(), 6))
        assert failures(policy, 7) == [None] + backoffs
        policy.revived(0.0)
        assert failures(policy, 7) == [None] + backoffs

    def test_success_rate_tracks_the_ema(self) -> None:
        """The first sample sets the EMA; each later one moves it by 1 - exp(-1/N)."""
        policy = SuccessRate(0.1, 4, const(5))
        assert policy.success_rate == 0.0
        policy.record_success(0.0)
        assert policy.success_rate == 1.0
        policy.mark_dead_on_failure(0.0)
        assert policy.success_rate == pytest.approx(math.exp(-1 / 4))

    def test_successes_hold_the_rate_up(self) -> None:
        """Alternating success and failure keeps the rate near 0.5, above 0.4."""
        policy = SuccessRate(0.4, 10, const(1))
        for _ in range(100):
            policy.record_success(0.0)
            assert policy.mark_dead_on_failure(0.0) is None

    @pytest.mark.parametrize(("rate", "requests", "message"), [
        (-0.1, 5, "success_rate"), (1.1, 5, "success_rate"), (math.nan, 5, "success_rate"),
        (0.5, 0, "requests"), (0.5, 2.0, "requests"),
    ])
    def test_rejects_bad_parameters(self, rate, requests, message: str) -> None:
        """0 <= success_rate <= 1, requests >= 1."""
        with pytest.raises(ValueError, match=message):
            SuccessRate(rate, requests, const(1))


class SuccessRateWindowedTests:
    """successRateWithinDuration(sr, window, backoff, minRequests): an EMA over time."""

    def test_trips_only_after_the_window(self) -> None:
        """(1, 30 s, minReq 0): None at creation; after 30 s every failure walks the stream."""
        policy = SuccessRateWindowed(1.0, 30.0, jittered(333, 6), 0, now=0.0)
        assert policy.mark_dead_on_failure(0.0) is None
        assert policy.mark_dead_on_failure(29.999) is None
        expected = list(jittered(333, 6)())
        assert failures(policy, 11, now=30.0) == expected + [300.0] * 5

    def test_revived_restarts_the_window(self) -> None:
        """After revived() the window is counted from the revival."""
        policy = SuccessRateWindowed(1.0, 30.0, jittered(333, 6), 0, now=0.0)
        assert failures(policy, 6, now=30.0) == list(jittered(333, 6)())
        policy.revived(30.0)
        assert policy.mark_dead_on_failure(30.0) is None
        assert policy.mark_dead_on_failure(59.999) is None
        assert policy.mark_dead_on_failure(60.0) == 5.0

    def test_fractional_success_rate(self) -> None:
        """(0.5, 100 s): 100 successes 1 s apart, then failures 1 s apart: the 70th trips."""
        policy = SuccessRateWindowed(0.5, 100.0, const(5), 0, now=0.0)
        t = 0
        for _ in range(100):
            t += 1
            policy.record_success(t)
        results = []
        for _ in range(70):
            t += 1
            results.append(policy.mark_dead_on_failure(t))
        assert results == [None] * 69 + [5.0]

    def test_respects_the_request_threshold(self) -> None:
        """(1, 30 s, minReq 5) at +30 s: failures 1..4 None, the 5th trips."""
        policy = SuccessRateWindowed(1.0, 30.0, jittered(333, 6), 5, now=0.0)
        assert failures(policy, 5, now=30.0) == [None] * 4 + [5.0]

    def test_requests_older_than_the_window_do_not_count(self) -> None:
        """The request counter is windowed: four old failures plus one new are not five."""
        policy = SuccessRateWindowed(1.0, 30.0, const(5), 5, now=0.0)
        assert failures(policy, 4, now=30.0) == [None] * 4
        assert policy.mark_dead_on_failure(61.0) is None  # the four left the 30 s window
        assert failures(policy, 4, now=61.0) == [None] * 3 + [5.0]

    def test_finagle_default_trips_after_6_69_s_of_failures(self) -> None:
        """0.8 over 30 s, from a rate of 1: failures 1 s apart trip on the 7th (-30 ln 0.8 s)."""
        policy = SuccessRateWindowed(0.8, 30.0, const(5), now=0.0)
        for t in range(31):
            policy.record_success(float(t))
        results = [policy.mark_dead_on_failure(30.0 + k) for k in range(1, 8)]
        assert results == [None] * 6 + [5.0]
        assert 6 < -30 * math.log(0.8) < 7

    def test_without_a_creation_time_the_first_event_starts_the_clock(self) -> None:
        """now=None: the window is counted from the first call."""
        policy = SuccessRateWindowed(1.0, 30.0, const(5), 0)
        assert policy.mark_dead_on_failure(100.0) is None
        assert policy.mark_dead_on_failure(129.999) is None
        assert policy.mark_dead_on_failure(130.0) == 5.0

    def test_a_clock_step_backwards_counts_as_no_time(self) -> None:
        """Finagle asserts on a non-monotonic stamp; we treat it as no time passing."""
        policy = SuccessRateWindowed(0.5, 10.0, const(5), 0, now=0.0)
        policy.record_success(20.0)
        assert policy.mark_dead_on_failure(19.0) is None
        assert policy.success_rate == 1.0  # a zero-time sample leaves the EMA unchanged
        assert policy.mark_dead_on_failure(25.0) is None
        assert policy.success_rate == pytest.approx(math.exp(-0.5))

    def test_success_rate_tracks_the_ema(self) -> None:
        """One success then a failure a whole window later: exp(-1)."""
        policy = SuccessRateWindowed(0.1, 10.0, const(5), 0, now=0.0)
        assert policy.success_rate == 0.0
        policy.record_success(1.0)
        assert policy.success_rate == 1.0
        policy.mark_dead_on_failure(11.0)
        assert policy.success_rate == pytest.approx(math.exp(-1))

    @pytest.mark.parametrize(("rate", "window", "min_requests", "message"), [
        (1.5, 30.0, 5, "success_rate"), (0.5, 0.0, 5, "window_s"), (0.5, 0.004, 5, "window_s"),
        (0.5, math.inf, 5, "window_s"), (0.5, 30.0, -1, "min_requests"),
    ])
    def test_rejects_bad_parameters(self, rate, window, min_requests, message: str) -> None:
        """ValueError naming the parameter."""
        with pytest.raises(ValueError, match=message):
            SuccessRateWindowed(rate, window, const(1), min_requests)


class NoAccrualTests:
    """none: never marks dead."""

    def test_never_marks_dead(self) -> None:
        """A thousand failures, none trips."""
        policy = NoAccrual()
        policy.record_success(0.0)
        policy.revived(0.0)
        assert failures(policy, 1000) == [None] * 1000


class ProtocolTests:
    """Every policy satisfies the AccrualPolicy protocol."""

    @pytest.mark.parametrize("policy", [
        ConsecutiveFailures(5, const(1)), SuccessRate(0.5, 10, const(1)),
        SuccessRateWindowed(0.5, 10.0, const(1)), NoAccrual(),
    ], ids=lambda p: type(p).__name__)
    def test_is_an_accrual_policy(self, policy) -> None:
        """runtime_checkable Protocol check, and a readable repr."""
        assert isinstance(policy, AccrualPolicy)
        assert type(policy).__name__ in repr(policy)
