"""Backoff streams: how long to wait before a retry or how long an endpoint stays dead (pure).

A backoff is an infinite iterator of delays in float seconds, the Python form of Finagle's
persistent ``Backoff`` (``finagle-core/.../Backoff.scala``). A stream is consumed once; code that
needs to restart a stream (failure accrual after a revival) keeps a zero-argument factory such as
``functools.partial(spec.stream, rng)``.

The jittered streams do their arithmetic in integer nanoseconds, as Finagle's ``Duration`` does,
and convert to seconds only when yielding, so their bounds and their "stay at the maximum" rules
are exact. Randomness comes only from the ``rng`` argument.

Kinds, as configured in Linkerd (``BackoffConfig.scala`` and ``FailureAccrualConfig``):

======================  =====================================  ===================================
kind                    keys                                   stream
======================  =====================================  ===================================
``constant``            ``ms`` (default 0)                     :func:`constant`
``jittered``            ``minMs``, ``maxMs`` (both required)   :func:`decorrelated_jitter`
``equalJittered``       (not configurable in Linkerd)          :func:`equal_jitter`, the default
                                                               accrual backoff 5 s .. 300 s
======================  =====================================  ===================================
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BackoffSpec",
    "DEFAULT_ACCRUAL_BACKOFF",
    "DEFAULT_RETRY_BACKOFF",
    "KINDS",
    "constant",
    "decorrelated_jitter",
    "equal_jitter",
]

_NS_PER_S = 1_000_000_000
_MAX_BIT_SHIFT = 62  # Finagle's guard against overflowing a Long multiplier


def _ns(seconds: float) -> int:
    return round(seconds * _NS_PER_S)


def _check_nonnegative(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0: {value!r}")


def _check_range(min_s: float, max_s: float) -> tuple[int, int]:
    """Finagle's ``require(start > 0); require(maximum > 0); require(start <= maximum)``."""
    for name, value in (("min_s", min_s), ("max_s", max_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0: {value!r}")
    start, maximum = _ns(min_s), _ns(max_s)
    if start <= 0:
        raise ValueError(f"min_s must be at least 1 ns: {min_s!r}")
    if start > maximum:
        raise ValueError(f"min_s must be <= max_s: {min_s!r} > {max_s!r}")
    return start, maximum


def constant(delay_s: float) -> Iterator[float]:
    """``delay_s`` forever (Finagle ``Backoff.const``).

    :param delay_s: the delay in seconds, ``>= 0``.
    :raises ValueError: for a negative or non-finite delay.
    """
    _check_nonnegative("delay_s", delay_s)
    return itertools.repeat(float(delay_s))


def decorrelated_jitter(min_s: float, max_s: float, rng: random.Random) -> Iterator[float]:
    """Finagle's decorrelated jitter, Linkerd's ``jittered`` backoff.

    ``d0 = min``; ``d(k+1) = d(k) + U[0, min(3*d(k), max) - d(k))`` in whole nanoseconds. The
    lower bound of each step is the previous value, so the stream is non-decreasing and always
    within ``[min_s, max_s]`` (unlike AWS's ``random(base, 3*prev)``). Equal bounds give a
    constant stream.

    :param min_s: the first delay, ``0 < min_s <= max_s``.
    :param max_s: the upper bound.
    :param rng: the source of randomness.
    :raises ValueError: when the bounds are not ``0 < min_s <= max_s``.
    """
    start, maximum = _check_range(min_s, max_s)
    if start == maximum:
        return itertools.repeat(start / _NS_PER_S)
    return _decorrelated(start, maximum, rng)


def _decorrelated(current: int, maximum: int, rng: random.Random) -> Iterator[float]:
    randrange = rng.randrange
    while True:
        yield current / _NS_PER_S
        if current == maximum:
            yield from itertools.repeat(maximum / _NS_PER_S)
            return
        # `start >= maximum / 3` with Duration's integer division, to avoid overflow in Finagle.
        upper = maximum if current >= maximum // 3 else current * 3
        spread = abs(upper - current)
        if spread:
            current += randrange(spread)


def equal_jitter(min_s: float, max_s: float, rng: random.Random) -> Iterator[float]:
    """Finagle's equal jitter (``Backoff.equalJittered``), the default failure-accrual backoff.

    ``d0 = min``; for attempt ``k >= 1``: ``half = min(min * 2**(k-1), max)`` and
    ``d(k) = half + U[0, half)``; once ``half == max`` or ``half + U >= max`` the stream is
    ``max`` forever. With 5 s .. 300 s: 5, [5,10), [10,20), [20,40), [40,80), [80,160),
    [160,300) or 300, then 300.

    :param min_s: the first delay and the unit of the doubling, ``0 < min_s <= max_s``.
    :param max_s: the cap.
    :param rng: the source of randomness.
    :raises ValueError: when the bounds are not ``0 < min_s <= max_s``.
    """
    start, maximum = _check_range(min_s, max_s)
    if start == maximum:
        return itertools.repeat(start / _NS_PER_S)
    return _equal(start, maximum, rng)


def _equal(start: int, maximum: int, rng: random.Random) -> Iterator[float]:
    randrange = rng.randrange
    yield start / _NS_PER_S
    attempt = 1
    while True:
        shift = 1 << min(_MAX_BIT_SHIFT, attempt - 1)
        half = maximum if start >= maximum // shift else start * shift
        jitter = randrange(half)
        if half == maximum or half >= maximum - jitter:
            yield from itertools.repeat(maximum / _NS_PER_S)
            return
        yield (half + jitter) / _NS_PER_S
        attempt += 1


KINDS = ("constant", "jittered", "equalJittered")


@dataclass(frozen=True, slots=True)
class BackoffSpec:
    """A configured backoff: the ``kind`` and its bounds in seconds, validated on construction.

    :param kind: ``"constant"``, ``"jittered"`` (decorrelated) or ``"equalJittered"``.
    :param delay_s: the delay of ``constant``, ``>= 0``.
    :param min_s: the lower bound of the jittered kinds, ``0 < min_s <= max_s``.
    :param max_s: the upper bound of the jittered kinds.
    """

    kind: str
    delay_s: float = 0.0
    min_s: float = 0.0
    max_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind == "constant":
            _check_nonnegative("delay_s", self.delay_s)
        elif self.kind in ("jittered", "equalJittered"):
            _check_range(self.min_s, self.max_s)
        else:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}: {self.kind!r}")

    def stream(self, rng: random.Random) -> Iterator[float]:
        """A fresh infinite stream of delays in seconds.

        :param rng: the source of randomness (unused by ``constant``).
        """
        if self.kind == "constant":
            return constant(self.delay_s)
        if self.kind == "jittered":
            return decorrelated_jitter(self.min_s, self.max_s, rng)
        return equal_jitter(self.min_s, self.max_s, rng)


#: ``service.retries.backoff`` omitted: retry at once.
DEFAULT_RETRY_BACKOFF = BackoffSpec("constant", delay_s=0.0)
#: ``failureAccrual.backoff`` omitted: ``Backoff.equalJittered(5.seconds, 300.seconds)``.
DEFAULT_ACCRUAL_BACKOFF = BackoffSpec("equalJittered", min_s=5.0, max_s=300.0)
