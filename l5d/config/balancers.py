"""Load balancer configs: ``client.loadBalancer`` (pure).

Linkerd's kinds, keys and defaults (``linkerd/core/.../LoadBalancerConfig.scala``,
``linkerd/docs/load_balancer.md``). Every kind also takes ``enableProbation``
(false), and a block that leaves it out resets it to false.

================  ==========================================================================
kind              keys (default)
================  ==========================================================================
``p2c``           ``maxEffort`` (5). The default balancer (least loaded, power of two choices).
``ewma``          ``maxEffort`` (5), ``decayTimeMs`` (10000): p2c over peak EWMA latency.
``aperture``      ``maxEffort`` (5), ``smoothWindowMs`` (5000), ``lowLoad`` (0.5),
                  ``highLoad`` (2.0), ``minAperture`` (1).
``heap``          none (no ``maxEffort``).
``roundRobin``    ``maxEffort`` (5).
================  ==========================================================================

Ranges are Finagle's: ``maxEffort``, ``decayTimeMs``, ``smoothWindowMs`` and
``minAperture`` are integers >= 1; ``0 < lowLoad <= highLoad``.
Config objects do nothing; the data path builds the balancers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from l5d.config._check import check_int, check_number, check_seconds, ms, require
from l5d.config._fields import Fields
from l5d.config.registry import PluginConfig, Registry

__all__ = [
    "ApertureConfig",
    "DEFAULT_APERTURE_HIGH_LOAD",
    "DEFAULT_APERTURE_LOW_LOAD",
    "DEFAULT_APERTURE_SMOOTH_WINDOW_S",
    "DEFAULT_EWMA_DECAY_TIME_S",
    "DEFAULT_LOAD_BALANCER",
    "DEFAULT_MAX_EFFORT",
    "DEFAULT_MIN_APERTURE",
    "EwmaConfig",
    "HeapConfig",
    "LOAD_BALANCERS",
    "LoadBalancerConfig",
    "P2CConfig",
    "RoundRobinConfig",
]

LOAD_BALANCERS = Registry("loadBalancer", "l5d.loadBalancers")
"""Load balancer kinds (built-in only: no entry-point group is loaded for them)."""

DEFAULT_MAX_EFFORT = 5  # Finagle's Balancers.MaxEffort
DEFAULT_EWMA_DECAY_TIME_S = 10.0
DEFAULT_APERTURE_SMOOTH_WINDOW_S = 5.0
DEFAULT_APERTURE_LOW_LOAD = 0.5
DEFAULT_APERTURE_HIGH_LOAD = 2.0
DEFAULT_MIN_APERTURE = 1


class LoadBalancerConfig(PluginConfig, registry=LOAD_BALANCERS):
    """Base of the balancer configs: frozen dataclasses with ``enable_probation``
    (``enableProbation``: keep an endpoint that discovery removed while it is still
    healthy, instead of closing it at once)."""

    __slots__ = ()

    def render(self, **keys: Any) -> dict[str, Any]:
        """``{kind, <keys>, enableProbation}``."""
        return {"kind": self.kind, **keys,
                "enableProbation": self.enable_probation}  # type: ignore[attr-defined]


def _check_common(cfg: Any) -> None:
    require(isinstance(cfg.enable_probation, bool), "enable_probation", cfg.enable_probation,
            "a boolean")


def _max_effort(f: Fields) -> int:
    return f.integer("maxEffort", DEFAULT_MAX_EFFORT, minimum=1)


def _probation(f: Fields) -> bool:
    return f.boolean("enableProbation", False)


def _positive_ms(f: Fields, key: str, default_s: float) -> float:
    value = f.integer(key, None, minimum=1)
    return default_s if value is None else value / 1000.0


@dataclass(frozen=True, slots=True)
class P2CConfig(LoadBalancerConfig):
    """``p2c``: power of two choices over the least loaded (outstanding requests).

    :param max_effort: ``maxEffort``; picks tried before settling for a node that is not Open.
    """

    kind: ClassVar[str] = "p2c"
    max_effort: int = DEFAULT_MAX_EFFORT
    enable_probation: bool = False

    def __post_init__(self) -> None:
        check_int("max_effort", self.max_effort, minimum=1)
        _check_common(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "P2CConfig":
        f.expect("kind", "maxEffort", "enableProbation")
        return cls(max_effort=_max_effort(f), enable_probation=_probation(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(maxEffort=self.max_effort)


@dataclass(frozen=True, slots=True)
class EwmaConfig(LoadBalancerConfig):
    """``ewma``: power of two choices over peak EWMA latency.

    :param decay_time_s: ``decayTimeMs``; the EWMA's time constant.
    """

    kind: ClassVar[str] = "ewma"
    max_effort: int = DEFAULT_MAX_EFFORT
    decay_time_s: float = DEFAULT_EWMA_DECAY_TIME_S
    enable_probation: bool = False

    def __post_init__(self) -> None:
        check_int("max_effort", self.max_effort, minimum=1)
        check_seconds("decay_time_s", self.decay_time_s, positive=True)
        _check_common(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "EwmaConfig":
        f.expect("kind", "maxEffort", "decayTimeMs", "enableProbation")
        return cls(max_effort=_max_effort(f),
                   decay_time_s=_positive_ms(f, "decayTimeMs", DEFAULT_EWMA_DECAY_TIME_S),
                   enable_probation=_probation(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(maxEffort=self.max_effort, decayTimeMs=ms(self.decay_time_s))


@dataclass(frozen=True, slots=True)
class ApertureConfig(LoadBalancerConfig):
    """``aperture``: p2c inside a window of nodes sized by load (random aperture).

    :param smooth_window_s: ``smoothWindowMs``; window of the load average.
    :param low_load: ``lowLoad``; narrow the aperture when the load per node falls to this.
    :param high_load: ``highLoad``; widen it when the load per node reaches this.
    :param min_aperture: ``minAperture``; the fewest nodes in the aperture.
    """

    kind: ClassVar[str] = "aperture"
    max_effort: int = DEFAULT_MAX_EFFORT
    smooth_window_s: float = DEFAULT_APERTURE_SMOOTH_WINDOW_S
    low_load: float = DEFAULT_APERTURE_LOW_LOAD
    high_load: float = DEFAULT_APERTURE_HIGH_LOAD
    min_aperture: int = DEFAULT_MIN_APERTURE
    enable_probation: bool = False

    def __post_init__(self) -> None:
        check_int("max_effort", self.max_effort, minimum=1)
        check_seconds("smooth_window_s", self.smooth_window_s, positive=True)
        check_number("low_load", self.low_load, above=0)
        check_number("high_load", self.high_load, above=self.low_load)
        check_int("min_aperture", self.min_aperture, minimum=1)
        _check_common(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "ApertureConfig":
        f.expect("kind", "maxEffort", "smoothWindowMs", "lowLoad", "highLoad", "minAperture",
                 "enableProbation")
        low = f.number("lowLoad", DEFAULT_APERTURE_LOW_LOAD, above=0)
        return cls(
            max_effort=_max_effort(f),
            smooth_window_s=_positive_ms(f, "smoothWindowMs", DEFAULT_APERTURE_SMOOTH_WINDOW_S),
            low_load=low,
            high_load=f.number("highLoad", DEFAULT_APERTURE_HIGH_LOAD, above=low),
            min_aperture=f.integer("minAperture", DEFAULT_MIN_APERTURE, minimum=1),
            enable_probation=_probation(f),
        )

    def to_json(self) -> dict[str, Any]:
        return self.render(maxEffort=self.max_effort, smoothWindowMs=ms(self.smooth_window_s),
                           lowLoad=self.low_load, highLoad=self.high_load,
                           minAperture=self.min_aperture)


@dataclass(frozen=True, slots=True)
class HeapConfig(LoadBalancerConfig):
    """``heap``: a min-heap of nodes by outstanding requests (no ``maxEffort``)."""

    kind: ClassVar[str] = "heap"
    enable_probation: bool = False

    def __post_init__(self) -> None:
        _check_common(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "HeapConfig":
        f.expect("kind", "enableProbation")
        return cls(enable_probation=_probation(f))

    def to_json(self) -> dict[str, Any]:
        return self.render()


@dataclass(frozen=True, slots=True)
class RoundRobinConfig(LoadBalancerConfig):
    """``roundRobin``: each Open node in turn."""

    kind: ClassVar[str] = "roundRobin"
    max_effort: int = DEFAULT_MAX_EFFORT
    enable_probation: bool = False

    def __post_init__(self) -> None:
        check_int("max_effort", self.max_effort, minimum=1)
        _check_common(self)

    @classmethod
    def from_fields(cls, f: Fields) -> "RoundRobinConfig":
        f.expect("kind", "maxEffort", "enableProbation")
        return cls(max_effort=_max_effort(f), enable_probation=_probation(f))

    def to_json(self) -> dict[str, Any]:
        return self.render(maxEffort=self.max_effort)


DEFAULT_LOAD_BALANCER = P2CConfig()
"""No ``loadBalancer`` anywhere: p2c, maxEffort 5, probation off."""
