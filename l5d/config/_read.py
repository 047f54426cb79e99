"""From a located document to :class:`~l5d.config.model.LinkerConfig` (pure).

One small reader per config object, each naming Linkerd's camelCase keys and
the defaults from :mod:`l5d.config.model`. Plugin objects (namers,
identifiers, telemeters) are dispatched on ``kind`` through their registry
and read by the plugin class's own ``from_fields``.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from dtab import Dtab, DtabParseError
from l5d.config._fields import REQUIRED, Context, Fields, path_error
from l5d.config._node import Node, describe
from l5d.config._hints import dtab_comment_hint, null_value_hint
from l5d.config.errors import ConfigError, NoRoutersSpecified
from l5d.config.model import (
    MAX_WORKERS,
    DEFAULT_ADMIN_IP,
    DEFAULT_ADMIN_PORT,
    DEFAULT_ADMIN_TOKEN_ENV,
    DEFAULT_BINDING_CACHE_SIZE,
    DEFAULT_BINDING_IDLE_TTL_S,
    DEFAULT_BINDING_TIMEOUT_S,
    DEFAULT_BODY_IDLE_TIME_S,
    DEFAULT_COMPRESSION_LEVEL,
    DEFAULT_DST_PREFIX,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_HTTP_PORT,
    DEFAULT_IDENTIFIERS,
    DEFAULT_INTERPRETER_KIND,
    DEFAULT_MAX_CALL_DEPTH,
    DEFAULT_MAX_ERR_RESPONSE_KB,
    DEFAULT_MAX_HEADERS_KB,
    DEFAULT_MAX_INITIAL_LINE_KB,
    DEFAULT_MAX_REQUEST_KB,
    DEFAULT_SEND_TIMEOUT_S,
    DEFAULT_SERVER_IDLE_TIME_S,
    DEFAULT_SERVER_IP,
    DEFAULT_SHUTDOWN_GRACE_S,
    DEFAULT_METRICS_SNAPSHOT_S,
    DEFAULT_STREAM_AFTER_CONTENT_LENGTH_KB,
    SUPPORTED_PROTOCOLS,
    DEFAULT_TRACE_PROPAGATOR,
    TRACE_PROPAGATORS,
    AdminConfig,
    BindingCacheConfig,
    InterpreterConfig,
    LinkerConfig,
    RouterConfig,
    ServerConfig,
    ServerSessionConfig,
    UsageConfig,
)
from l5d.config._kinds import make as _make, read_plugin, read_plugins, unknown_kind
from l5d.config.compat import UNSUPPORTED_PROTOCOLS, unsupported_message
from l5d.config.access_log import KEYS as ACCESS_LOG_KEYS, read_access_log
from l5d.config.client_policy import GlobalClientConfig, read_client
from l5d.config.config_reload import ConfigReloadConfig, read_config_reload
from l5d.config.dtab_store import DtabStoreConfig, read_dtab_store
from l5d.config.forwarded import read_forwarded
from l5d.config.socket_options import read_socket_options
from l5d.config.plugins import Plugins
from l5d.config.service_policy import GlobalServiceConfig, read_service
from l5d.config.transformers import read_transformers
from l5d.tls.config import read_server_tls

__all__ = ["read_linker", "read_plugin"]

T = TypeVar("T")


def read_linker(node: Node, ctx: Context, plugins: Plugins) -> LinkerConfig:
    """The whole document. Cross-checks are not run here (see :mod:`l5d.config.checks`)."""
    if not node.is_mapping:
        raise ctx.error(f"expected a mapping at the top level, got {describe(node)}", "", node)
    f = ctx.fields(node, "").expect("admin", "routers", "namers", "telemetry", "usage",
                                    "dtabStore", "configReload", "workers")
    admin_fields = f.mapping("admin")
    admin = AdminConfig() if admin_fields is None else ctx.attempt(
        lambda: _admin(admin_fields), AdminConfig())
    if f.raw("routers") is None:
        if f.written("routers"):
            raise f.error("expected a list, got null", "routers")
        raise f.error('missing required key "routers"', cls=NoRoutersSpecified)
    routers = _each(ctx, f.sequence("routers"), lambda g: _router(g, plugins))
    namers = read_plugins(plugins.namers, ctx, f.sequence("namers"))
    telemetry = read_plugins(plugins.telemeters, ctx, f.sequence("telemetry"))
    usage_fields = f.mapping("usage")
    usage = UsageConfig() if usage_fields is None else ctx.attempt(
        lambda: _usage(usage_fields), UsageConfig())
    store_fields = f.mapping("dtabStore")
    dtab_store = DtabStoreConfig() if store_fields is None else ctx.attempt(
        lambda: read_dtab_store(store_fields), DtabStoreConfig())
    reload_fields = f.mapping("configReload")
    config_reload = ConfigReloadConfig() if reload_fields is None else ctx.attempt(
        lambda: read_config_reload(reload_fields), ConfigReloadConfig())
    workers = ctx.attempt(lambda: _workers(f), None)
    return _make(f, LinkerConfig, admin=admin, routers=routers, namers=namers,
                 telemetry=telemetry, usage=usage, dtab_store=dtab_store,
                 config_reload=config_reload, workers=workers)


def _workers(f: Fields) -> int | None:
    """``workers``: ``auto`` (the default: the CPUs l5d may use) or a number of processes."""
    node = f.raw("workers")
    if node is None or node.value == "auto":
        return None
    if isinstance(node.value, str):
        raise f.error(f"expected auto or an integer, got {describe(node)}", "workers")
    return f.integer("workers", minimum=1, maximum=MAX_WORKERS)


def _each(ctx: Context, items: tuple[tuple[Node, str], ...],
          read: Callable[[Fields], T]) -> tuple[T, ...]:
    """Every object of a list read with ``read``; one that cannot be read is reported
    and left out, and reading goes on with the next."""
    out = []
    for node, path in items:
        value = ctx.attempt(lambda: read(ctx.fields(node, path)), None)
        if value is not None:
            out.append(value)
    return tuple(out)


def _admin(f: Fields) -> AdminConfig:
    f.expect("ip", "port", "shutdownGraceMs", "metricsSnapshotIntervalMs", "tokenFile",
             "tokenEnv", "readOnly", "allowedHosts", "socketOptions", "workerThreads",
             "tls")
    # checked for Linkerd configs; without effect on the admin (docs/compat.md)
    f.ctx.attempt(lambda: read_socket_options(f), None)
    f.integer("workerThreads", None, minimum=1)
    tls = f.mapping("tls")
    return _make(
        f, AdminConfig,
        ip=f.ip("ip", DEFAULT_ADMIN_IP),
        port=f.port("port", DEFAULT_ADMIN_PORT),
        shutdown_grace_s=f.millis("shutdownGraceMs", DEFAULT_SHUTDOWN_GRACE_S),
        metrics_snapshot_s=f.millis("metricsSnapshotIntervalMs", DEFAULT_METRICS_SNAPSHOT_S),
        token_file=f.string("tokenFile", None),
        token_env=f.string("tokenEnv", DEFAULT_ADMIN_TOKEN_ENV),
        read_only=f.boolean("readOnly", False),
        allowed_hosts=_host_names(f, "allowedHosts"),
        tls=None if tls is None else f.ctx.attempt(lambda: read_server_tls(tls), None),
    )


def _host_names(f: Fields, key: str) -> tuple[str, ...]:
    """A list of host names (no port, no spaces), lower-cased."""
    names = []
    for node, path in f.sequence(key):
        value = node.value
        if not isinstance(value, str) or not value or any(c in value for c in " /:@\t"):
            shown = describe(node)
            raise f.ctx.error(f"expected a host name (no port, scheme or spaces), got {shown}",
                              path, node)
        names.append(value.lower())
    return tuple(names)


def _server(f: Fields) -> ServerConfig:
    f.expect("port", "ip", "maxCallDepth", "clearContext", "maxConcurrentRequests",
             "serverSession", "headerTimeoutMs", "bodyIdleTimeMs", "sendTimeoutMs",
             "maxConnections", "socketOptions", "addForwardedHeader", "tls")
    tls = f.mapping("tls")
    session_fields = f.mapping("serverSession")
    session = ServerSessionConfig() if session_fields is None else _server_session(session_fields)
    return _make(
        f, ServerConfig,
        port=f.port("port", DEFAULT_HTTP_PORT),
        ip=f.ip("ip", DEFAULT_SERVER_IP),
        max_call_depth=f.integer("maxCallDepth", DEFAULT_MAX_CALL_DEPTH),
        clear_context=f.boolean("clearContext", False),
        max_concurrent_requests=f.integer("maxConcurrentRequests", None, minimum=1),
        session=session,
        header_timeout_s=_positive_millis(f, "headerTimeoutMs", DEFAULT_HEADER_TIMEOUT_S),
        body_idle_time_s=_positive_millis(f, "bodyIdleTimeMs", DEFAULT_BODY_IDLE_TIME_S),
        send_timeout_s=_positive_millis(f, "sendTimeoutMs", DEFAULT_SEND_TIMEOUT_S),
        max_connections=f.integer("maxConnections", None, minimum=1),
        socket_options=f.ctx.attempt(lambda: read_socket_options(f), None),
        add_forwarded_header=f.ctx.attempt(lambda: read_forwarded(f), None),
        tls=None if tls is None else f.ctx.attempt(lambda: read_server_tls(tls), None),
    )


def _server_session(f: Fields) -> ServerSessionConfig:
    f.expect("idleTimeMs", "lifeTimeMs")
    life_ms = f.integer("lifeTimeMs", None, minimum=1)
    return _make(
        f, ServerSessionConfig,
        idle_time_s=_positive_millis(f, "idleTimeMs", DEFAULT_SERVER_IDLE_TIME_S),
        life_time_s=None if life_ms is None else life_ms / 1000.0,
    )


def _positive_millis(f: Fields, key: str, default_s: float) -> float:
    """A ``...Ms`` key that must be at least 1 ms."""
    ms = f.integer(key, None, minimum=1)
    return default_s if ms is None else ms / 1000.0


def _router(f: Fields, plugins: Plugins) -> RouterConfig:
    ctx = f.ctx
    protocol = f.string("protocol")
    if protocol not in SUPPORTED_PROTOCOLS:
        f.ignore_rest()  # the protocol is the error, not the keys of an h2 or thrift router
        reason = UNSUPPORTED_PROTOCOLS.get(protocol)
        if reason is not None:
            raise f.error(unsupported_message(f'protocol "{protocol}"', reason), "protocol")
        supported = ", ".join(SUPPORTED_PROTOCOLS)
        raise f.error(f'unsupported protocol "{protocol}" (supported: {supported})', "protocol")
    f.expect(
        "protocol", "label", "servers", "dtab", "dstPrefix", "identifier", "interpreter",
        "bindingTimeoutMs", "bindingCache", "maxHeadersKB", "maxInitialLineKB",
        "maxErrResponseKB", "streamAfterContentLengthKB", "maxRequestKB",
        "service", "client", *ACCESS_LOG_KEYS, "tracePropagator", "experimental",
        "originator", "compressionLevel",
    )
    label = f.string("label", protocol)
    servers = _each(ctx, f.sequence("servers", REQUIRED, non_empty=True), _server)
    dtab, dtab_text = ctx.attempt(lambda: _dtab(f), (Dtab(), ""))
    dst_prefix = f.path("dstPrefix", DEFAULT_DST_PREFIX)
    identifiers = read_plugins(
        plugins.identifiers, ctx,
        f.sequence("identifier", None, one_or_many=True, non_empty=True) or (),
    ) or DEFAULT_IDENTIFIERS
    interpreter_fields = f.mapping("interpreter")
    interpreter = InterpreterConfig() if interpreter_fields is None \
        else ctx.attempt(lambda: _interpreter(interpreter_fields), InterpreterConfig())
    cache_fields = f.mapping("bindingCache")
    binding_cache = BindingCacheConfig() if cache_fields is None else ctx.attempt(
        lambda: _binding_cache(cache_fields), BindingCacheConfig())
    return _make(
        f, RouterConfig,
        protocol=protocol,
        label=label,
        servers=servers,
        dtab=dtab,
        dtab_text=dtab_text,
        dst_prefix=dst_prefix,
        identifiers=identifiers,
        interpreter=interpreter,
        binding_timeout_s=f.millis("bindingTimeoutMs", DEFAULT_BINDING_TIMEOUT_S),
        binding_cache=binding_cache,
        max_headers_kb=f.integer("maxHeadersKB", DEFAULT_MAX_HEADERS_KB),
        max_initial_line_kb=f.integer("maxInitialLineKB", DEFAULT_MAX_INITIAL_LINE_KB),
        max_err_response_kb=f.integer("maxErrResponseKB", DEFAULT_MAX_ERR_RESPONSE_KB),
        stream_after_content_length_kb=f.integer(
            "streamAfterContentLengthKB", DEFAULT_STREAM_AFTER_CONTENT_LENGTH_KB
        ),
        max_request_kb=f.integer("maxRequestKB", DEFAULT_MAX_REQUEST_KB, minimum=1),
        service=ctx.attempt(lambda: read_service(f), GlobalServiceConfig()),
        client=ctx.attempt(lambda: read_client(f), GlobalClientConfig()),
        access_log=ctx.attempt(lambda: read_access_log(f), None),
        trace_propagator=ctx.attempt(lambda: _trace_propagator(f), DEFAULT_TRACE_PROPAGATOR),
        experimental=f.boolean("experimental", False),
        originator=f.boolean("originator", False),
        compression_level=f.integer("compressionLevel", DEFAULT_COMPRESSION_LEVEL, minimum=-1,
                                    maximum=9),
    )


def _trace_propagator(f: Fields) -> str:
    """``tracePropagator: {kind: ...}`` (Linkerd's HTTP propagators; no other keys)."""
    p = f.mapping("tracePropagator")
    if p is None:
        return DEFAULT_TRACE_PROPAGATOR
    p.expect("kind")
    kind = p.string("kind")
    if kind not in TRACE_PROPAGATORS:
        raise p.error(f'unknown kind "{kind}" (known kinds: {", ".join(TRACE_PROPAGATORS)})',
                      "kind")
    return kind


def _dtab(f: Fields) -> tuple[Dtab, str]:
    """The base dtab, parsed; a parse error points into the YAML at the bad character."""
    node = f.raw("dtab")
    if node is None:
        entry = f.entry("dtab")
        hint = None if entry is None else null_value_hint(entry[0], f.ctx.lines)
        if hint is not None:
            raise f.error(hint, "dtab")
        return Dtab(), ""
    if not isinstance(node.value, str):
        raise f.error(f"expected a string, got {describe(node)}", "dtab")
    try:
        return Dtab.read(node.value), node.value
    except DtabParseError as err:
        error = path_error(f.ctx, node, f.key_path("dtab"), err)
        hint = dtab_comment_hint(node, err.position, f.ctx.lines)
        if hint is not None:
            error = ConfigError(f"{error.message} ({hint})", key_path=error.key_path,
                                line=error.line, column=error.column, source=error.source)
        raise error from None


def _interpreter(f: Fields) -> InterpreterConfig:
    kind = f.string("kind", DEFAULT_INTERPRETER_KIND)
    if kind != DEFAULT_INTERPRETER_KIND:  # the kind first: a namerd interpreter's keys are not ours
        raise unknown_kind(f, "interpreter", kind, (DEFAULT_INTERPRETER_KIND,))
    f.expect("kind", "transformers")
    return _make(f, InterpreterConfig, transformers=read_transformers(f))


def _binding_cache(f: Fields) -> BindingCacheConfig:
    f.expect("paths", "trees", "bounds", "clients", "idleTtlSecs")
    return _make(
        f, BindingCacheConfig,
        paths=f.integer("paths", DEFAULT_BINDING_CACHE_SIZE),
        trees=f.integer("trees", DEFAULT_BINDING_CACHE_SIZE),
        bounds=f.integer("bounds", DEFAULT_BINDING_CACHE_SIZE),
        clients=f.integer("clients", DEFAULT_BINDING_CACHE_SIZE),
        idle_ttl_s=f.seconds("idleTtlSecs", DEFAULT_BINDING_IDLE_TTL_S),
    )


def _usage(f: Fields) -> UsageConfig:
    f.expect("orgId", "enabled")
    return UsageConfig(org_id=f.string("orgId", None), enabled=f.boolean("enabled", True))
