"""Backoffs and retry budgets: ``service.retries`` and ``client.requeueBudget`` (pure).

Linkerd's keys and defaults (``linkerd/docs/routers.md``, ``namer/.../BackoffConfig.scala``,
``router/.../RetryBudgetModule.scala``); the ranges are Finagle's ``RetryBudget`` ones.

* A **budget** (``retries.budget``, ``requeueBudget``): ``ttlSecs`` (10, whole
  seconds 1-60), ``minRetriesPerSec`` (10, >= 0), ``percentCanRetry`` (0.2, 0-1000).
  Keys left out of a block take these defaults (never values from another block).
* A **backoff** (``retries.backoff``, ``failureAccrual.backoff``):
  ``{kind: constant, ms}`` (``ms`` 0 when left out) or ``{kind: jittered, minMs,
  maxMs}`` (both required, ``0 < minMs <= maxMs``; Finagle's decorrelated jitter).
  The third kind, ``equalJittered``, is not written in configs: it is failure
  accrual's default (5 s to 300 s).

Config objects do nothing; the budgets and backoff streams are made by the data path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l5d.config._check import check_int, check_number, check_seconds, ms, require
from l5d.config._fields import REQUIRED, Fields
from l5d.config._kinds import make

__all__ = [
    "BACKOFF_KINDS",
    "Backoff",
    "CONSTANT",
    "DEFAULT_ACCRUAL_BACKOFF",
    "DEFAULT_BUDGET_TTL_S",
    "DEFAULT_MIN_RETRIES_PER_S",
    "DEFAULT_PERCENT_CAN_RETRY",
    "DEFAULT_RETRY_BACKOFF",
    "EQUAL_JITTERED",
    "JITTERED",
    "RetriesConfig",
    "RetryBudgetConfig",
    "read_backoff",
    "read_budget",
    "read_retries",
]

CONSTANT = "constant"
JITTERED = "jittered"
EQUAL_JITTERED = "equalJittered"
BACKOFF_KINDS = (CONSTANT, JITTERED, EQUAL_JITTERED)
#: the backoff kinds a config may write
WRITTEN_BACKOFF_KINDS = (CONSTANT, JITTERED)

DEFAULT_BUDGET_TTL_S = 10.0
DEFAULT_MIN_RETRIES_PER_S = 10
DEFAULT_PERCENT_CAN_RETRY = 0.2
MAX_BUDGET_TTL_S = 60
MAX_PERCENT_CAN_RETRY = 1000.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait between tries: a small value the data path turns into a stream.

    :param kind: ``constant`` (every delay is ``delay_s``); ``jittered`` (Finagle's
        decorrelated jitter: first ``min_s``, then each delay drawn in
        ``[previous, min(3 * previous, max_s))``); ``equalJittered`` (Finagle's equal
        jitter: ``min_s``, then half of a doubling step plus a random half, capped at
        ``max_s``).
    :param delay_s: ``constant``'s delay, seconds >= 0 (0 for the other kinds).
    :param min_s: the jittered kinds' first and smallest delay, seconds > 0 (0 for
        ``constant``).
    :param max_s: the jittered kinds' largest delay, seconds >= ``min_s`` (0 for
        ``constant``).
    """

    kind: str
    delay_s: float = 0.0
    min_s: float = 0.0
    max_s: float = 0.0

    def __post_init__(self) -> None:
        require(self.kind in BACKOFF_KINDS, "kind", self.kind, "one of " + ", ".join(BACKOFF_KINDS))
        if self.kind == CONSTANT:
            check_seconds("delay_s", self.delay_s)
            require(self.min_s == self.max_s == 0, "min_s", (self.min_s, self.max_s),
                    "min_s = max_s = 0 for a constant backoff")
        else:
            require(self.delay_s == 0, "delay_s", self.delay_s, f"0 for a {self.kind} backoff")
            check_seconds("min_s", self.min_s, positive=True)
            check_number("max_s", self.max_s, minimum=self.min_s)

    @classmethod
    def constant(cls, delay_s: float = 0.0) -> "Backoff":
        return cls(CONSTANT, delay_s=delay_s)

    @classmethod
    def jittered(cls, min_s: float, max_s: float) -> "Backoff":
        return cls(JITTERED, min_s=min_s, max_s=max_s)

    @classmethod
    def equal_jittered(cls, min_s: float, max_s: float) -> "Backoff":
        return cls(EQUAL_JITTERED, min_s=min_s, max_s=max_s)

    def to_json(self) -> dict[str, Any]:
        if self.kind == CONSTANT:
            return {"kind": CONSTANT, "ms": ms(self.delay_s)}
        return {"kind": self.kind, "minMs": ms(self.min_s), "maxMs": ms(self.max_s)}


DEFAULT_RETRY_BACKOFF = Backoff.constant(0.0)
"""``service.retries.backoff`` left out: retry at once."""

