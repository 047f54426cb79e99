"""l5d.accrual.failure_accrual: the Alive/Dead/ProbeOpen/ProbeClosed machine (spec 3.2, 3.5).

Scenarios from finagle's FailureAccrualFactoryTest on a twisted Clock, and the transition table
of spec 3.2 as a transcript against a scripted policy.
"""

from __future__ import annotations

import itertools
import random
from collections import deque

import pytest
from twisted.internet.task import Clock

from l5d.accrual import (
    BUSY,
    OPEN,
    AccrualPolicy,
    AccrualStats,
    ConsecutiveFailures,
    FailureAccrual,
    NoAccrual,
    State,
)
from l5d.retry.backoff import constant, equal_jitter

ALIVE, DEAD, PROBE_OPEN, PROBE_CLOSED = (
    State.ALIVE, State.DEAD, State.PROBE_OPEN, State.PROBE_CLOSED)


def jittered(seed: int, n: int | None = None):
    """Finagle's ``EqualJittered(5 s, 5 s, 60 s, 1, Rng(seed))``, restarting from the seed."""
    def factory():
        stream = equal_jitter(5.0, 60.0, random.Random(seed))
        return stream if n is None else itertools.islice(stream, n)
    return factory


class ScriptedPolicy:
    """A policy that records its calls and answers mark_dead_on_failure from a script."""

    def __init__(self, *answers: float | None) -> None:
        self.answers = deque(answers)
        self.calls: list[tuple[str, float]] = []

    def record_success(self, now: float) -> None:
        self.calls.append(("record_success", now))

    def mark_dead_on_failure(self, now: float) -> float | None:
        self.calls.append(("mark_dead_on_failure", now))
        return self.answers.popleft() if self.answers else None

    def revived(self, now: float) -> None:
        self.calls.append(("revived", now))


class CountingClock(Clock):
    """A Clock that counts how often it is read."""

    reads = 0

    def seconds(self) -> float:
        self.reads += 1
        return super().seconds()


def accrual(policy, clock: Clock | None = None) -> tuple[FailureAccrual, Clock]:
    clock = clock or Clock()
    return FailureAccrual(policy, clock.seconds), clock


def ms(seconds: float) -> int:
    """Finagle's ``duration.inMilliseconds``: whole milliseconds, truncated."""
    return round(seconds * 1e9) // 1_000_000


def counters(fa: FailureAccrual) -> tuple[int, int, int, int]:
    return fa.removals, fa.revivals, fa.probes, fa.removed_for_ms


def drive_to(state: State, policy: ScriptedPolicy) -> tuple[FailureAccrual, Clock]:
    """An accrual in ``state``, reached through real events; the policy's log is cleared."""
    fa, clock = accrual(policy)
    if state is not ALIVE:
        policy.answers.appendleft(10.0)
        fa.failed()
        if state is not DEAD:
            clock.advance(10.0)
            if state is PROBE_CLOSED:
                fa.dispatched()
    assert fa.state is state
    policy.calls.clear()
    return fa, clock


