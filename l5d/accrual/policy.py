"""Failure-accrual policies: when does a run of failures mark an endpoint dead, and for how long
(pure).

Finagle's ``FailureAccrualPolicy.scala`` and Linkerd's ``io.l5d.*`` accrual kinds:

=============================  ========================================================
Linkerd kind                   policy
=============================  ========================================================
``io.l5d.consecutiveFailures`` :class:`ConsecutiveFailures` (Linkerd default: 5)
``io.l5d.successRate``         :class:`SuccessRate` (EMA over requests)
``io.l5d.successRateWindowed`` :class:`SuccessRateWindowed` (EMA over time)
``none``                       :class:`NoAccrual`
=============================  ========================================================

Every policy answers three calls from :class:`~l5d.accrual.failure_accrual.FailureAccrual`, each
given the current monotonic time in seconds: ``record_success(now)``,
``mark_dead_on_failure(now)`` (``None``, or how many seconds to stay dead, taken from the backoff
stream) and ``revived(now)`` (a probe succeeded: start over). The backoff is a zero-argument
factory of fresh infinite streams, so a revival restarts it; a finite stream is padded with a
constant 300 s, as Finagle pads ``markDeadFor``. Reactor-thread only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from l5d.retry.budget import WindowedAdder

__all__ = [
    "AccrualPolicy",
    "ConsecutiveFailures",
    "DEFAULT_CONSECUTIVE_FAILURES",
    "DEFAULT_MIN_REQUESTS",
    "EXHAUSTED_BACKOFF_S",
    "NoAccrual",
    "SuccessRate",
    "SuccessRateWindowed",
]

BackoffFactory = Callable[[], Iterator[float]]

#: ``FailureAccrualPolicy.constantBackoff``: the dead time once a finite backoff runs out.
EXHAUSTED_BACKOFF_S = 300.0
#: Linkerd's ``failureAccrual`` default: ``consecutiveFailures(5)``.
DEFAULT_CONSECUTIVE_FAILURES = 5
#: ``FailureAccrualPolicy.DefaultMinimumRequestThreshold``.
DEFAULT_MIN_REQUESTS = 5
_WINDOW_SLICES = 5  # the request counter of successRateWithinDuration


@runtime_checkable
class AccrualPolicy(Protocol):
    """What :class:`~l5d.accrual.failure_accrual.FailureAccrual` needs from a policy."""

    def record_success(self, now: float) -> None:
        """A request succeeded (in any state, even dead)."""

    def mark_dead_on_failure(self, now: float) -> float | None:
        """A request failed: ``None``, or the seconds to mark the endpoint dead for."""

    def revived(self, now: float) -> None:
        """A probe succeeded after a dead period: forget the history, restart the backoff."""


def _padded(backoff: BackoffFactory) -> Iterator[float]:
    return itertools.chain(backoff(), itertools.repeat(EXHAUSTED_BACKOFF_S))


def _next_backoff(policy: Any) -> float:
    """The next duration of ``policy``'s backoff stream, made at its first use: an endpoint
    that is never marked dead holds no generator (about 500 bytes each, issue 14)."""
    stream = policy._next
    if stream is None:
        stream = policy._next = _padded(policy._backoff)
    return next(stream)


def _check_rate(success_rate: float) -> None:
    if not (isinstance(success_rate, (int, float)) and 0.0 <= success_rate <= 1.0):
        raise ValueError(f"success_rate must be [0, 1]: {success_rate!r}")


class ConsecutiveFailures:
    """Mark dead after ``failures`` failures in a row (``consecutiveFailures(N, backoff)``).

    Any success and a revival zero the count. Marking dead does not, so a failed probe re-marks
    the endpoint dead at once with the next, longer, backoff duration.

    :param failures: the run length that trips, ``>= 1``.
    :param backoff: a factory of fresh dead-time streams in seconds.
    :raises ValueError: for ``failures < 1``.
    """

    __slots__ = ("_threshold", "_backoff", "_next", "_failures")

    def __init__(self, failures: int, backoff: BackoffFactory) -> None:
        if not isinstance(failures, int) or isinstance(failures, bool) or failures < 1:
            raise ValueError(f"failures must be an integer >= 1: {failures!r}")
        self._threshold = failures
        self._backoff = backoff
        self._next: Iterator[float] | None = None  # made at the first dead mark
        self._failures = 0

    def record_success(self, now: float) -> None:
        """Zero the run."""
        self._failures = 0

    def mark_dead_on_failure(self, now: float) -> float | None:
        """Count the failure; from the ``failures``-th on, the next backoff duration."""
        self._failures += 1
        if self._failures >= self._threshold:
            return _next_backoff(self)
        return None

    def revived(self, now: float) -> None:
        """Zero the run and restart the backoff."""
        self._failures = 0
        self._next = None

    def __repr__(self) -> str:
        return (f"ConsecutiveFailures(consecutiveFailures={self._failures}, "
                f"consecutiveFailuresThreshold={self._threshold})")


class _Ema:
    """Finagle's ``util.Ema`` over unevenly spaced integer stamps: the first sample sets the
    average; later ones weigh the old average by ``exp(-elapsed / window)``. A stamp earlier than
    the last is treated as no time passing (Finagle asserts instead)."""

    __slots__ = ("_window", "_time", "value")

    def __init__(self, window: int) -> None:
        self._window = window
        self._time: int | None = None
        self.value = 0.0

    def update(self, stamp: int, x: float) -> float:
        if self._time is None:
            self._time = stamp
            self.value = x
            return x
        elapsed = stamp - self._time
        if elapsed < 0:
            elapsed = 0
        else:
            self._time = stamp
        w = math.exp(-elapsed / self._window) if self._window else 0.0
        self.value = x * (1 - w) + self.value * w
        return self.value

    def reset(self) -> None:
        self._time = None
        self.value = 0.0


class SuccessRate:
    """Mark dead when the success rate over about the last ``requests`` requests drops below
    ``success_rate`` (``successRate(sr, N, backoff)``).

    The rate is an EMA with window ``requests`` whose clock is the request ordinal (1, 2, ...
    since creation or revival); a failure marks dead once at least ``requests`` requests were
    seen and the rate is below ``success_rate``. After 100 successes with ``requests=100``, the
    70th failure trips 0.5 (``exp(-n/100) < 0.5`` for ``n > 100 ln 2``).

    :param success_rate: the required rate, ``0..1``.
    :param requests: the window in requests, ``>= 1``.
    :param backoff: a factory of fresh dead-time streams in seconds.
    :raises ValueError: naming the bad value.
    """

    __slots__ = ("_required", "_window", "_backoff", "_next", "_ema", "_requests")

    def __init__(self, success_rate: float, requests: int, backoff: BackoffFactory) -> None:
        _check_rate(success_rate)
        if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
            raise ValueError(f"requests must be an integer >= 1: {requests!r}")
        self._required = success_rate
        self._window = requests
        self._backoff = backoff
        self._next: Iterator[float] | None = None  # made at the first dead mark
        self._ema = _Ema(requests)
        self._requests = 0

    def record_success(self, now: float) -> None:
        """Count a success."""
        self._requests += 1
        self._ema.update(self._requests, 1.0)

    def mark_dead_on_failure(self, now: float) -> float | None:
        """Count a failure; the next backoff duration if the rate is now too low."""
        self._requests += 1
        rate = self._ema.update(self._requests, 0.0)
        if self._requests >= self._window and rate < self._required:
            return _next_backoff(self)
        return None

    def revived(self, now: float) -> None:
        """Forget the rate and the ordinal, restart the backoff."""
        self._next = None
        self._requests = 0
        self._ema.reset()

    @property
    def success_rate(self) -> float:
        """The current EMA of the success rate (0.0 before the first request)."""
        return self._ema.value

    def __repr__(self) -> str:
        return f"SuccessRate(sr={self._ema.value}, requiredSuccessRate={self._required})"


def _ms(t: float) -> int:
    return int(t * 1000.0 + 0.5)


class SuccessRateWindowed:
    """Mark dead when the success rate over about the last ``window_s`` seconds drops below
    ``success_rate`` (``successRateWithinDuration(sr, window, backoff, minRequestThreshold)``).

    The rate is an EMA with window ``window_s`` whose clock is milliseconds since creation or
    revival. A failure marks dead when at least ``window_s`` has passed since then, the rate is
    below ``success_rate``, and at least ``min_requests`` requests (successes and failures) fell
    in the last ``window_s`` (a :class:`~l5d.retry.budget.WindowedAdder` of 5 slices). From a rate
    of 1, a steady run of failures trips after ``-window_s * ln(success_rate)`` seconds (6.69 s
    for Finagle's 0.8 over 30 s).

    :param success_rate: the required rate, ``0..1``.
    :param window_s: the window in seconds (Linkerd's ``window`` is whole seconds), at least 5 ms.
    :param backoff: a factory of fresh dead-time streams in seconds.
    :param min_requests: requests needed inside the window before the policy may trip, ``>= 0``.
    :param now: the creation time in monotonic seconds; the elapsed-time condition counts from
        it. ``None`` counts from the first event instead.
    :raises ValueError: naming the bad value.
    """

    __slots__ = ("_required", "_window_s", "_window_ms", "_backoff", "_next", "_ema",
                 "_min_requests", "_counter", "_start", "_t")

    def __init__(
        self,
        success_rate: float,
        window_s: float,
        backoff: BackoffFactory,
        min_requests: int = DEFAULT_MIN_REQUESTS,
        *,
        now: float | None = None,
    ) -> None:
        _check_rate(success_rate)
        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s)
                and _ms(window_s) >= _WINDOW_SLICES):
            raise ValueError(f"window_s must be a finite number >= 0.005: {window_s!r}")
        if not isinstance(min_requests, int) or isinstance(min_requests, bool) or min_requests < 0:
            raise ValueError(f"min_requests must be an integer >= 0: {min_requests!r}")
        self._required = success_rate
        self._window_s = window_s
        self._window_ms = _ms(window_s)
        self._backoff = backoff
        self._next: Iterator[float] | None = None  # made at the first dead mark
        self._ema = _Ema(self._window_ms)
        self._min_requests = min_requests
        self._counter: WindowedAdder | None = None
        self._start = 0
        self._t = 0.0
        if now is not None:
            self._begin(now)

    def _clock(self) -> float:
        return self._t

    def _begin(self, now: float) -> None:
        self._t = now
        self._start = _ms(now)
        self._counter = WindowedAdder(self._window_s, _WINDOW_SLICES, self._clock)

    def _count(self, now: float) -> int:
        """Count one request and return the EMA stamp (ms since the start)."""
        if self._counter is None:
            self._begin(now)
        self._t = now
        self._counter.add(1)
        return _ms(now) - self._start

    def record_success(self, now: float) -> None:
        """Count a success."""
        self._ema.update(self._count(now), 1.0)

    def mark_dead_on_failure(self, now: float) -> float | None:
        """Count a failure; the next backoff duration if the rate is now too low."""
        stamp = self._count(now)
        rate = self._ema.update(stamp, 0.0)
        if (stamp >= self._window_ms and rate < self._required
                and self._counter.sum() >= self._min_requests):
            return _next_backoff(self)
        return None

    def revived(self, now: float) -> None:
        """Forget the rate and the request count, restart the clock and the backoff."""
        self._next = None
        self._begin(now)
        self._ema.reset()

    @property
    def success_rate(self) -> float:
        """The current EMA of the success rate (0.0 before the first request)."""
        return self._ema.value

    def __repr__(self) -> str:
        return (f"SuccessRateWindowed(sr={self._ema.value}, "
                f"requiredSuccessRate={self._required})")


class NoAccrual:
    """Linkerd's ``none``: never marks an endpoint dead."""

    __slots__ = ()

    def record_success(self, now: float) -> None:
        """Ignored."""

    def mark_dead_on_failure(self, now: float) -> None:
        """Always ``None``."""
        return None

    def revived(self, now: float) -> None:
        """Ignored."""

    def __repr__(self) -> str:
        return "NoAccrual()"
