"""Telemeter configs (top-level ``telemetry`` list) (pure).

Kinds: ``io.l5d.prometheus``. Third-party telemeters register under the
``l5d.telemeters`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from l5d.config.registry import PluginConfig, Registry

__all__ = ["TELEMETERS", "TelemeterConfig", "PrometheusConfig", "DEFAULT_PROMETHEUS_PATH"]

DEFAULT_PROMETHEUS_PATH = "/admin/metrics/prometheus"

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