# (start, event, policy answer, end, (removals, revivals, probes, removed_for_ms) added,
#  policy calls): spec 3.2 cell by cell.
TRANSITIONS = [
    (ALIVE, "dispatched", None, ALIVE, (0, 0, 0, 0), []),
    (DEAD, "dispatched", None, DEAD, (0, 0, 0, 0), []),
    (PROBE_OPEN, "dispatched", None, PROBE_CLOSED, (0, 0, 1, 0), []),
    (PROBE_CLOSED, "dispatched", None, PROBE_CLOSED, (0, 0, 0, 0), []),
    (ALIVE, "succeeded", None, ALIVE, (0, 0, 0, 0), ["record_success"]),
    (DEAD, "succeeded", None, DEAD, (0, 0, 0, 0), ["record_success"]),
    (PROBE_OPEN, "succeeded", None, PROBE_OPEN, (0, 0, 0, 0), ["record_success"]),
    (PROBE_CLOSED, "succeeded", None, ALIVE, (0, 1, 0, 0), ["revived", "record_success"]),
    (ALIVE, "failed", None, ALIVE, (0, 0, 0, 0), ["mark_dead_on_failure"]),
    (ALIVE, "failed", 2.5, DEAD, (1, 0, 0, 2500), ["mark_dead_on_failure"]),
    (DEAD, "failed", 2.5, DEAD, (0, 0, 0, 0), []),
    (PROBE_OPEN, "failed", 2.5, PROBE_OPEN, (0, 0, 0, 0), []),
    (PROBE_CLOSED, "failed", None, PROBE_OPEN, (0, 0, 0, 0), ["mark_dead_on_failure"]),
    (PROBE_CLOSED, "failed", 2.5, DEAD, (0, 0, 0, 2500), ["mark_dead_on_failure"]),
    (ALIVE, "ignored", None, ALIVE, (0, 0, 0, 0), []),
    (DEAD, "ignored", None, DEAD, (0, 0, 0, 0), []),
    (PROBE_OPEN, "ignored", None, PROBE_OPEN, (0, 0, 0, 0), []),
    (PROBE_CLOSED, "ignored", None, PROBE_OPEN, (0, 0, 0, 0), []),
    (ALIVE, "acquire_failed", None, ALIVE, (0, 0, 0, 0), ["mark_dead_on_failure"]),
    (ALIVE, "acquire_failed", 2.5, DEAD, (1, 0, 0, 2500), ["mark_dead_on_failure"]),
    (DEAD, "acquire_failed", 2.5, DEAD, (0, 0, 0, 0), []),
    (PROBE_OPEN, "acquire_failed", None, PROBE_OPEN, (0, 0, 1, 0), ["mark_dead_on_failure"]),
    (PROBE_OPEN, "acquire_failed", 2.5, DEAD, (0, 0, 1, 2500), ["mark_dead_on_failure"]),
    (PROBE_CLOSED, "acquire_failed", None, PROBE_OPEN, (0, 0, 0, 0), ["mark_dead_on_failure"]),
    (PROBE_CLOSED, "acquire_failed", 2.5, DEAD, (0, 0, 0, 2500), ["mark_dead_on_failure"]),
]

STATUS = {ALIVE: OPEN, DEAD: BUSY, PROBE_OPEN: OPEN, PROBE_CLOSED: BUSY}


class TransitionTableTests:
    """Each (state, event) cell of spec 3.2."""

    @pytest.mark.parametrize(("start", "event", "answer", "end", "added", "calls"), TRANSITIONS,
                             ids=[f"{r[0].value}-{r[1]}-{r[2]}" for r in TRANSITIONS])
    def test_transition(self, start, event, answer, end, added, calls) -> None:
        """The end state, its status, the counters added and the policy calls made."""
        policy = ScriptedPolicy()
        fa, clock = drive_to(start, policy)
        policy.answers.append(answer)
        before = counters(fa)
        getattr(fa, event)()
        assert fa.state is end
        assert fa.status() == STATUS[end]
        assert tuple(a - b for a, b in zip(counters(fa), before)) == added
        assert [name for name, _ in policy.calls] == calls
        assert all(t == clock.seconds() for _, t in policy.calls)

    @pytest.mark.parametrize("state", list(State))
    def test_status_of_each_state(self, state: State) -> None:
        """Alive and ProbeOpen are OPEN; Dead and ProbeClosed are BUSY (OPEN=0, BUSY=1)."""
        fa, _ = drive_to(state, ScriptedPolicy())
        assert fa.status() == STATUS[state]
        assert (OPEN, BUSY) == (0, 1)


