"""Retry budgets: a windowed token bucket that lets a fraction of requests be retried (pure).

Built from Finagle's ``RetryBudget.scala`` over twitter/util's ``TokenBucket.newLeakyBucket`` and
``WindowedAdder``, with the same integer arithmetic, so balances match Finagle's exactly.

The trick (``RetryBudget.scala``): token counts are integers, so a fractional
``percent_can_retry`` is scaled by 1000. A deposit puts 1000 tokens in, a retry costs
``int(1000 / percent_can_retry)`` tokens (5000 for 20 %), and ``min_retries_per_s * ttl`` retries'
worth of tokens is a constant reserve on top of the bucket. Deposits and withdrawals are both
entries of a :class:`WindowedAdder` over ``ttl`` in 10 slices, so they expire after about ``ttl``:
an idle budget returns to its reserve. In steady state a budget allows
``min_retries_per_s + percent_can_retry * deposits_per_s`` retries per second (210/s at
1000 requests/s with the defaults).

Time is quantised to whole milliseconds (Finagle's ``nowMillis``), rounding to the nearest, so a
fake clock set to decimal seconds lands on the intended millisecond. Clock readings are expected to
be non-negative monotonic seconds. Reactor-thread only: nothing here is thread safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "DEFAULT_MIN_RETRIES_PER_S",
    "DEFAULT_PERCENT_CAN_RETRY",
    "DEFAULT_TTL_S",
    "EMPTY",
    "EmptyBudget",
    "LeakyBucket",
    "RetryBudget",
    "WindowedAdder",
    "retry_budget",
]

DEFAULT_TTL_S = 10.0
DEFAULT_MIN_RETRIES_PER_S = 10
DEFAULT_PERCENT_CAN_RETRY = 0.2

_SCALE = 1000.0  # TokenRetryBudget.ScaleFactor
_INT_MAX = 2**31 - 1  # Scala's Double.toInt saturates here
_SLICES = 10  # TokenBucket.newLeakyBucket's WindowedAdder slices


def _ms(t: float) -> int:
    return int(t * 1000.0 + 0.5)


class WindowedAdder:
    """A sum over a sliding time window, twitter/util's ``WindowedAdder`` implemented literally.

    The range is cut into ``slices`` windows of ``range // slices`` ms: ``slices - 1`` closed
    slots in a ring plus the open ``writer``. Slots rotate only when the adder is touched
    (``add``/``sum``) and at least one window has passed since the last rotation, and the
    rotation restarts the window at that access time. An entry therefore lives about ``range``,
    longer with sparse access (range 3 s touched once a second: an entry expires at 4 s).

    :param range_s: the span of time kept, in seconds.
    :param slices: the number of windows, ``> 1``.
    :param now: monotonic seconds.
    :raises ValueError: for fewer than 2 slices or a window shorter than 1 ms.
    """

    __slots__ = ("_window", "_n", "_now", "_buf", "_total", "_writer", "_i", "_old")

    def __init__(self, range_s: float, slices: int, now: Callable[[], float]) -> None:
        if not isinstance(slices, int) or isinstance(slices, bool) or slices < 2:
            raise ValueError(f"slices must be an integer > 1: {slices!r}")
        if not (isinstance(range_s, (int, float)) and math.isfinite(range_s)):
            raise ValueError(f"range_s must be a finite number: {range_s!r}")
        window = _ms(range_s) // slices
        if window < 1:
            raise ValueError(f"range_s must give each of the {slices} slices >= 1 ms: {range_s!r}")
        self._window = window
        self._n = slices - 1
        self._now = now
        self._buf = [0] * self._n
        self._total = 0  # == sum(self._buf), kept so that sum() does not walk the ring
        self._writer = 0
        self._i = 0
        self._old = _ms(now())

    def _expire(self, t: int) -> None:
        """Close the open slice into the ring and zero the slots of any skipped windows."""
        buf, n, i = self._buf, self._n, self._i
        self._total += self._writer - buf[i]
        buf[i] = self._writer
        self._writer = 0
        i = (i + 1) % n
        nskip = min((t - self._old) // self._window - 1, n)
        if nskip > 0:
            r = min(nskip, n - i)
            for j in range(i, i + r):
                self._total -= buf[j]
                buf[j] = 0
            for j in range(nskip - r):
                self._total -= buf[j]
                buf[j] = 0
            i = (i + nskip) % n
        self._i = i
        self._old = t

    def _add_at(self, x: int, t: int) -> None:
        if t - self._old >= self._window:
            self._expire(t)
        self._writer += x

    def _sum_at(self, t: int) -> int:
        if t - self._old >= self._window:
            self._expire(t)
        return self._writer + self._total

    def add(self, x: int) -> None:
        """Add ``x`` (may be negative) to the current slice.

        :param x: the amount.
        """
        self._add_at(x, _ms(self._now()))

    def sum(self) -> int:
        """The sum of the entries still inside the window."""
        return self._sum_at(_ms(self._now()))

    def reset(self) -> None:
        """Forget every entry and restart the current window now."""
        self._buf = [0] * self._n
        self._total = 0
        self._writer = 0
        self._old = _ms(self._now())


class LeakyBucket:
    """A token bucket whose tokens expire after about ``ttl_s`` (util ``newLeakyBucket``).

    ``count = window sum + reserve``; ``put(n)`` adds ``n``; ``try_get(n)`` takes ``n`` when
    ``count >= n``. A withdrawal is a negative entry that expires like a deposit, so a drained
    reserve refills itself after about ``ttl_s``.

    :param ttl_s: how long a token lives, in seconds.
    :param reserve: tokens always present on top of the window.
    :param now: monotonic seconds.
    """

    __slots__ = ("_adder", "_reserve", "_now")

    def __init__(self, ttl_s: float, reserve: int, now: Callable[[], float]) -> None:
        self._adder = WindowedAdder(ttl_s, _SLICES, now)
        self._reserve = reserve
        self._now = now

    def put(self, n: int) -> None:
        """Put ``n >= 0`` tokens in."""
        if n < 0:
            raise ValueError(f"n must be >= 0: {n!r}")
        self._adder._add_at(n, _ms(self._now()))

    def try_get(self, n: int) -> bool:
        """Take ``n >= 0`` tokens if the bucket holds that many; ``True`` when taken."""
        if n < 0:
            raise ValueError(f"n must be >= 0: {n!r}")
        adder = self._adder
        t = _ms(self._now())
        if adder._sum_at(t) + self._reserve >= n:
            adder._add_at(-n, t)
            return True
        return False

    @property
    def count(self) -> int:
        """Tokens in the bucket now (may be negative after deposits expired before withdrawals)."""
        return self._adder.sum() + self._reserve


def _check(ttl_s: float, min_retries_per_s: int, percent_can_retry: float) -> int:
    """Finagle's ``require``s; returns ttl in whole seconds (``Duration.inSeconds`` truncates)."""
    if not (isinstance(ttl_s, (int, float)) and math.isfinite(ttl_s) and 1 <= int(ttl_s) <= 60):
        raise ValueError(f"ttl_s must be [1 second, 60 seconds]: {ttl_s!r}")
    if not isinstance(min_retries_per_s, int) or isinstance(min_retries_per_s, bool):
        raise ValueError(f"min_retries_per_s must be an integer: {min_retries_per_s!r}")
    if min_retries_per_s < 0:
        raise ValueError(f"min_retries_per_s must be non-negative: {min_retries_per_s!r}")
    if not (isinstance(percent_can_retry, (int, float)) and percent_can_retry >= 0.0):
        raise ValueError(f"percent_can_retry must be non-negative: {percent_can_retry!r}")
    if percent_can_retry > _SCALE:
        raise ValueError(f"percent_can_retry must not be greater than 1000: {percent_can_retry!r}")
    return int(ttl_s)


