"""The configuration model: frozen dataclasses for a whole ``linkerd.yaml`` (pure).

Python attributes are snake_case with unit suffixes (``shutdown_grace_s``,
``binding_timeout_s``, ``max_headers_kb``); times are float seconds. Each
class renders itself back to Linkerd's camelCase JSON with every default
filled in (``to_json()``, served at ``/config.json``), and
``parse_config(json.dumps(c.to_json())) == c``.

Defaults are the named constants next to the classes; they are Linkerd 1.7's.
Constructing these objects does nothing but check their own fields
(``ValueError`` naming the field); whole-config rules such as conflicting
ports are in :mod:`l5d.config.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dtab import Dtab, Path
from l5d.config.access_log import AccessLogConfig
from l5d.config.client_policy import ClientConfig, GlobalClientConfig
from l5d.config.config_reload import ConfigReloadConfig
from l5d.config.dtab_store import DtabStoreConfig
from l5d.config.forwarded import ForwardedHeaderConfig
from l5d.config.identifiers import HeaderTokenIdentifierConfig, IdentifierConfig
from l5d.config.namers import NamerConfig
from l5d.config.policy import DEFAULT_GLOBAL_KIND
from l5d.config.service_policy import GlobalServiceConfig, ServiceConfig
from l5d.config.socket_options import SocketOptionsConfig
from l5d.config.telemeters import TelemeterConfig
from l5d.tls.config import ServerTlsConfig

__all__ = [
    "AdminConfig",
    "BindingCacheConfig",
    "ClientConfig",
    "DEFAULT_ADMIN_IP",
    "DEFAULT_ADMIN_PORT",
    "DEFAULT_ADMIN_TOKEN_ENV",
    "DEFAULT_BINDING_CACHE_SIZE",
    "DEFAULT_BINDING_IDLE_TTL_S",
    "DEFAULT_BINDING_TIMEOUT_S",
    "DEFAULT_BODY_IDLE_TIME_S",
    "DEFAULT_DST_PREFIX",
    "DEFAULT_GLOBAL_KIND",
    "DEFAULT_HEADER_TIMEOUT_S",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_IDENTIFIERS",
    "DEFAULT_COMPRESSION_LEVEL",
    "DEFAULT_INTERPRETER_KIND",
    "DEFAULT_MAX_CALL_DEPTH",
    "DEFAULT_MAX_ERR_RESPONSE_KB",
    "DEFAULT_MAX_HEADERS_KB",
    "DEFAULT_MAX_INITIAL_LINE_KB",
    "DEFAULT_MAX_REQUEST_KB",
    "DEFAULT_SEND_TIMEOUT_S",
    "DEFAULT_SERVER_IDLE_TIME_S",
    "DEFAULT_SERVER_IP",
    "DEFAULT_SHUTDOWN_GRACE_S",
    "DEFAULT_METRICS_SNAPSHOT_S",
    "DEFAULT_STREAM_AFTER_CONTENT_LENGTH_KB",
    "InterpreterConfig",
    "LinkerConfig",
    "RouterConfig",
    "SUPPORTED_PROTOCOLS",
    "ServerConfig",
    "ServiceConfig",
    "ServerSessionConfig",
    "UsageConfig",
]

# -- admin -------------------------------------------------------------------
DEFAULT_ADMIN_IP = "127.0.0.1"
DEFAULT_ADMIN_PORT = 9990
DEFAULT_ADMIN_TOKEN_ENV = "L5D_ADMIN_TOKEN"
DEFAULT_SHUTDOWN_GRACE_S = 10.0
#: Linkerd's histogramSnapshotInterval (a JVM flag there, a key here)
DEFAULT_METRICS_SNAPSHOT_S = 60.0

# -- servers -----------------------------------------------------------------
DEFAULT_SERVER_IP = "127.0.0.1"
DEFAULT_HTTP_PORT = 4140
#: the most ``workers`` a config may ask for
MAX_WORKERS = 256
DEFAULT_MAX_CALL_DEPTH = 1000
# l5d additions (Linkerd has no such deadlines; nginx's client_header_timeout,
# client_body_timeout and send_timeout are the models)
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_IDLE_TIME_S = 60.0
DEFAULT_SEND_TIMEOUT_S = 60.0
# serverSession.idleTimeMs: Linkerd's default is forever. Two minutes is longer than
# the idle timeout of common client pools (Go 90 s, nginx upstream 60 s), so the
# client normally closes first and never races a request against our close.
DEFAULT_SERVER_IDLE_TIME_S = 120.0

# -- routers -----------------------------------------------------------------
SUPPORTED_PROTOCOLS = ("http",)
#: ``tracePropagator`` kinds (Linkerd's HTTP ones): l5d-ctx-trace, or Zipkin's B3 headers
DEFAULT_TRACE_PROPAGATOR = "io.l5d.default"
TRACE_PROPAGATORS = (DEFAULT_TRACE_PROPAGATOR, "io.l5d.zipkin")
DEFAULT_DST_PREFIX = Path.of("svc")
DEFAULT_IDENTIFIERS: tuple[IdentifierConfig, ...] = (HeaderTokenIdentifierConfig(),)
DEFAULT_INTERPRETER_KIND = "default"
DEFAULT_COMPRESSION_LEVEL = -1
DEFAULT_BINDING_TIMEOUT_S = 10.0
DEFAULT_BINDING_CACHE_SIZE = 1000
DEFAULT_BINDING_IDLE_TTL_S = 600.0
DEFAULT_MAX_HEADERS_KB = 8
DEFAULT_MAX_INITIAL_LINE_KB = 4
DEFAULT_MAX_ERR_RESPONSE_KB = 5120
DEFAULT_STREAM_AFTER_CONTENT_LENGTH_KB = 5
# maxRequestKB (removed from Linkerd in 1.7, when fixed-length bodies became
# limited to 2 GiB - 1 byte); l5d applies it to every request body.
DEFAULT_MAX_REQUEST_KB = 2 * 1024 * 1024


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _require(ok: bool, name: str, value: object, what: str) -> None:
    if not ok:
        raise ValueError(f"{name}: expected {what}, got {value!r}")


def _check_port(name: str, value: object) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535,
             name, value, "a port number (0-65535)")


def _check_count(name: str, value: object) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
             name, value, "an integer >= 0")


def _check_seconds(name: str, value: object) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
             name, value, "seconds >= 0")


def _check_positive_seconds(name: str, value: object) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
             name, value, "seconds > 0")


def _check_optional_positive(name: str, value: object) -> None:
    ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
    _require(ok, name, value, "None or an integer > 0")


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The admin HTTP server (``admin``), loopback-only by default.

    :param shutdown_grace_s: ``shutdownGraceMs``; how long ``/admin/shutdown``
        lets in-flight requests finish.
    :param metrics_snapshot_s: ``metricsSnapshotIntervalMs``; histograms in the admin's
        metrics and Prometheus read from a window this long (0: the window since the
        previous read).
    :param token_file: ``tokenFile``: a file holding the bearer token admin writes need
        (read once at start; surrounding whitespace dropped).
    :param token_env: ``tokenEnv``: the environment variable holding the token when no
        ``tokenFile`` is written.
    :param read_only: ``readOnly``: refuse every admin write, token or not.
    :param allowed_hosts: ``allowedHosts``: host names the ``Host`` header may carry
        besides IP literals and ``localhost`` (DNS rebinding defence).
    """

    ip: str = DEFAULT_ADMIN_IP
    port: int = DEFAULT_ADMIN_PORT
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    metrics_snapshot_s: float = DEFAULT_METRICS_SNAPSHOT_S
    token_file: str | None = None
    token_env: str = DEFAULT_ADMIN_TOKEN_ENV
    read_only: bool = False
    allowed_hosts: tuple[str, ...] = ()
    tls: ServerTlsConfig | None = None

    def __post_init__(self) -> None:
        _check_port("port", self.port)
        _require(self.tls is None or isinstance(self.tls, ServerTlsConfig), "tls", self.tls,
                 "None or a ServerTlsConfig")
        _check_seconds("shutdown_grace_s", self.shutdown_grace_s)
        _check_seconds("metrics_snapshot_s", self.metrics_snapshot_s)
        if self.token_file is not None and (not isinstance(self.token_file, str)
                                            or not self.token_file):
            raise ValueError(f"tokenFile: expected a file name, got {self.token_file!r}")
        if not isinstance(self.token_env, str) or not self.token_env or "=" in self.token_env:
            raise ValueError(f"tokenEnv: expected a variable name, got {self.token_env!r}")
        if not isinstance(self.read_only, bool):
            raise ValueError(f"readOnly: expected a boolean, got {self.read_only!r}")
        if not isinstance(self.allowed_hosts, tuple) or not all(
                isinstance(h, str) and h and h == h.strip() for h in self.allowed_hosts):
            raise ValueError(f"allowedHosts: expected a tuple of host names, "
                             f"got {self.allowed_hosts!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ip": self.ip, "port": self.port, "shutdownGraceMs": _ms(self.shutdown_grace_s),
            "metricsSnapshotIntervalMs": _ms(self.metrics_snapshot_s)}
        if self.token_file is not None:
            out["tokenFile"] = self.token_file
        out.update(tokenEnv=self.token_env, readOnly=self.read_only,
                   allowedHosts=list(self.allowed_hosts))
        if self.tls is not None:
            out["tls"] = self.tls.to_json()
        return out