class DeadTimeTests:
    """Dead turns ProbeOpen when its time is up, with no timer, just before/after the boundary."""

    def test_busy_until_exactly_the_dead_time(self) -> None:
        """Marked dead for 5 s at t=0: BUSY at 4.999 s, OPEN at 5 s."""
        fa, clock = accrual(ConsecutiveFailures(1, lambda: constant(5.0)))
        fa.failed()
        assert fa.status() == BUSY and fa.revive_at == 5.0
        clock.advance(4.999)
        assert fa.status() == BUSY and fa.state is DEAD
        clock.advance(0.001)
        assert fa.status() == OPEN and fa.state is PROBE_OPEN and fa.revive_at is None

    def test_status_takes_an_explicit_time(self) -> None:
        """status(now) judges a Dead endpoint by the time given, without reading the clock."""
        clock = CountingClock()
        fa, _ = accrual(ConsecutiveFailures(1, lambda: constant(5.0)), clock)
        fa.failed()
        reads = clock.reads
        assert fa.status(4.0) == BUSY
        assert fa.status(5.0) == OPEN
        assert clock.reads == reads

    def test_alive_status_never_reads_the_clock(self) -> None:
        """The hot path: an Alive endpoint answers OPEN without a clock read."""
        clock = CountingClock()
        fa, _ = accrual(ConsecutiveFailures(5, lambda: constant(5.0)), clock)
        for _ in range(10):
            assert fa.status() == OPEN
            fa.dispatched()
        assert clock.reads == 0

    def test_events_see_the_elapsed_dead_time(self) -> None:
        """A dispatch after the dead time is the probe even if nobody read the status."""
        fa, clock = accrual(ConsecutiveFailures(1, lambda: constant(5.0)))
        fa.failed()
        clock.advance(6)
        fa.dispatched()
        assert fa.state is PROBE_CLOSED and fa.probes == 1

    def test_success_after_the_dead_time_without_a_probe_keeps_probing(self) -> None:
        """A request sent while Dead that succeeds after the dead time is no probe."""
        policy = ScriptedPolicy(5.0)
        fa, clock = accrual(policy)
        fa.failed()
        fa.dispatched()  # sent while Dead (fail open)
        clock.advance(6)
        fa.succeeded()
        assert fa.state is PROBE_OPEN and fa.revivals == 0