class RetryBudget:
    """Finagle's ``TokenRetryBudget``: ``deposit()`` per request, ``try_withdraw()`` per retry.

    Defaults are Linkerd's (``ttlSecs`` 10, ``minRetriesPerSec`` 10, ``percentCanRetry`` 0.2): an
    initial balance of 100 retries, plus one retry per 5 deposits. Prefer :func:`retry_budget`,
    which returns :data:`EMPTY` when nothing can ever be withdrawn. Reactor-thread only.

    :param ttl_s: how long deposits last, 1 to 60 whole seconds (fractions are truncated for the
        reserve, as Finagle's ``ttl.inSeconds`` does).
    :param min_retries_per_s: retries allowed per second regardless of deposits, ``>= 0``.
    :param percent_can_retry: retries allowed per deposit, 0 to 1000 (0.2 = one in five).
    :param now: monotonic seconds.
    :raises ValueError: naming the parameter and the bad value.
    """

    __slots__ = ("_adder", "_reserve", "_now", "_deposit", "_cost")

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        min_retries_per_s: int = DEFAULT_MIN_RETRIES_PER_S,
        percent_can_retry: float = DEFAULT_PERCENT_CAN_RETRY,
        *,
        now: Callable[[], float],
    ) -> None:
        ttl_whole_s = _check(ttl_s, min_retries_per_s, percent_can_retry)
        if percent_can_retry == 0.0:
            # Only the reserve: every retry costs one token and requests earn none.
            self._deposit, self._cost = 0, 1
        else:
            self._deposit = int(_SCALE)
            self._cost = min(int(_SCALE / percent_can_retry), _INT_MAX)
        self._reserve = min_retries_per_s * ttl_whole_s * self._cost
        self._adder = WindowedAdder(ttl_s, _SLICES, now)
        self._now = now

    # deposit and try_withdraw are LeakyBucket.put/try_get inlined: they run once per request
    # and once per retry on the data path, so they read the clock once and touch the adder
    # directly.

    def deposit(self, now: float | None = None) -> None:
        """Credit one request (Linkerd: once per request, before its first attempt).

        :param now: the clock's reading, when the caller has one (else it is read).
        """
        adder = self._adder
        t = int((self._now() if now is None else now) * 1000.0 + 0.5)
        if t - adder._old >= adder._window:
            adder._expire(t)
        adder._writer += self._deposit

    def try_withdraw(self) -> bool:
        """Take the cost of one retry if the balance allows it; ``False`` leaves it untouched."""
        adder = self._adder
        t = int(self._now() * 1000.0 + 0.5)
        if t - adder._old >= adder._window:
            adder._expire(t)
        if adder._writer + adder._total + self._reserve >= self._cost:
            adder._writer -= self._cost
            return True
        return False

    @property
    def balance(self) -> int:
        """Retries that could be made now (the ``retries/budget`` gauge).

        Divides as the JVM does, truncating toward zero.
        """
        count = self._adder.sum() + self._reserve
        return count // self._cost if count >= 0 else -(-count // self._cost)

    def __repr__(self) -> str:
        return (f"RetryBudget(deposit={self._deposit}, withdraw={self._cost}, "
                f"balance={self.balance})")


