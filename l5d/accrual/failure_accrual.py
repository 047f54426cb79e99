"""Failure accrual for one endpoint: a request-driven circuit breaker feeding node status (pure).

Finagle's ``FailureAccrualFactory`` as a state machine with no timers. States and the status
each reports to the balancer:

===============  =========  ==================================================================
state            status     meaning
===============  =========  ==================================================================
``Alive``        OPEN       healthy; failures go to the policy
``Dead``         BUSY       marked dead until ``revive_at``; results are ignored (successes
                            still reach ``policy.record_success``)
``ProbeOpen``    OPEN       the dead time is over; the balancer may pick it for one probe
``ProbeClosed``  BUSY       a probe is in flight; the first result to come back decides
===============  =========  ==================================================================

Transitions (``FailureAccrualFactory.scala``; ``d`` = ``policy.mark_dead_on_failure()``):

* dispatched: ProbeOpen -> ProbeClosed, ``probes`` + 1.
* succeeded: ProbeClosed -> Alive, ``revivals`` + 1, ``policy.revived()``; then, in every state,
  ``policy.record_success()``.
* failed: in Alive, a ``d`` marks dead (``removals`` + 1); in ProbeClosed, a ``d`` marks dead
  again (no ``removals``) and ``None`` returns to ProbeOpen; ignored in Dead and ProbeOpen.
* ignored (``Ignorable``): ProbeClosed -> ProbeOpen.
* acquire_failed (no connection): ProbeOpen -> ProbeClosed (``probes`` + 1), then as failed.
* time reaches ``revive_at``: Dead -> ProbeOpen. Instead of a timer this is applied lazily,
  whenever the status is read or an event arrives, so it costs nothing while nobody looks.

Marking dead for ``d`` seconds adds ``d`` in whole milliseconds to ``removed_for_ms``. The module
fails open: it never refuses a request; keeping traffic off a Busy node is the balancer's job.
Reactor-thread only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from l5d.accrual.policy import AccrualPolicy

__all__ = ["AccrualStats", "BUSY", "FailureAccrual", "OPEN", "State"]

#: Node status values, the same integers as ``l5d.lb``'s (OPEN=0, BUSY=1, CLOSED=2).
OPEN = 0
BUSY = 1


class State(enum.Enum):
    """The four states of ``FailureAccrualFactory``; the value is Finagle's name."""

    ALIVE = "Alive"
    DEAD = "Dead"
    PROBE_OPEN = "ProbeOpen"
    PROBE_CLOSED = "ProbeClosed"


_ALIVE = State.ALIVE
_DEAD = State.DEAD
_PROBE_OPEN = State.PROBE_OPEN
_PROBE_CLOSED = State.PROBE_CLOSED


@dataclass(frozen=True, slots=True)
class AccrualStats:
    """A snapshot of the ``failure_accrual/`` counters and the current state's name.

    :param removals: Alive endpoints marked dead.
    :param revivals: probes that succeeded.
    :param probes: probe requests sent.
    :param removed_for_ms: the dead time handed out, in milliseconds.
    :param state: ``Alive``, ``Dead``, ``ProbeOpen`` or ``ProbeClosed``.
    """

    removals: int
    revivals: int
    probes: int
    removed_for_ms: int
    state: str


class FailureAccrual:
    """The failure-accrual state of one endpoint.

    :param policy: decides when failures mark the endpoint dead and for how long.
    :param now: monotonic seconds.
    """

    __slots__ = ("_policy", "_now", "_state", "_revive_at",
                 "removals", "revivals", "probes", "removed_for_ms")

    def __init__(self, policy: AccrualPolicy, now: Callable[[], float]) -> None:
        self._policy = policy
        self._now = now
        self._state = _ALIVE
        self._revive_at = 0.0
        #: Running totals of the ``failure_accrual/`` counters.
        self.removals = 0
        self.revivals = 0
        self.probes = 0
        self.removed_for_ms = 0

    def _wake(self, t: float) -> None:
        """The revive timer: Dead turns ProbeOpen once ``t`` reaches ``revive_at``."""
        if self._state is _DEAD and t >= self._revive_at:
            self._state = _PROBE_OPEN

    def status(self, now: float | None = None) -> int:
        """:data:`OPEN` in Alive and ProbeOpen, :data:`BUSY` in Dead and ProbeClosed.

        :param now: the time to judge a Dead endpoint by; ``None`` reads the clock (only a Dead
            endpoint ever does).
        """
        state = self._state
        if state is _ALIVE or state is _PROBE_OPEN:
            return OPEN
        if state is _DEAD and (self._now() if now is None else now) >= self._revive_at:
            self._state = _PROBE_OPEN
            return OPEN
        return BUSY

    def dispatched(self) -> None:
        """A request was sent on this endpoint; in ProbeOpen it is the probe."""
        if self._state is _DEAD:
            self._wake(self._now())
        if self._state is _PROBE_OPEN:
            self._state = _PROBE_CLOSED
            self.probes += 1

    def succeeded(self) -> None:
        """A request on this endpoint classified as a success."""
        t = self._now()
        if self._state is _PROBE_CLOSED:  # (Dead and ProbeOpen just record the success)
            self.revivals += 1
            self._policy.revived(t)
            self._state = _ALIVE
        self._policy.record_success(t)

    def failed(self) -> None:
        """A request on this endpoint classified as a failure (retryable or not)."""
        state = self._state
        if state is _DEAD or state is _PROBE_OPEN:
            return  # the timer may be due, but Dead and ProbeOpen both ignore failures
        t = self._now()
        duration = self._policy.mark_dead_on_failure(t)
        if duration is not None:
            self._mark_dead(duration, t)
        elif state is _PROBE_CLOSED:
            # The probe failed but the policy does not say dead: probe again.
            self._state = _PROBE_OPEN

    def ignored(self) -> None:
        """A result that is neither success nor failure: an unanswered probe may be re-sent."""
        if self._state is _PROBE_CLOSED:
            self._state = _PROBE_OPEN

    def acquire_failed(self) -> None:
        """No connection could be made to this endpoint: a probe is spent, then a failure."""
        if self._state is _DEAD:
            self._wake(self._now())
        if self._state is _PROBE_OPEN:
            self._state = _PROBE_CLOSED
            self.probes += 1
        self.failed()

    def _mark_dead(self, duration_s: float, t: float) -> None:
        if self._state is _ALIVE:
            self.removals += 1  # not for a failed probe, for symmetry with revivals
        self._state = _DEAD
        self._revive_at = t + duration_s
        self.removed_for_ms += round(duration_s * 1e9) // 1_000_000

    @property
    def state(self) -> State:
        """The current state (a Dead endpoint whose time is up reads as ProbeOpen)."""
        if self._state is _DEAD:
            self._wake(self._now())
        return self._state

    @property
    def revive_at(self) -> float | None:
        """When a Dead endpoint turns ProbeOpen (monotonic seconds), else ``None``."""
        return self._revive_at if self.state is _DEAD else None

    @property
    def stats(self) -> AccrualStats:
        """The counters and the state's name, as a frozen snapshot."""
        return AccrualStats(self.removals, self.revivals, self.probes, self.removed_for_ms,
                            self.state.value)

    def __repr__(self) -> str:
        return f"FailureAccrual({self._policy!r}, state={self._state.value})"