@dataclass(frozen=True, slots=True)
class ServerSessionConfig:
    """Client connection lifetime (``serverSession``).

    :param idle_time_s: ``idleTimeMs``; a keep-alive connection with no request in
        flight for this long is closed.
    :param life_time_s: ``lifeTimeMs``; a connection older than this is closed after its
        current response (``None``: forever, Linkerd's default).
    """

    idle_time_s: float = DEFAULT_SERVER_IDLE_TIME_S
    life_time_s: float | None = None

    def __post_init__(self) -> None:
        _check_positive_seconds("idle_time_s", self.idle_time_s)
        if self.life_time_s is not None:
            _check_positive_seconds("life_time_s", self.life_time_s)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"idleTimeMs": _ms(self.idle_time_s)}
        if self.life_time_s is not None:
            out["lifeTimeMs"] = _ms(self.life_time_s)
        return out


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One listener of a router (``routers[i].servers[j]``).

    :param max_call_depth: ``maxCallDepth``; more ``Via`` entries than this is a 400.
    :param clear_context: ``clearContext``; strip ``l5d-*`` context (edge servers).
    :param max_concurrent_requests: ``maxConcurrentRequests``; requests over it get a 503
        (``None``: unlimited, Linkerd's default).
    :param session: ``serverSession``.
    :param header_timeout_s: ``headerTimeoutMs`` (l5d); a request head not complete this
        long after its first byte is answered 408.
    :param body_idle_time_s: ``bodyIdleTimeMs`` (l5d); a request body that stalls this long
        is answered 408 (or the connection is cut once the response has started).
    :param send_timeout_s: ``sendTimeoutMs`` (l5d); a client that takes no response byte for
        this long while we have some to send is disconnected.
    :param max_connections: ``maxConnections`` (l5d); connections over it are closed at once
        (``None``: unlimited).
    """

    port: int = DEFAULT_HTTP_PORT
    ip: str = DEFAULT_SERVER_IP
    max_call_depth: int = DEFAULT_MAX_CALL_DEPTH
    clear_context: bool = False
    max_concurrent_requests: int | None = None
    session: ServerSessionConfig = field(default_factory=ServerSessionConfig)
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_idle_time_s: float = DEFAULT_BODY_IDLE_TIME_S
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    max_connections: int | None = None
    socket_options: SocketOptionsConfig | None = None
    add_forwarded_header: ForwardedHeaderConfig | None = None
    tls: ServerTlsConfig | None = None

    def __post_init__(self) -> None:
        _check_port("port", self.port)
        _require(self.tls is None or isinstance(self.tls, ServerTlsConfig), "tls", self.tls,
                 "None or a ServerTlsConfig")
        _check_count("max_call_depth", self.max_call_depth)
        _check_optional_positive("max_concurrent_requests", self.max_concurrent_requests)
        _check_optional_positive("max_connections", self.max_connections)
        for name in ("header_timeout_s", "body_idle_time_s", "send_timeout_s"):
            _check_positive_seconds(name, getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "port": self.port,
            "ip": self.ip,
            "maxCallDepth": self.max_call_depth,
            "clearContext": self.clear_context,
        }
        if self.max_concurrent_requests is not None:
            out["maxConcurrentRequests"] = self.max_concurrent_requests
        out["serverSession"] = self.session.to_json()
        out["headerTimeoutMs"] = _ms(self.header_timeout_s)
        out["bodyIdleTimeMs"] = _ms(self.body_idle_time_s)
        out["sendTimeoutMs"] = _ms(self.send_timeout_s)
        if self.max_connections is not None:
            out["maxConnections"] = self.max_connections
        if self.socket_options is not None:
            out["socketOptions"] = self.socket_options.to_json()
        if self.add_forwarded_header is not None:
            out["addForwardedHeader"] = self.add_forwarded_header.to_json()
        if self.tls is not None:
            out["tls"] = self.tls.to_json()
        return out


@dataclass(frozen=True, slots=True)
class BindingCacheConfig:
    """Sizes of the four binding caches and the idle expiry (``bindingCache``)."""

    paths: int = DEFAULT_BINDING_CACHE_SIZE
    trees: int = DEFAULT_BINDING_CACHE_SIZE
    bounds: int = DEFAULT_BINDING_CACHE_SIZE
    clients: int = DEFAULT_BINDING_CACHE_SIZE
    idle_ttl_s: float = DEFAULT_BINDING_IDLE_TTL_S

    def __post_init__(self) -> None:
        for name in ("paths", "trees", "bounds", "clients"):
            _check_count(name, getattr(self, name))
        _check_seconds("idle_ttl_s", self.idle_ttl_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "trees": self.trees,
            "bounds": self.bounds,
            "clients": self.clients,
            "idleTtlSecs": round(self.idle_ttl_s),
        }


@dataclass(frozen=True, slots=True)
class InterpreterConfig:
    """How a router binds names (``interpreter``). Only ``default`` exists:
    the router's dtab, the configured namers and the ``/$/`` namers, then
    ``transformers`` (in order) on every bound tree."""

    kind: str = DEFAULT_INTERPRETER_KIND
    transformers: tuple = ()

    def __post_init__(self) -> None:
        from l5d.config.transformers import TransformerConfig

        _require(self.kind == DEFAULT_INTERPRETER_KIND, "kind", self.kind, '"default"')
        _require(isinstance(self.transformers, tuple) and all(
            isinstance(t, TransformerConfig) for t in self.transformers),
            "transformers", self.transformers, "a tuple of transformer configs")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "transformers": [t.to_json() for t in self.transformers]}


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterConfig:
    """One router (``routers[i]``). Keyword-only, in Linkerd's key order.

    Only ``label`` and the server addresses are used today (for the
    cross-checks); the rest is parsed and validated now and takes effect when
    the HTTP router lands.

    :param dtab: the base dtab, parsed; ``dtab_text`` keeps the text as written
        (it does not take part in equality, so a dtab reformatted by
        ``to_json`` still compares equal).
    :param identifiers: ``identifier``; tried in order until one identifies.
    :param service: ``service``; per-service policy, keyed by the logical name
        (:mod:`l5d.config.service_policy`; ``service.params_for(name)``).
    :param client: ``client``; per-client policy, keyed by the bound id
        (:mod:`l5d.config.client_policy`; ``client.params_for(client_id)``).
    :param access_log: ``httpAccessLog`` and its roll keys
        (:mod:`l5d.config.access_log`), or ``None``: no access log.
    :param trace_propagator: ``tracePropagator``'s ``kind`` (:data:`TRACE_PROPAGATORS`).
    :param experimental: ``experimental`` (Linkerd's gate for experimental protocols;
        nothing l5d routes needs it, so it is kept only for ``/config.json``).
    :param originator: ``originator``; kept for ``/config.json`` (no gauge; docs/compat.md).
    :param compression_level: ``compressionLevel`` (-1 to 9); l5d forwards bodies as they
        come and never compresses, so it has no effect (docs/compat.md).
    """

    protocol: str
    label: str = ""
    servers: tuple[ServerConfig, ...]
    dtab: Dtab = field(default_factory=Dtab)
    dst_prefix: Path = DEFAULT_DST_PREFIX
    identifiers: tuple[IdentifierConfig, ...] = DEFAULT_IDENTIFIERS
    interpreter: InterpreterConfig = field(default_factory=InterpreterConfig)
    binding_timeout_s: float = DEFAULT_BINDING_TIMEOUT_S
    binding_cache: BindingCacheConfig = field(default_factory=BindingCacheConfig)
    max_headers_kb: int = DEFAULT_MAX_HEADERS_KB
    max_initial_line_kb: int = DEFAULT_MAX_INITIAL_LINE_KB
    max_err_response_kb: int = DEFAULT_MAX_ERR_RESPONSE_KB
    stream_after_content_length_kb: int = DEFAULT_STREAM_AFTER_CONTENT_LENGTH_KB
    max_request_kb: int = DEFAULT_MAX_REQUEST_KB
    service: ServiceConfig = field(default_factory=GlobalServiceConfig)
    client: ClientConfig = field(default_factory=GlobalClientConfig)
    access_log: AccessLogConfig | None = None
    trace_propagator: str = DEFAULT_TRACE_PROPAGATOR
    dtab_text: str = field(default="", compare=False)
    experimental: bool = False
    originator: bool = False
    compression_level: int = DEFAULT_COMPRESSION_LEVEL

    def __post_init__(self) -> None:
        _require(self.protocol in SUPPORTED_PROTOCOLS, "protocol", self.protocol, "http")
        if not self.label:
            object.__setattr__(self, "label", self.protocol)
        _require(isinstance(self.servers, tuple) and len(self.servers) > 0,
                 "servers", self.servers, "a non-empty tuple")
        _require(isinstance(self.identifiers, tuple) and len(self.identifiers) > 0,
                 "identifiers", self.identifiers, "a non-empty tuple")
        _check_seconds("binding_timeout_s", self.binding_timeout_s)
        _require(self.access_log is None or isinstance(self.access_log, AccessLogConfig),
                 "access_log", self.access_log, "an AccessLogConfig or None")
        _require(self.trace_propagator in TRACE_PROPAGATORS, "trace_propagator",
                 self.trace_propagator, " or ".join(TRACE_PROPAGATORS))
        for name in ("max_headers_kb", "max_initial_line_kb", "max_err_response_kb",
                     "stream_after_content_length_kb", "max_request_kb"):
            _check_count(name, getattr(self, name))
        _require(isinstance(self.compression_level, int)
                 and -1 <= self.compression_level <= 9, "compression_level",
                 self.compression_level, "an integer from -1 to 9")
        if not self.dtab_text and self.dtab:
            object.__setattr__(self, "dtab_text", self.dtab.show())

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "label": self.label,
            "servers": [s.to_json() for s in self.servers],
            "dtab": self.dtab.show(),
            "dstPrefix": self.dst_prefix.show(),
            "identifier": [i.to_json() for i in self.identifiers],
            "interpreter": self.interpreter.to_json(),
            "bindingTimeoutMs": _ms(self.binding_timeout_s),
            "bindingCache": self.binding_cache.to_json(),
            "maxHeadersKB": self.max_headers_kb,
            "maxInitialLineKB": self.max_initial_line_kb,
            "maxErrResponseKB": self.max_err_response_kb,
            "streamAfterContentLengthKB": self.stream_after_content_length_kb,
            "maxRequestKB": self.max_request_kb,
            "service": self.service.to_json(),
            "client": self.client.to_json(),
            **(self.access_log.to_json() if self.access_log is not None else {}),
            "tracePropagator": {"kind": self.trace_propagator},
            "experimental": self.experimental,
            "originator": self.originator,
            "compressionLevel": self.compression_level,
        }


@dataclass(frozen=True, slots=True)
class UsageConfig:
    """Linkerd's ``usage`` section (``orgId``, ``enabled``).

    Linkerd 1.x sent an hourly anonymous usage report to Buoyant unless
    ``enabled: false``. The keys are accepted so Linkerd configs carry over,
    and kept here so ``/config.json`` shows them, but **l5d never phones
    home**, whatever they say.
    """

    org_id: str | None = None
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.org_id is not None:
            out["orgId"] = self.org_id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkerConfig:
    """A whole ``linkerd.yaml``. Keyword-only, in Linkerd's key order."""

    admin: AdminConfig = field(default_factory=AdminConfig)
    routers: tuple[RouterConfig, ...]
    namers: tuple[NamerConfig, ...] = ()
    telemetry: tuple[TelemeterConfig, ...] = ()
    usage: UsageConfig = field(default_factory=UsageConfig)
    dtab_store: DtabStoreConfig = field(default_factory=DtabStoreConfig)
    config_reload: ConfigReloadConfig = field(default_factory=ConfigReloadConfig)
    #: ``workers``: how many router processes (``None``: ``auto``, the CPUs l5d may use);
    #: more than one adds a control process (docs/workers.md)
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(
                self.workers, int) or not 1 <= self.workers <= MAX_WORKERS):
            raise ValueError(f"workers: expected auto or an integer 1..{MAX_WORKERS}, "
                             f"got {self.workers!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "admin": self.admin.to_json(),
            "routers": [r.to_json() for r in self.routers],
            "namers": [n.to_json() for n in self.namers],
            "telemetry": [t.to_json() for t in self.telemetry],
            "usage": self.usage.to_json(),
            "dtabStore": self.dtab_store.to_json(),
            "configReload": self.config_reload.to_json(),
            "workers": "auto" if self.workers is None else self.workers,
        }