class FinagleScenarioTests:
    """finagle FailureAccrualFactoryTest, with consecutiveFailures and equal-jitter backoffs."""

    def test_a_failing_endpoint_becomes_unavailable(self) -> None:
        """Three failures with consecutive(3): removals 1, status BUSY."""
        fa, _ = accrual(ConsecutiveFailures(3, jittered(6666)))
        for _ in range(3):
            assert fa.status() == OPEN
            fa.dispatched()
            fa.failed()
        assert fa.removals == 1 and fa.status() == BUSY

    def test_ignorable_results_never_trip(self) -> None:
        """consecutive(1): ignorable results are not failures."""
        fa, _ = accrual(ConsecutiveFailures(1, lambda: constant(2.0)))
        for _ in range(10):
            fa.dispatched()
            fa.ignored()
        assert fa.removals == 0 and fa.status() == OPEN

    def test_ignorable_is_not_a_success(self) -> None:
        """consecutive(3): fail, fail, ignorable, fail trips (the run was not reset)."""
        fa, _ = accrual(ConsecutiveFailures(3, lambda: constant(2.0)))
        fa.failed()
        fa.failed()
        fa.ignored()
        assert fa.removals == 0 and fa.status() == OPEN
        fa.failed()
        assert fa.removals == 1 and fa.status() == BUSY

    def test_ignorable_probe_keeps_the_probe_open(self) -> None:
        """consecutive(1), 2 s: trip, +10 s OPEN; an ignorable probe leaves it ProbeOpen."""
        fa, clock = accrual(ConsecutiveFailures(1, lambda: constant(2.0)))
        fa.dispatched()
        fa.failed()
        assert fa.removals == 1 and fa.status() == BUSY
        clock.advance(10)
        assert fa.status() == OPEN
        fa.dispatched()
        fa.ignored()
        assert (fa.revivals, fa.probes, fa.removals) == (0, 1, 1)
        assert fa.status() == OPEN and fa.state is PROBE_OPEN

    def test_failed_probe_marks_dead_again_with_the_next_backoff(self) -> None:
        """consecutive(3): after the first dead time one failed probe re-marks dead, longer."""
        fa, clock = accrual(ConsecutiveFailures(3, jittered(7777)))
        durations = list(itertools.islice(jittered(7777)(), 2))
        for _ in range(3):
            fa.failed()
        clock.advance(10)
        assert (fa.removals, fa.revivals) == (1, 0) and fa.status() == OPEN
        fa.dispatched()
        assert fa.status() == BUSY  # ProbeClosed: no second probe
        fa.failed()
        assert (fa.probes, fa.removals) == (1, 1) and fa.status() == BUSY
        assert fa.revive_at == clock.seconds() + durations[1]
        assert fa.removed_for_ms == ms(durations[0]) + ms(durations[1])

    @pytest.mark.parametrize("seed", [8888, 1, 2])
    def test_revived_on_the_backoff_schedule(self, seed: int) -> None:
        """Each dead period lasts exactly the next backoff; then 300 s once it runs out."""
        fa, clock = accrual(ConsecutiveFailures(3, jittered(seed, 6)))
        schedule = list(jittered(seed, 6)()) + [300.0, 300.0]
        for _ in range(3):
            fa.failed()
        for i, duration in enumerate(schedule):
            assert fa.status() == BUSY and fa.removals == 1
            clock.advance(duration - 1)
            assert fa.status() == BUSY
            clock.advance(1)
            assert fa.status() == OPEN and fa.revivals == 0
            fa.dispatched()
            fa.failed()
            assert fa.probes == i + 1
        # the last failed probe marked it dead once more, for 300 s
        assert fa.removed_for_ms == sum(ms(d) for d in schedule) + 300_000

    def test_successful_probe_revives_and_restarts_the_policy(self) -> None:
        """Probe success: Alive, revivals 1, the run and the backoff start over."""
        fa, clock = accrual(ConsecutiveFailures(2, jittered(42)))
        first, second = itertools.islice(jittered(42)(), 2)
        fa.failed()
        fa.failed()
        clock.advance(first)
        fa.dispatched()
        fa.succeeded()
        assert fa.state is ALIVE and fa.status() == OPEN
        assert fa.stats == AccrualStats(1, 1, 1, ms(first), "Alive")
        fa.failed()
        assert fa.status() == OPEN  # the run was reset by the revival
        fa.failed()
        assert fa.revive_at == clock.seconds() + first  # the backoff restarted
        assert fa.stats == AccrualStats(2, 1, 1, 2 * ms(first), "Dead")
        assert second != first

    def test_first_probe_result_decides(self) -> None:
        """Two requests in flight in ProbeClosed: the first success revives; a later failure
        counts as an ordinary failure in Alive."""
        fa, clock = accrual(ConsecutiveFailures(2, lambda: constant(5.0)))
        fa.failed()
        fa.failed()
        clock.advance(5)
        fa.dispatched()
        fa.dispatched()  # a second request routed here anyway (fail open)
        assert fa.probes == 1
        fa.succeeded()
        fa.failed()
        assert fa.state is ALIVE and fa.revivals == 1 and fa.removals == 1

    def test_success_while_dead_lets_a_failed_probe_reopen(self) -> None:
        """recordSuccess runs while Dead, zeroing the run: the failed probe just reopens."""
        fa, clock = accrual(ConsecutiveFailures(3, lambda: constant(5.0)))
        for _ in range(3):
            fa.failed()
        fa.succeeded()  # a request sent while Dead succeeded
        clock.advance(5)
        fa.dispatched()
        fa.failed()
        assert fa.state is PROBE_OPEN and fa.status() == OPEN and fa.removals == 1

    def test_connect_failures_trip_and_spend_the_probe(self) -> None:
        """acquire_failed counts as a failure and, when probing, as the probe."""
        fa, clock = accrual(ConsecutiveFailures(5, lambda: constant(1.0)))
        for _ in range(5):
            fa.acquire_failed()
        assert fa.status() == BUSY and fa.removals == 1
        fa.acquire_failed()  # ignored while Dead
        clock.advance(1)
        fa.acquire_failed()
        assert fa.status() == BUSY and fa.probes == 1 and fa.removed_for_ms == 2000

    def test_no_accrual_never_marks_dead(self) -> None:
        """kind none: the module is installed but stays Alive with zero stats."""
        fa, _ = accrual(NoAccrual())
        for _ in range(100):
            fa.dispatched()
            fa.failed()
            fa.acquire_failed()
        assert fa.stats == AccrualStats(0, 0, 0, 0, "Alive") and fa.status() == OPEN

    @pytest.mark.parametrize(("duration", "ms"), [(2.5, 2500), (0.0015, 1), (300.0, 300_000),
                                                  (0.0009999, 0)])
    def test_removed_for_ms_truncates_to_whole_milliseconds(self, duration, ms) -> None:
        """duration.inMilliseconds."""
        fa, _ = accrual(ScriptedPolicy(duration))
        fa.failed()
        assert fa.removed_for_ms == ms

    def test_scripted_policy_is_an_accrual_policy(self) -> None:
        """The fake stands in for the protocol it claims to implement."""
        assert isinstance(ScriptedPolicy(), AccrualPolicy)
        assert "state=Alive" in repr(accrual(ScriptedPolicy())[0])
