"""Linkerd 1.x configuration: ``linkerd.yaml`` text → frozen config objects (pure).

``parse_config(text, source)`` returns a :class:`LinkerConfig` or raises a
:class:`ConfigError` such as
``linkerd.yaml:7: routers[0].servers[1].port: expected an integer, got "41a0"``.
Plugin kinds (namers, identifiers, telemeters) live in registries filled by
built-in classes and, through :func:`load_installed_plugins`, by setup.cfg
entry points. See ``docs/config.md`` for every key and its default.
"""

from l5d.config.checks import check_config
from l5d.config.errors import (
    ConfigError,
    ConflictingLabels,
    ConflictingNamers,
    ConflictingPorts,
    DuplicateKind,
    NoRoutersSpecified,
)
from l5d.config.identifiers import (
    IDENTIFIERS,
    HeaderIdentifierConfig,
    HeaderTokenIdentifierConfig,
    IdentifierConfig,
    MethodAndHostIdentifierConfig,
    PathIdentifierConfig,
    StaticIdentifierConfig,
)
from l5d.config.model import (
    AdminConfig,
    BindingCacheConfig,
    ClientConfig,
    InterpreterConfig,
    LinkerConfig,
    RouterConfig,
    ServerConfig,
    ServerSessionConfig,
    ServiceConfig,
    UsageConfig,
)
from l5d.config.namers import NAMERS, FsNamerConfig, NamerConfig
from l5d.config.parse import parse_config
from l5d.config.plugins import DEFAULT_PLUGINS, Plugins, load_installed_plugins
from l5d.config.registry import PluginConfig, Registry, load_entry_points
from l5d.config.telemeters import TELEMETERS, TelemeterConfig

__all__ = [
    "AdminConfig",
    "BindingCacheConfig",
    "ClientConfig",
    "ConfigError",
    "ConflictingLabels",
    "ConflictingNamers",
    "ConflictingPorts",
    "DEFAULT_PLUGINS",
    "DuplicateKind",
    "FsNamerConfig",
    "HeaderIdentifierConfig",
    "HeaderTokenIdentifierConfig",
    "IDENTIFIERS",
    "IdentifierConfig",
    "InterpreterConfig",
    "LinkerConfig",
    "MethodAndHostIdentifierConfig",
    "NAMERS",
    "NamerConfig",
    "NoRoutersSpecified",
    "PathIdentifierConfig",
    "PluginConfig",
    "Plugins",
    "Registry",
    "RouterConfig",
    "ServerConfig",
    "ServerSessionConfig",
    "ServiceConfig",
    "StaticIdentifierConfig",
    "TELEMETERS",
    "TelemeterConfig",
    "UsageConfig",
    "check_config",
    "load_entry_points",
    "load_installed_plugins",
    "parse_config",
]