DEFAULT_ACCRUAL_BACKOFF = Backoff.equal_jittered(5.0, 300.0)
"""``failureAccrual.backoff`` left out (Linkerd's ``FailureAccrualConfig.defaultBackoff``)."""


@dataclass(frozen=True, slots=True)
class RetryBudgetConfig:
    """A retry budget (``retries.budget``, ``requeueBudget``), Finagle's ``RetryBudget``.

    :param ttl_s: ``ttlSecs``; how long a deposit counts, whole seconds 1-60.
    :param min_retries_per_s: ``minRetriesPerSec``; retries allowed per second
        whatever the traffic (the reserve is this times ``ttl_s``).
    :param percent_can_retry: ``percentCanRetry``; retries allowed as a fraction of
        requests, 0-1000.
    """

    ttl_s: float = DEFAULT_BUDGET_TTL_S
    min_retries_per_s: int = DEFAULT_MIN_RETRIES_PER_S
    percent_can_retry: float = DEFAULT_PERCENT_CAN_RETRY

    def __post_init__(self) -> None:
        require(isinstance(self.ttl_s, (int, float)) and not isinstance(self.ttl_s, bool)
                and self.ttl_s == int(self.ttl_s) and 1 <= self.ttl_s <= MAX_BUDGET_TTL_S,
                "ttl_s", self.ttl_s, f"whole seconds from 1 to {MAX_BUDGET_TTL_S}")
        check_int("min_retries_per_s", self.min_retries_per_s, minimum=0)
        check_number("percent_can_retry", self.percent_can_retry, minimum=0,
                      maximum=MAX_PERCENT_CAN_RETRY)

    @classmethod
    def from_fields(cls, f: Fields) -> "RetryBudgetConfig":
        f.expect("ttlSecs", "minRetriesPerSec", "percentCanRetry")
        ttl = f.integer("ttlSecs", None, minimum=1, maximum=MAX_BUDGET_TTL_S)
        return make(
            f, cls,
            ttl_s=DEFAULT_BUDGET_TTL_S if ttl is None else float(ttl),
            min_retries_per_s=f.integer("minRetriesPerSec", DEFAULT_MIN_RETRIES_PER_S),
            percent_can_retry=f.number("percentCanRetry", DEFAULT_PERCENT_CAN_RETRY, minimum=0,
                                       maximum=MAX_PERCENT_CAN_RETRY),
        )

    def to_json(self) -> dict[str, Any]:
        return {"ttlSecs": int(self.ttl_s), "minRetriesPerSec": self.min_retries_per_s,
                "percentCanRetry": self.percent_can_retry}


@dataclass(frozen=True, slots=True)
class RetriesConfig:
    """``service.retries`` as written: each part ``None`` when left out.

    The two parts are separate Finagle params, so in ``io.l5d.static`` a later
    entry's ``retries: {backoff: ...}`` keeps an earlier entry's ``budget``.
    """

    budget: RetryBudgetConfig | None = None
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        require(self.budget is None or isinstance(self.budget, RetryBudgetConfig),
                "budget", self.budget, "None or a RetryBudgetConfig")
        require(self.backoff is None or isinstance(self.backoff, Backoff),
                "backoff", self.backoff, "None or a Backoff")

    @classmethod
    def from_fields(cls, f: Fields) -> "RetriesConfig":
        f.expect("budget", "backoff")
        return cls(budget=read_budget(f, "budget"), backoff=read_backoff(f, "backoff"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.budget is not None:
            out["budget"] = self.budget.to_json()
        if self.backoff is not None:
            out["backoff"] = self.backoff.to_json()
        return out


def read_budget(f: Fields, key: str) -> RetryBudgetConfig | None:
    """A budget block, or ``None`` when ``key`` is left out."""
    sub = f.mapping(key)
    return None if sub is None else RetryBudgetConfig.from_fields(sub)


def read_retries(f: Fields, key: str = "retries") -> RetriesConfig | None:
    sub = f.mapping(key)
    return None if sub is None else RetriesConfig.from_fields(sub)


def read_backoff(f: Fields, key: str = "backoff") -> Backoff | None:
    """A ``{kind: constant | jittered, ...}`` block, or ``None`` when ``key`` is left out."""
    sub = f.mapping(key)
    if sub is None:
        return None
    kind = sub.string("kind")
    if kind == CONSTANT:
        sub.expect("kind", "ms")
        return make(sub, Backoff.constant, sub.integer("ms", 0) / 1000.0)
    if kind == JITTERED:
        sub.expect("kind", "minMs", "maxMs")
        low = sub.integer("minMs", REQUIRED, minimum=1)
        high = sub.integer("maxMs", REQUIRED, minimum=low)
        return make(sub, Backoff.jittered, low / 1000.0, high / 1000.0)
    known = ", ".join(WRITTEN_BACKOFF_KINDS)
    raise sub.error(f'unknown kind "{kind}" (known kinds: {known})', "kind")
