"""l5d.lb.ewma: Peak EWMA numbers (spec 1.4 and 1.8) and the load band's EMA (Finagle EmaTest)."""

from __future__ import annotations

import math

import pytest

from l5d.lb.ewma import PENALTY, Ema, PeakEwma


class PeakEwmaTests:
    """Peak EWMA: jump up on a peak, blend down by elapsed time, decay on read, penalty."""

    def test_first_sample_becomes_the_cost(self) -> None:
        """A first response of 100 ms sets the cost to 100 ms, whenever it arrives."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.1, now=3.0)
        assert m.cost == 0.1

    def test_lower_sample_one_second_later_is_blended_by_elapsed_time(self) -> None:
        """100 ms then 50 ms one second later: w = e**-0.1, cost = 95.2418709 ms."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.1, now=0.0)
        m.observe(0.05, now=1.0)
        assert m.cost == pytest.approx(0.095241871, abs=1e-9)

    @pytest.mark.parametrize("pending, factor", [(0, 1), (1, 2), (2, 3)])
    def test_load_after_ten_idle_seconds_decays_and_scales_by_pending(
            self, pending: int, factor: int) -> None:
        """A load read 10 s after the 95.24 ms cost: cost 35.037526 ms, load cost*(pending+1)."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.1, now=0.0)
        m.observe(0.05, now=1.0)
        load = m.load(pending, now=11.0)
        assert m.cost == pytest.approx(0.035037526, abs=1e-9)
        assert load == pytest.approx(factor * 0.035037526, abs=1e-9)

    def test_higher_sample_jumps_up_at_once(self) -> None:
        """A 500 ms sample sets the cost to 500 ms immediately, with no blending."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.1, now=0.0)
        m.observe(0.5, now=0.001)
        assert m.cost == 0.5

    CASES = [
        # (name, cost history, pending, expected load)
        ("new, idle", False, 0, 0.0),
        ("new, one pending", False, 1, 140737488355328.0),
        ("new, three pending", False, 3, PENALTY + 3),
        ("history, one pending", True, 1, 0.2),
    ]

    @pytest.mark.parametrize("name, history, pending, expected", CASES, ids=[c[0] for c in CASES])
    def test_penalty_only_without_history(
            self, name: str, history: bool, pending: int, expected: float) -> None:
        """A node with no history and requests out has load PENALTY + pending (probe once)."""
        m = PeakEwma(10.0, now=0.0)
        if history:
            m.observe(0.1, now=0.0)
        assert m.load(pending, now=0.0) == expected, name

    def test_cost_halves_after_tau_ln2_idle(self) -> None:
        """The half-life of the cost is tau*ln 2 (6.93 s for 10 s)."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.2, now=0.0)
        assert m.load(0, now=10.0 * math.log(2)) == pytest.approx(0.1)

    def test_backward_clock_step_counts_as_no_time(self) -> None:
        """A now earlier than the stamp neither decays nor moves the stamp back."""
        m = PeakEwma(10.0, now=0.0)
        m.observe(0.1, now=10.0)
        m.observe(0.0, now=5.0)  # the clock stepped back 5 s
        assert m.cost == 0.1
        assert m.stamp == 10.0
        assert m.load(0, now=11.0) == pytest.approx(0.1 * math.exp(-0.1))

    def test_creation_time_is_the_first_stamp(self) -> None:
        """The weight of the first blended sample counts from creation, not from zero."""
        m = PeakEwma(10.0, now=100.0)
        assert m.stamp == 100.0

    @pytest.mark.parametrize("decay_s", [0.0, -1.0])
    def test_decay_must_be_positive(self, decay_s: float) -> None:
        """decay_s <= 0 is rejected with the value in the message."""
        with pytest.raises(ValueError, match="decay_s must be > 0"):
            PeakEwma(decay_s, now=0.0)


class EmaTests:
    """Ema: Finagle EmaTest vectors."""

    def test_updates_are_time_invariant(self) -> None:
        """Equal samples keep the average; skipping an update does not change the result."""
        a, b = Ema(1000), Ema(1000)
        assert [a.update(10, 10), a.update(20, 10), a.update(30, 10)] == [10, 10, 10]
        assert [b.update(10, 10), b.update(30, 10)] == [10, 10]
        assert a.update(40, 5) == b.update(40, 5)
        assert a.update(50, 5) > a.update(60, 5)
        assert a.update(60, 5) == pytest.approx(b.update(60, 5), abs=1e-4)

    def test_window_zero_returns_the_sample(self) -> None:
        """With window 0 there is no averaging."""
        e = Ema(0)
        samples = [e.update(1, 10), e.update(2, 20), e.update(3, 30), e.update(4, 0)]
        assert samples == [10, 20, 30, 0]

    def test_reset_forgets_everything(self) -> None:
        """After reset() the last value is 0 and the next sample is taken as is."""
        e = Ema(5)
        assert e.update(1, 3) == 3
        e.reset()
        assert e.last == 0.0
        assert e.update(2, 5) == 5

    def test_weight_is_exp_of_elapsed_over_window(self) -> None:
        """One window after a sample of 1, a sample of 2 gives 2*(1-1/e) + 1/e."""
        e = Ema(5.0)
        e.update(0.0, 1)
        assert e.update(5.0, 2) == pytest.approx(2 - math.exp(-1))

    def test_backward_stamp_counts_as_no_time(self) -> None:
        """An earlier stamp is not an error (Finagle asserts); it weighs the old average fully."""
        e = Ema(5.0)
        e.update(10.0, 1)
        assert e.update(3.0, 7) == 1
