"""Resolved client and service parameters -> the runtime objects that enforce them (pure).

A router resolves a client's :class:`~l5d.config.client_policy.ClientParams` from its
bound id and a service's :class:`~l5d.config.service_policy.ServiceParams` from its
logical name (``client``/``service`` with ``io.l5d.static`` prefixes). These builders
turn those values into the pure machinery of :mod:`l5d.lb`, :mod:`l5d.accrual` and
:mod:`l5d.retry`, with the router's injected clock and randomness.
"""

from __future__ import annotations

import functools
import random
from typing import Any, Callable, Hashable

from l5d.accrual import (
    ConsecutiveFailures, FailureAccrual, NoAccrual, SuccessRate, SuccessRateWindowed,
)
from l5d.lb import Balancer
from l5d.retry import BackoffSpec, retry_budget

__all__ = ["accrual_factory", "backoff_spec", "balancer", "budget"]


def backoff_spec(backoff: Any) -> BackoffSpec:
    """A config ``Backoff`` (kind, seconds) as the retry package's :class:`BackoffSpec`."""
    return BackoffSpec(backoff.kind, delay_s=backoff.delay_s, min_s=backoff.min_s,
                       max_s=backoff.max_s)


def budget(cfg: Any, now: Callable[[], float]) -> Any:
    """A retry (or requeue) budget from a ``RetryBudgetConfig``."""
    return retry_budget(cfg.ttl_s, cfg.min_retries_per_s, cfg.percent_can_retry, now)


def _policy(cfg: Any, backoff: Callable[[], Any], now: Callable[[], float]) -> Any:
    kind = cfg.kind
    if kind == "io.l5d.consecutiveFailures":
        return ConsecutiveFailures(cfg.failures, backoff)
    if kind == "io.l5d.successRate":
        return SuccessRate(cfg.success_rate, cfg.requests, backoff)
    if kind == "io.l5d.successRateWindowed":
        return SuccessRateWindowed(cfg.success_rate, cfg.window_s, backoff, now=now())
    if kind == "none":
        return NoAccrual()
    raise ValueError(f"failure accrual kind {kind!r} has no policy")


def accrual_factory(cfg: Any, rng: random.Random,
                    now: Callable[[], float]) -> Callable[[Hashable], FailureAccrual]:
    """One :class:`~l5d.accrual.FailureAccrual` per endpoint, from a ``failureAccrual``."""
    backoff = functools.partial(backoff_spec(cfg.backoff).stream, rng)  # one for all endpoints

    def make(key: Hashable) -> FailureAccrual:
        return FailureAccrual(_policy(cfg, backoff, now), now)

    return make


def balancer(cfg: Any, rng: random.Random, now: Callable[[], float],
             health: Callable[[Hashable], Any]) -> Balancer:
    """The balancer of a ``loadBalancer`` config (its kind's keys, Linkerd's defaults)."""
    keys: dict[str, Any] = {}
    for name in ("max_effort", "min_aperture", "low_load", "high_load"):
        if hasattr(cfg, name):
            keys[name] = getattr(cfg, name)
    if hasattr(cfg, "decay_time_s"):
        keys["decay_s"] = cfg.decay_time_s
    if hasattr(cfg, "smooth_window_s"):
        keys["smooth_window_s"] = cfg.smooth_window_s
    return Balancer(cfg.kind, rng=rng, now=now, health=health, **keys)
