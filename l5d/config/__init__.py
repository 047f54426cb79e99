"""Linkerd 1.x configuration: ``linkerd.yaml`` text → frozen config objects (pure).

``parse_config(text, source)`` returns a :class:`LinkerConfig` or raises a
:class:`ConfigError` such as
``linkerd.yaml:7: routers[0].servers[1].port: expected an integer, got "41a0"``.
Plugin kinds (namers, identifiers, telemeters) live in registries filled by
built-in classes and, through :func:`load_installed_plugins`, by setup.cfg
entry points. A router's ``client`` and ``service`` resolve their per-prefix
policy with ``params_for`` (:class:`ClientParams`, :class:`ServiceParams`).
See ``docs/config.md`` for every key and its default.
"""

from l5d.config.accrual import (
    ConsecutiveFailuresConfig,
    FailureAccrualConfig,
    NoneFailureAccrualConfig,
    SuccessRateConfig,
    SuccessRateWindowedConfig,
)
from l5d.config.balancers import (
    ApertureConfig,
    EwmaConfig,
    HeapConfig,
    LoadBalancerConfig,
    P2CConfig,
    RoundRobinConfig,
)
from l5d.config.checks import check_config
from l5d.config.client_policy import (
    ClientConfig,
    ClientParams,
    ClientPolicy,
    ClientSessionConfig,
    GlobalClientConfig,
    HostConnectionPoolConfig,
    StaticClientConfig,
)
from l5d.config.dtab_store import DtabStoreConfig
from l5d.config.errors import (
    ConfigError,
    ConfigErrors,
    ConflictingLabels,
    ConflictingNamers,
    ConflictingPorts,
    DuplicateKind,
    NoRoutersSpecified,
)
from l5d.config.identifiers import (
    IDENTIFIERS,
    HeaderIdentifierConfig,
    HeaderPathIdentifierConfig,
    IngressIdentifierConfig,
    HeaderTokenIdentifierConfig,
    IdentifierConfig,
    MethodAndHostIdentifierConfig,
    PathIdentifierConfig,
    StaticIdentifierConfig,
)
from l5d.config.model import (
    AdminConfig,
    BindingCacheConfig,
    InterpreterConfig,
    LinkerConfig,
    RouterConfig,
    ServerConfig,
    ServerSessionConfig,
    UsageConfig,
)
from l5d.config.namers import NAMERS, FsNamerConfig, NamerConfig, RewriteNamerConfig
from l5d.config.parse import parse_config
from l5d.config.plugins import DEFAULT_PLUGINS, Plugins, load_installed_plugins
from l5d.config.registry import PluginConfig, Registry, load_entry_points
from l5d.config.retries import Backoff, RetriesConfig, RetryBudgetConfig
from l5d.config.service_policy import (
    GlobalServiceConfig,
    ResponseClassifierConfig,
    ServiceConfig,
    ServiceParams,
    ServicePolicy,
    StaticServiceConfig,
)
from l5d.config.telemeters import TELEMETERS, TelemeterConfig

__all__ = [
    "AdminConfig",
    "ApertureConfig",
    "Backoff",
    "BindingCacheConfig",
    "ClientConfig",
    "ClientParams",
    "ClientPolicy",
    "ClientSessionConfig",
    "ConfigError",
    "ConfigErrors",
    "ConflictingLabels",
    "ConflictingNamers",
    "ConflictingPorts",
    "ConsecutiveFailuresConfig",
    "DEFAULT_PLUGINS",
    "DtabStoreConfig",
    "DuplicateKind",
    "EwmaConfig",
    "FailureAccrualConfig",
    "FsNamerConfig",
    "RewriteNamerConfig",
    "GlobalClientConfig",
    "GlobalServiceConfig",
    "HeaderIdentifierConfig",
    "HeaderPathIdentifierConfig",
    "IngressIdentifierConfig",
    "HeaderTokenIdentifierConfig",
    "HeapConfig",
    "HostConnectionPoolConfig",
    "IDENTIFIERS",
    "IdentifierConfig",
    "InterpreterConfig",
    "LinkerConfig",
    "LoadBalancerConfig",
    "MethodAndHostIdentifierConfig",
    "NAMERS",
    "NamerConfig",
    "NoRoutersSpecified",
    "NoneFailureAccrualConfig",
    "P2CConfig",
    "PathIdentifierConfig",
    "PluginConfig",
    "Plugins",
    "Registry",
    "ResponseClassifierConfig",
    "RetriesConfig",
    "RetryBudgetConfig",
    "RoundRobinConfig",
    "RouterConfig",
    "ServerConfig",
    "ServerSessionConfig",
    "ServiceConfig",
    "ServiceParams",
    "ServicePolicy",
    "StaticClientConfig",
    "StaticIdentifierConfig",
    "StaticServiceConfig",
    "SuccessRateConfig",
    "SuccessRateWindowedConfig",
    "TELEMETERS",
    "TelemeterConfig",
    "UsageConfig",
    "check_config",
    "load_entry_points",
    "load_installed_plugins",
    "parse_config",
]
