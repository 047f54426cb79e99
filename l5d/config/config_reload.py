"""``configReload``: whether l5d reloads its config file when the file changes (pure config).

::

    configReload:
      watch: false      # reload when the config file's content changes (off by default)
      intervalMs: 2000  # how often the file is read to see whether it changed

SIGHUP and ``POST /admin/reload`` reload whatever this says; see docs/reload.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l5d.config._check import check_seconds, ms, require
from l5d.config._fields import Fields
from l5d.config._kinds import make

__all__ = ["DEFAULT_WATCH_INTERVAL_S", "ConfigReloadConfig", "read_config_reload"]

DEFAULT_WATCH_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class ConfigReloadConfig:
    """The ``configReload`` object.

    :param watch: ``watch``: reload when the config file's content changes.
    :param interval_s: ``intervalMs``: how often the file is read (> 0).
    """

    watch: bool = False
    interval_s: float = DEFAULT_WATCH_INTERVAL_S

    def __post_init__(self) -> None:
        require(isinstance(self.watch, bool), "watch", self.watch, "a boolean")
        check_seconds("intervalMs", self.interval_s, positive=True)

    def to_json(self) -> dict[str, Any]:
        return {"watch": self.watch, "intervalMs": ms(self.interval_s)}


def read_config_reload(f: Fields) -> ConfigReloadConfig:
    """The ``configReload`` object; errors carry the file, line and key path."""
    f.expect("watch", "intervalMs")
    return make(f, ConfigReloadConfig, watch=f.boolean("watch", False),
                interval_s=f.millis("intervalMs", DEFAULT_WATCH_INTERVAL_S))
