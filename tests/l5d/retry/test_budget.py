"""l5d.retry.budget: WindowedAdder, the leaky token bucket and retry budgets (spec 4.1, 4.5).

Vectors from util's WindowedAdderTest and TokenBucketTest and finagle's RetryBudgetTest, on a
frozen twisted Clock.
"""

from __future__ import annotations

import math
import random

import pytest
from twisted.internet.task import Clock

from l5d.retry.budget import (
    EMPTY,
    EmptyBudget,
    LeakyBucket,
    RetryBudget,
    WindowedAdder,
    retry_budget,
)


class ReferenceAdder:
    """The spec's WindowedAdder algorithm written as plainly as possible, in integer ms."""

    def __init__(self, range_ms: int, slices: int, t: int) -> None:
        self.window, self.n = range_ms // slices, slices - 1
        self.buf, self.writer, self.i, self.old = [0] * self.n, 0, 0, t

    def _touch(self, t: int) -> None:
        if t - self.old >= self.window:
            self.buf[self.i] = self.writer
            self.writer = 0
            self.i = (self.i + 1) % self.n
            nskip = min((t - self.old) // self.window - 1, self.n)
            for _ in range(max(nskip, 0)):
                self.buf[self.i] = 0
                self.i = (self.i + 1) % self.n
            self.old = t

    def add(self, x: int, t: int) -> None:
        self._touch(t)
        self.writer += x

    def sum(self, t: int) -> int:
        self._touch(t)
        return self.writer + sum(self.buf)


class WindowedAdderTests:
    """util WindowedAdderTest (3 s in 3 slices) and the spec's sparse-access expiry."""

    def adder(self, clock: Clock, range_s: float = 3.0, slices: int = 3) -> WindowedAdder:
        return WindowedAdder(range_s, slices, clock.seconds)

    def test_sums_things_up_when_time_stands_still(self) -> None:
        """Without time passing every add is in the sum."""
        adder = self.adder(Clock())
        for x, total in [(1, 1), (1, 2), (3, 5)]:
            adder.add(x)
            assert adder.sum() == total

    def test_maintains_a_sliding_window(self) -> None:
        """An entry leaves the sum 3 s after the slice it was added in."""
        clock = Clock()
        adder = self.adder(clock)
        adder.add(1)
        assert adder.sum() == 1
        clock.advance(1)
        assert adder.sum() == 1
        adder.add(2)
        assert adder.sum() == 3
        for expected in [3, 2, 0]:
            clock.advance(1)
            assert adder.sum() == expected

    def test_maintains_a_sliding_window_when_slices_are_skipped(self) -> None:
        """Long gaps zero the skipped slots."""
        clock = Clock()
        adder = self.adder(clock)
        adder.add(1)
        assert adder.sum() == 1
        clock.advance(1)
        adder.add(2)
        assert adder.sum() == 3
        clock.advance(1)
        adder.add(1)
        assert adder.sum() == 4
        clock.advance(2)
        assert adder.sum() == 1
        clock.advance(100)
        assert adder.sum() == 0
        adder.add(100)
        clock.advance(1)
        assert adder.sum() == 100
        adder.add(100)
        clock.advance(1)
        adder.add(100)
        assert adder.sum() == 300
        clock.advance(100)
        assert adder.sum() == 0

    def test_maintains_negative_sums(self) -> None:
        """Negative entries expire like positive ones."""
        clock = Clock()
        adder = self.adder(clock)
        steps = [  # (advance, add or None, expected sum)
            (0, -2, -2), (0, 4, 2),
            (1, -2, 0), (0, -2, -2),
            (1, -2, -4),
            (1, None, -6), (1, None, -2), (1, None, 0), (100, None, 0),
        ]
        for advance, x, expected in steps:
            clock.advance(advance)
            if x is not None:
                adder.add(x)
            assert adder.sum() == expected, (clock.seconds(), x)

    def test_sparse_access_lets_an_entry_outlive_the_range(self) -> None:
        """ttl 3 s in 10 slices touched once a second: an entry expires at 4 s, not 3 s."""
        clock = Clock()
        adder = self.adder(clock, 3.0, 10)
        adder.add(7)
        for t, expected in [(1, 7), (2, 7), (3, 7), (4, 0)]:
            clock.advance(1)
            assert adder.sum() == expected, t

    def test_just_before_and_after_a_window_boundary(self) -> None:
        """Rotation happens when a whole window (range // slices ms) has passed, not before."""
        clock = Clock()
        adder = self.adder(clock, 3.0, 3)
        adder.add(1)
        clock.advance(0.999)
        adder.add(10)  # still the first window
        clock.advance(0.001)  # 1000 ms after the start: rotate
        adder.add(100)
        clock.advance(1.999)  # t = 2.999: 999 ms after the rotation at 1.0, no rotation
        assert adder.sum() == 111
        clock.advance(0.001)  # t = 3.0: rotate; the first window's 11 is still in the ring
        assert adder.sum() == 111
        clock.advance(1.0)  # t = 4.0: the first window's slot is reused
        assert adder.sum() == 100

    def test_reset_forgets_everything(self) -> None:
        """reset() empties the ring and the open slice."""
        clock = Clock()
        adder = self.adder(clock)
        adder.add(5)
        clock.advance(1)
        adder.add(6)
        adder.reset()
        assert adder.sum() == 0
        adder.add(2)
        clock.advance(2.5)
        assert adder.sum() == 2

    @pytest.mark.parametrize(("range_s", "slices"), [(3.0, 3), (10.0, 10), (1.0, 2), (0.05, 5)])
    @pytest.mark.parametrize("seed", range(5))
    def test_matches_the_reference_algorithm(self, range_s: float, slices: int, seed: int) -> None:
        """Random adds, sums and gaps agree with a literal transcription of the spec."""
        rng = random.Random(seed)
        clock = Clock()
        adder = WindowedAdder(range_s, slices, clock.seconds)
        ref = ReferenceAdder(round(range_s * 1000), slices, 0)
        t_ms = 0
        for _ in range(3000):
            t_ms += rng.choice([0, 0, 1, 7, 50, 99, 100, 101, 333, 1000, 2500, 10_000])
            clock.advance(t_ms / 1000 - clock.seconds())
            if rng.random() < 0.6:
                x = rng.randint(-50, 100)
                adder.add(x)
                ref.add(x, t_ms)
            else:
                assert adder.sum() == ref.sum(t_ms), t_ms

    @pytest.mark.parametrize(("range_s", "slices", "message"), [
        (3.0, 1, "slices"), (3.0, 0, "slices"), (3.0, 2.5, "slices"),
        (0.002, 3, "range_s"), (0.0, 2, "range_s"), (math.nan, 3, "range_s"),
    ])
    def test_rejects_bad_parameters(self, range_s: float, slices: int, message: str) -> None:
        """At least 2 slices and a window of at least 1 ms (Finagle would divide by zero)."""
        with pytest.raises(ValueError, match=message):
            WindowedAdder(range_s, slices, Clock().seconds)


class LeakyBucketTests:
    """util TokenBucketTest, leaky cases (ttl 3 s, frozen clock)."""

    def test_a_leaky_bucket_is_leaky(self) -> None:
        """Tokens put in are gone after the ttl."""
        clock = Clock()
        bucket = LeakyBucket(3.0, 0, clock.seconds)
        bucket.put(100)
        assert bucket.try_get(1)
        clock.advance(3)
        assert not bucket.try_get(1)

    def test_try_get_fails_when_empty(self) -> None:
        """Gets succeed exactly while enough tokens remain."""
        bucket = LeakyBucket(3.0, 0, Clock().seconds)
        bucket.put(100)
        script = [(50, True), (49, True), (1, True), (1, False), (50, False)]
        assert [bucket.try_get(n) for n, _ in script] == [ok for _, ok in script]
        bucket.put(1)
        assert [bucket.try_get(2), bucket.try_get(1), bucket.try_get(1)] == [False, True, False]

    def test_provisions_reserves(self) -> None:
        """The reserve is spendable; withdrawals expire after about the ttl and refill it."""
        clock = Clock()
        bucket = LeakyBucket(3.0, 100, clock.seconds)
        assert bucket.try_get(50)
        assert bucket.try_get(50)
        assert not bucket.try_get(1)
        bucket.put(1)
        assert bucket.try_get(1)
        for _ in range(3):
            clock.advance(1)
            assert not bucket.try_get(1)  # still -100 + 100 = 0
        clock.advance(1)
        assert bucket.try_get(50)  # the -100 expired at 4 s
        clock.advance(3)
        assert bucket.try_get(100)
        assert not bucket.try_get(1)

    def test_count_includes_the_reserve(self) -> None:
        """count = window sum + reserve."""
        bucket = LeakyBucket(3.0, 100, Clock().seconds)
        bucket.put(5)
        assert bucket.count == 105

    @pytest.mark.parametrize("method", ["put", "try_get"])
    def test_rejects_negative_amounts(self, method: str) -> None:
        """n must be >= 0."""
        with pytest.raises(ValueError, match="n must be >= 0"):
            getattr(LeakyBucket(3.0, 0, Clock().seconds), method)(-1)


# RetryBudgetTest: (ttl_s, min_retries_per_s, percent_can_retry); expected retries out of 10,000
# deposit/withdraw pairs = int(10000 * pct) + ttl * min, within +-1.
RETRY_ROWS = [
    (60, 0, 0.1), (60, 0, 0.5), (60, 0, 0.25), (60, 0, 0.75), (60, 0, 0.99),
    (60, 0, 0.999), (60, 0, 0.9999), (60, 0, 0.01), (60, 0, 0.001), (60, 0, 0.0001),
    (1, 10, 0.0), (2, 5, 0.0), (1, 10, 0.1), (2, 5, 0.5),
]

BAD_PARAMETERS = [
    ("ttl-zero", 0, 5, 0.1, "ttl_s"),
    ("ttl-61", 61, 5, 0.1, "ttl_s"),
    ("ttl-under-a-second", 0.999, 5, 0.1, "ttl_s"),
    ("ttl-negative", -1, 5, 0.1, "ttl_s"),
    ("ttl-nan", math.nan, 5, 0.1, "ttl_s"),
    ("min-negative", 10, -1, 0.1, "min_retries_per_s must be non-negative: -1"),
    ("min-fractional", 10, 1.5, 0.1, "min_retries_per_s must be an integer: 1.5"),
    ("pct-negative", 10, 0, -1.0, "percent_can_retry must be non-negative: -1.0"),
    ("pct-nan", 10, 0, math.nan, "percent_can_retry must be non-negative"),
    ("pct-over-1000", 10, 0, 1000.5, "not be greater than 1000: 1000.5"),
    ("empty-but-bad-ttl", 0, 0, 0.0, "ttl_s"),
]


class RetryBudgetTests:
    """finagle RetryBudgetTest plus the Linkerd defaults, on a frozen clock."""

    @pytest.mark.parametrize(("ttl", "min_rps", "pct"), RETRY_ROWS)
    def test_retries_follow_percent_and_reserve(self, ttl: int, min_rps: int, pct: float) -> None:
        """10,000 deposit/withdraw pairs allow int(n * pct) + ttl * min retries, within 1."""
        budget = retry_budget(ttl, min_rps, pct, Clock().seconds)
        assert budget.balance == ttl * min_rps
        if ttl * min_rps == 0:
            assert not budget.try_withdraw()
        retried = 0
        for i in range(10_000):
            budget.deposit()
            if budget.try_withdraw():
                retried += 1
            else:
                assert budget.balance == 0, i
        assert abs(retried - (int(10_000 * pct) + ttl * min_rps)) <= 1

    @pytest.mark.parametrize(("pct", "retries"), [(0.75, 7501), (0.9999, 10_000), (0.1, 1000)])
    def test_exact_retry_counts_of_the_integer_model(self, pct: float, retries: int) -> None:
        """The scaled integer costs (0.75 -> 1333 tokens) give these counts exactly."""
        budget = retry_budget(60, 0, pct, Clock().seconds)
        retried = 0
        for _ in range(10_000):
            budget.deposit()
            retried += budget.try_withdraw()
        assert retried == retries

    def test_percent_over_one(self) -> None:
        """pct 2.0: every deposit is worth two retries; 10,000 deposits give a balance of 20,000."""
        budget = retry_budget(60, 0, 2.0, Clock().seconds)
        assert budget.balance == 0 and not budget.try_withdraw()
        for _ in range(10_000):
            budget.deposit()
        assert budget.balance == 20_000

    def test_default_budget(self) -> None:
        """Linkerd's default (10 s, 10/s, 0.2): balance 100, and 102 after 10 deposits."""
        budget = RetryBudget(now=Clock().seconds)
        assert budget.balance == 100
        for _ in range(10):
            budget.deposit()
        assert budget.balance == 102
        assert repr(budget) == "RetryBudget(deposit=1000, withdraw=5000, balance=102)"

    def test_default_budget_allows_210_retries_per_second(self) -> None:
        """1 request/ms for 20 s, each followed by a retry attempt: 4200 retries (210/s)."""
        clock = Clock()
        budget = RetryBudget(10.0, 10, 0.2, now=clock.seconds)
        retried = 0
        for ms in range(20_000):
            clock.advance(ms / 1000 - clock.seconds())
            budget.deposit()
            retried += budget.try_withdraw()
        assert retried == 4200

    def test_reserve_drains_then_refills_after_the_ttl(self) -> None:
        """The reserve (100 retries) is spent at once; read every second, it is back at 10 s."""
        clock = Clock()
        budget = RetryBudget(now=clock.seconds)
        assert sum(budget.try_withdraw() for _ in range(150)) == 100
        for _ in range(9):
            clock.advance(1.0)
            assert budget.balance == 0, clock.seconds()
        clock.advance(0.999)
        assert not budget.try_withdraw()
        clock.advance(0.001)
        assert budget.balance == 100

    def test_deposits_expire_after_the_ttl_when_read_every_slice(self) -> None:
        """Read every 100 ms (one slice of a 1 s ttl), deposits count until exactly 1 s."""
        clock = Clock()
        budget = RetryBudget(1.0, 0, 1.0, now=clock.seconds)
        for _ in range(5):
            budget.deposit()
        for _ in range(9):
            clock.advance(0.1)
            assert budget.balance == 5, clock.seconds()
        clock.advance(0.1)
        assert budget.balance == 0

    def test_sparse_reads_let_deposits_outlive_the_ttl(self) -> None:
        """Slots rotate only when touched, and from the time of that touch (spec 4.1)."""
        clock = Clock()
        budget = RetryBudget(1.0, 0, 1.0, now=clock.seconds)
        budget.deposit()
        clock.advance(0.999)
        assert budget.balance == 1  # one rotation at 0.999 s
        clock.advance(0.099)
        assert budget.balance == 1  # 1.098 s: less than a slice since that rotation
        clock.advance(0.001)
        assert budget.balance == 0  # 1.099 s

    def test_balance_truncates_toward_zero_like_the_jvm(self) -> None:
        """A count of -333 with a cost of 1333 is a balance of 0, not -1."""
        clock = Clock()
        budget = RetryBudget(10.0, 0, 0.75, now=clock.seconds)
        budget.deposit()
        budget.deposit()
        assert budget.try_withdraw()  # 2000 - 1333 = 667 in the first slice
        clock.advance(1.0)
        budget.deposit()
        assert budget.try_withdraw()  # 667 + 1000 - 1333 = 334; this slice nets -333
        clock.advance(9.0)
        assert budget.balance == 0  # first slice expired: count -333
        clock.advance(1.0)
        assert budget.balance == 0

    def test_budget_matches_the_general_leaky_bucket(self) -> None:
        """The inlined deposit/withdraw behave exactly like LeakyBucket.put/try_get."""
        rng = random.Random(11)
        clock = Clock()
        budget = RetryBudget(3.0, 2, 0.3, now=clock.seconds)
        bucket = LeakyBucket(3.0, 2 * 3 * 3333, clock.seconds)
        for _ in range(5000):
            clock.advance(rng.choice([0, 0, 0.001, 0.05, 0.3, 1.0, 4.0]))
            if rng.random() < 0.5:
                budget.deposit()
                bucket.put(1000)
            else:
                assert budget.try_withdraw() == bucket.try_get(3333)
            assert budget.balance == int(bucket.count / 3333)

    @pytest.mark.parametrize(("ttl", "reserve_retries"), [(1.5, 10), (60.9, 600)])
    def test_fractional_ttl_truncates_for_the_reserve(self, ttl: float, reserve_retries: int):
        """ttl.inSeconds truncates: 1.5 s and 60.9 s are valid, the reserve uses 1 and 60."""
        assert retry_budget(ttl, 10, 0.0, Clock().seconds).balance == reserve_retries

    @pytest.mark.parametrize(("name", "ttl", "min_rps", "pct", "message"), BAD_PARAMETERS,
                             ids=[row[0] for row in BAD_PARAMETERS])
    def test_rejects_invalid_parameters(self, name, ttl, min_rps, pct, message) -> None:
        """ValueError naming the parameter and the value, from the factory and the class."""
        with pytest.raises(ValueError, match=message):
            retry_budget(ttl, min_rps, pct, Clock().seconds)
        with pytest.raises(ValueError, match=message):
            RetryBudget(ttl, min_rps, pct, now=Clock().seconds)


class EmptyBudgetTests:
    """RetryBudget.Empty: balance 0, deposits ignored, withdrawals refused."""

    def test_zero_minimum_and_zero_percent_is_the_empty_singleton(self) -> None:
        """(10 s, 0, 0.0) returns EMPTY itself."""
        assert retry_budget(10, 0, 0.0, Clock().seconds) is EMPTY

    def test_other_parameters_are_not_empty(self) -> None:
        """Any reserve or percentage gives a real budget."""
        assert isinstance(retry_budget(10, 1, 0.0, Clock().seconds), RetryBudget)
        assert isinstance(retry_budget(10, 0, 0.01, Clock().seconds), RetryBudget)

    def test_never_allows_a_retry(self) -> None:
        """Deposits change nothing."""
        assert isinstance(EMPTY, EmptyBudget)
        assert EMPTY.balance == 0 and not EMPTY.try_withdraw()
        EMPTY.deposit()
        assert EMPTY.balance == 0 and not EMPTY.try_withdraw()
        assert repr(EMPTY) == "EMPTY"
