"""Telemeter configs (top-level ``telemetry`` list) (pure).

Kinds: ``io.l5d.prometheus``, ``io.l5d.influxdb``, ``io.l5d.recentRequests``. Third-party
telemeters register under the ``l5d.telemeters`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from l5d.config.registry import PluginConfig, Registry

__all__ = ["TELEMETERS", "TelemeterConfig", "PrometheusConfig", "DEFAULT_PROMETHEUS_PATH",
           "InfluxDbConfig", "INFLUXDB_PATH", "RecentRequestsConfig",
           "DEFAULT_RECENT_REQUESTS_CAPACITY"]

DEFAULT_PROMETHEUS_PATH = "/admin/metrics/prometheus"
INFLUXDB_PATH = "/admin/metrics/influxdb"
DEFAULT_RECENT_REQUESTS_CAPACITY = 10

TELEMETERS = Registry("telemetry", "l5d.telemeters")
"""Telemeter kinds (config key ``telemetry``)."""


class TelemeterConfig(PluginConfig, registry=TELEMETERS):
    """Base of telemeter configs; subclasses set ``kind``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PrometheusConfig(TelemeterConfig):
    """``io.l5d.prometheus``: the metrics in Prometheus' text format on the admin server.

    :param path: ``path``, where the admin server serves them.
    :param prefix: ``prefix``, put before every metric name.
    """

    kind: ClassVar[str] = "io.l5d.prometheus"
    path: str = DEFAULT_PROMETHEUS_PATH
    prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/") or "?" in self.path:
            raise ValueError(f"path: expected an absolute path such as "
                             f"{DEFAULT_PROMETHEUS_PATH}, got {self.path!r}")
        if not isinstance(self.prefix, str):
            raise ValueError(f"prefix: expected a string, got {self.prefix!r}")

    @classmethod
    def from_fields(cls, f: Any) -> "PrometheusConfig":
        return cls(path=f.string("path", DEFAULT_PROMETHEUS_PATH),
                   prefix=f.string("prefix", "", allow_empty=True))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "prefix": self.prefix}


@dataclass(frozen=True, slots=True)
class InfluxDbConfig(TelemeterConfig):
    """``io.l5d.influxdb``: the metrics in InfluxDB's line protocol at
    ``/admin/metrics/influxdb`` (no keys, as Linkerd's)."""

    kind: ClassVar[str] = "io.l5d.influxdb"

    @classmethod
    def from_fields(cls, f: Any) -> "InfluxDbConfig":
        return cls()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True, slots=True)
class RecentRequestsConfig(TelemeterConfig):
    """``io.l5d.recentRequests``: a sample of the last requests at ``/requests``.

    :param sample_rate: ``sampleRate`` (required), the share of requests kept, 0 to 1.
    :param capacity: ``capacity``, how many requests are kept (the oldest go first).
    """

    kind: ClassVar[str] = "io.l5d.recentRequests"
    sample_rate: float
    capacity: int = DEFAULT_RECENT_REQUESTS_CAPACITY

    def __post_init__(self) -> None:
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"sampleRate: expected a number from 0.0 to 1.0, got {rate!r}")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) \
                or self.capacity < 0:
            raise ValueError(f"capacity: expected an integer >= 0, got {self.capacity!r}")

    @classmethod
    def from_fields(cls, f: Any) -> "RecentRequestsConfig":
        return cls(sample_rate=f.number("sampleRate", minimum=0, maximum=1),
                   capacity=f.integer("capacity", DEFAULT_RECENT_REQUESTS_CAPACITY, minimum=0))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "sampleRate": self.sample_rate, "capacity": self.capacity}
