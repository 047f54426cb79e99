"""Telemeter configs (top-level ``telemetry`` list) (pure).

No telemeter kinds exist yet, so every ``telemetry`` entry is an "unknown
kind" error; the family and its ``l5d.telemeters`` entry-point group are here
so that the statsd telemeter (and third-party ones) can register later.
"""

from __future__ import annotations

from l5d.config.registry import PluginConfig, Registry

__all__ = ["TELEMETERS", "TelemeterConfig"]

TELEMETERS = Registry("telemetry", "l5d.telemeters")
"""Telemeter kinds (config key ``telemetry``)."""


class TelemeterConfig(PluginConfig, registry=TELEMETERS):
    """Base of telemeter configs; subclasses set ``kind``."""

    __slots__ = ()