class EmptyBudget:
    """A budget that never allows a retry: balance 0, deposits ignored."""

    __slots__ = ()

    def deposit(self, now: float | None = None) -> None:
        """Ignored."""

    def try_withdraw(self) -> bool:
        """Always ``False``."""
        return False

    @property
    def balance(self) -> int:
        """Always 0."""
        return 0

    def __repr__(self) -> str:
        return "EMPTY"


#: The budget of ``min_retries_per_s == 0 and percent_can_retry == 0``.
EMPTY = EmptyBudget()


def retry_budget(
    ttl_s: float,
    min_retries_per_s: int,
    percent_can_retry: float,
    now: Callable[[], float],
) -> RetryBudget | EmptyBudget:
    """Finagle's ``RetryBudget.apply``: validate, then :data:`EMPTY` or a :class:`RetryBudget`.

    :param ttl_s: 1 to 60 whole seconds.
    :param min_retries_per_s: ``>= 0``.
    :param percent_can_retry: 0 to 1000.
    :param now: monotonic seconds.
    :raises ValueError: naming the parameter and the bad value (checked before the
        :data:`EMPTY` case, as Finagle does).
    """
    _check(ttl_s, min_retries_per_s, percent_can_retry)
    if min_retries_per_s == 0 and percent_can_retry == 0.0:
        return EMPTY
    return RetryBudget(ttl_s, min_retries_per_s, percent_can_retry, now=now)
