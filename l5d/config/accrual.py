"""Failure accrual configs: ``client.failureAccrual`` (pure).

Linkerd's kinds and keys (``linkerd/failure-accrual/``, ``linkerd/docs/failure_accrual.md``).
Every kind also takes ``backoff`` (see :mod:`l5d.config.retries`): how long a node
marked dead is left alone before it is probed; left out, equal jitter from 5 s to 300 s.

================================  ===========================================================
kind                              keys (all required)
================================  ===========================================================
``io.l5d.consecutiveFailures``    ``failures`` (>= 1): dead after that many failures in a row.
``io.l5d.successRate``            ``successRate`` (0-1), ``requests`` (>= 1): dead when the
                                  success rate, an EMA over ``requests`` requests, falls below.
``io.l5d.successRateWindowed``    ``successRate`` (0-1), ``window`` (seconds, >= 1): the same
                                  with an EMA over time (and at least 5 requests in the window).
``none``                          none: never marks a node dead.
================================  ===========================================================

With no ``failureAccrual`` anywhere, a client uses :data:`DEFAULT_FAILURE_ACCRUAL`
(Linkerd's default: 5 consecutive failures, equal jitter 5 s to 300 s).
Config objects do nothing; the data path builds the policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from l5d.config._check import check_int, check_number, check_seconds, require
from l5d.config._fields import Fields
from l5d.config.registry import PluginConfig, Registry
from l5d.config.retries import DEFAULT_ACCRUAL_BACKOFF, Backoff, read_backoff

__all__ = [
    "ConsecutiveFailuresConfig",
    "DEFAULT_CONSECUTIVE_FAILURES",
    "DEFAULT_FAILURE_ACCRUAL",
    "FAILURE_ACCRUALS",
    "FailureAccrualConfig",
    "NoneFailureAccrualConfig",
    "SuccessRateConfig",
    "SuccessRateWindowedConfig",
]

FAILURE_ACCRUALS = Registry("failureAccrual", "l5d.failureAccrual")
"""Failure accrual kinds (built-in only: no entry-point group is loaded for them)."""

DEFAULT_CONSECUTIVE_FAILURES = 5


class FailureAccrualConfig(PluginConfig, registry=FAILURE_ACCRUALS):
    """Base of the failure accrual configs: frozen dataclasses whose last field is
    ``backoff`` (:data:`~l5d.config.retries.DEFAULT_ACCRUAL_BACKOFF` when not written;
    ``to_json`` leaves the default out, since configs cannot write that kind)."""

    __slots__ = ()

    def render(self, **keys: Any) -> dict[str, Any]:
        """``{kind, <keys>, backoff}``, the backoff only when not the default."""
        out: dict[str, Any] = {"kind": self.kind, **keys}
        backoff = self.backoff  # type: ignore[attr-defined]
        if backoff != DEFAULT_ACCRUAL_BACKOFF:
            out["backoff"] = backoff.to_json()
        return out


def _check_backoff(cfg: Any) -> None:
    require(isinstance(cfg.backoff, Backoff), "backoff", cfg.backoff, "a Backoff")


def _backoff(f: Fields) -> Backoff:
    backoff = read_backoff(f, "backoff")
    return DEFAULT_ACCRUAL_BACKOFF if backoff is None else backoff


def _success_rate(f: Fields) -> float:
    return f.number("successRate", minimum=0, maximum=1)


@dataclass(frozen=True, slots=True)
class ConsecutiveFailuresConfig(FailureAccrualConfig):
    """``io.l5d.consecutiveFailures``: dead after ``failures`` failures in a row."""

    kind: ClassVar[str] = "io.l5d.consecutiveFailures"
    failures: int
    backoff: Backoff = DEFAULT_ACCRUAL_BACKOFF

    def __post_init__(self) -> None:
        check_int("failures", self.failures, minimum=1)
        _check_backoff(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "ConsecutiveFailuresConfig":
        f.expect("kind", "failures", "backoff")
        return cls(failures=f.integer("failures", minimum=1), backoff=_backoff(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(failures=self.failures)


@dataclass(frozen=True, slots=True)
class SuccessRateConfig(FailureAccrualConfig):
    """``io.l5d.successRate``: dead when the success rate over the last ``requests``
    requests (an EMA) falls below ``success_rate``."""

    kind: ClassVar[str] = "io.l5d.successRate"
    success_rate: float
    requests: int
    backoff: Backoff = DEFAULT_ACCRUAL_BACKOFF

    def __post_init__(self) -> None:
        check_number("success_rate", self.success_rate, minimum=0, maximum=1)
        check_int("requests", self.requests, minimum=1)
        _check_backoff(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "SuccessRateConfig":
        f.expect("kind", "successRate", "requests", "backoff")
        return cls(success_rate=_success_rate(f), requests=f.integer("requests", minimum=1),
                   backoff=_backoff(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(successRate=self.success_rate, requests=self.requests)


@dataclass(frozen=True, slots=True)
class SuccessRateWindowedConfig(FailureAccrualConfig):
    """``io.l5d.successRateWindowed``: dead when the success rate over the last
    ``window_s`` seconds (an EMA, with at least 5 requests) falls below ``success_rate``.

    :param window_s: ``window``, written in whole seconds.
    """

    kind: ClassVar[str] = "io.l5d.successRateWindowed"
    success_rate: float
    window_s: float
    backoff: Backoff = DEFAULT_ACCRUAL_BACKOFF

    def __post_init__(self) -> None:
        check_number("success_rate", self.success_rate, minimum=0, maximum=1)
        check_seconds("window_s", self.window_s, positive=True)
        _check_backoff(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "SuccessRateWindowedConfig":
        f.expect("kind", "successRate", "window", "backoff")
        return cls(success_rate=_success_rate(f), window_s=f.seconds("window", minimum=1),
                   backoff=_backoff(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(successRate=self.success_rate, window=round(self.window_s))


@dataclass(frozen=True, slots=True)
class NoneFailureAccrualConfig(FailureAccrualConfig):
    """``none``: failure accrual off (``backoff`` is accepted, as Linkerd does, and unused)."""

    kind: ClassVar[str] = "none"
    backoff: Backoff = DEFAULT_ACCRUAL_BACKOFF

    def __post_init__(self) -> None:
        _check_backoff(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "NoneFailureAccrualConfig":
        f.expect("kind", "backoff")
        return cls(backoff=_backoff(f))

    def to_json(self) -> dict[str, Any]:
        return self.render()


DEFAULT_FAILURE_ACCRUAL = ConsecutiveFailuresConfig(DEFAULT_CONSECUTIVE_FAILURES)
"""No ``failureAccrual`` anywhere: 5 consecutive failures, equal jitter 5 s to 300 s."""
