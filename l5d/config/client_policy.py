"""Per-client policy: the ``client`` object of a router (pure).

Keys and defaults are Linkerd's (``linkerd/docs/routers.md``, "Client Parameters"),
except where Linkerd's default is unbounded (see :class:`HostConnectionPoolConfig`).
``socketOptions``, ``requestAuthorizers`` and ``forwardClientCert`` are
not accepted yet (an "unknown key" error). ``tls`` is :mod:`l5d.tls.config`'s; its
``commonName`` gets the ``{var}`` captures of the entry that wrote it. How
``io.l5d.static`` entries combine is in :mod:`l5d.config.policy`;
``client.params_for(bound_id)`` gives a :class:`ClientParams` with everything resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from dtab import Path
from l5d.config._check import check_int, check_optional_seconds, check_seconds, ms, require
from l5d.config._fields import Fields
from l5d.config._kinds import make, read_plugin
from l5d.config.socket_options import read_socket_options
from l5d.config.accrual import DEFAULT_FAILURE_ACCRUAL, FAILURE_ACCRUALS, FailureAccrualConfig
from l5d.config.balancers import DEFAULT_LOAD_BALANCER, LOAD_BALANCERS, LoadBalancerConfig
from l5d.config.policy import (
    DEFAULT_GLOBAL_KIND, STATIC_KIND, PolicyConfig, compile_prefix, read_policy, read_prefix,
)
from l5d.config.retries import RetryBudgetConfig, read_budget
from l5d.router.pathmatch import PathMatcher
from l5d.tls.config import ClientTlsConfig, read_client_tls

__all__ = [
    "CLIENT_KEYS",
    "ClientConfig",
    "ClientParams",
    "ClientPolicy",
    "ClientSessionConfig",
    "DEFAULT_POOL_IDLE_TIME_S",
    "DEFAULT_POOL_MAX_SIZE",
    "DEFAULT_POOL_MAX_WAITERS",
    "DEFAULT_POOL_MIN_SIZE",
    "GlobalClientConfig",
    "HostConnectionPoolConfig",
    "StaticClientConfig",
    "read_client",
]

DEFAULT_POOL_MIN_SIZE = 0
# Linkerd's maxSize and maxWaiters are Int.MaxValue (unbounded). l5d bounds both, with
# Envoy's circuit-breaker defaults (max_connections, max_pending_requests: 1024): far
# above what one healthy backend takes, low enough to keep one slow backend from
# eating every file descriptor and queueing requests without end.
DEFAULT_POOL_MAX_SIZE = 1024
DEFAULT_POOL_MAX_WAITERS = 1024
# Linkerd's idleTimeMs is forever. 60 s is below l5d's own server idle timeout (120 s),
# so on a 4140 -> 4141 hop l5d never reuses a connection the far side is closing.
DEFAULT_POOL_IDLE_TIME_S = 60.0

#: the parameter keys of a client block (``prefix`` added in static entries)
CLIENT_KEYS = ("loadBalancer", "failureAccrual", "requeueBudget", "requestAttemptTimeoutMs",
               "hostConnectionPool", "failFast", "clientSession", "socketOptions",
               "tls")


@dataclass(frozen=True, slots=True)
class HostConnectionPoolConfig:
    """Connections to each endpoint (``hostConnectionPool``, Finagle's ``DefaultPool``).

    :param min_size: ``minSize``; connections kept open even when idle.
    :param max_size: ``maxSize``; most connections open at once.
    :param idle_time_s: ``idleTimeMs``; a connection above ``min_size`` idle this long
        is closed.
    :param max_waiters: ``maxWaiters``; requests that may wait for a connection when
        ``max_size`` are busy (more fail at once).
    """

    min_size: int = DEFAULT_POOL_MIN_SIZE
    max_size: int = DEFAULT_POOL_MAX_SIZE
    idle_time_s: float = DEFAULT_POOL_IDLE_TIME_S
    max_waiters: int = DEFAULT_POOL_MAX_WAITERS

    def __post_init__(self) -> None:
        check_int("min_size", self.min_size, minimum=0)
        check_int("max_size", self.max_size, minimum=max(1, self.min_size))
        check_seconds("idle_time_s", self.idle_time_s)
        check_int("max_waiters", self.max_waiters, minimum=0)

    @classmethod
    def from_fields(cls, f: Fields) -> "HostConnectionPoolConfig":
        """Keys left out take the defaults; with ``maxSize`` left out it is at least ``minSize``."""
        f.expect("minSize", "maxSize", "idleTimeMs", "maxWaiters")
        low = f.integer("minSize", DEFAULT_POOL_MIN_SIZE)
        idle_ms = f.integer("idleTimeMs", None)
        return make(
            f, cls,
            min_size=low,
            max_size=f.integer("maxSize", max(DEFAULT_POOL_MAX_SIZE, low), minimum=max(1, low)),
            idle_time_s=DEFAULT_POOL_IDLE_TIME_S if idle_ms is None else idle_ms / 1000.0,
            max_waiters=f.integer("maxWaiters", DEFAULT_POOL_MAX_WAITERS),
        )

    def to_json(self) -> dict[str, Any]:
        return {"minSize": self.min_size, "maxSize": self.max_size,
                "idleTimeMs": ms(self.idle_time_s), "maxWaiters": self.max_waiters}


@dataclass(frozen=True, slots=True)
class ClientSessionConfig:
    """Connection lifetime (``clientSession``, Finagle's ``ExpiringService``).

    :param idle_time_s: ``idleTimeMs``; close a connection idle this long (``None``:
        never, Linkerd's default).
    :param life_time_s: ``lifeTimeMs``; close a connection this old (``None``: never).
    """

    idle_time_s: float | None = None
    life_time_s: float | None = None

    def __post_init__(self) -> None:
        check_optional_seconds("idle_time_s", self.idle_time_s)
        check_optional_seconds("life_time_s", self.life_time_s)

    @classmethod
    def from_fields(cls, f: Fields) -> "ClientSessionConfig":
        f.expect("idleTimeMs", "lifeTimeMs")
        return cls(idle_time_s=_optional_ms(f, "idleTimeMs"),
                   life_time_s=_optional_ms(f, "lifeTimeMs"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.idle_time_s is not None:
            out["idleTimeMs"] = ms(self.idle_time_s)
        if self.life_time_s is not None:
            out["lifeTimeMs"] = ms(self.life_time_s)
        return out


def _optional_ms(f: Fields, key: str) -> float | None:
    value = f.integer(key, None, minimum=1)
    return None if value is None else value / 1000.0


@dataclass(frozen=True, slots=True)
class ClientParams:
    """Every client parameter for one client, resolved: what the data path builds from.

    :param load_balancer: ``loadBalancer`` (a :class:`~l5d.config.balancers.LoadBalancerConfig`).
    :param failure_accrual: ``failureAccrual`` (a
        :class:`~l5d.config.accrual.FailureAccrualConfig`; its ``backoff`` is filled in).
    :param requeue_budget: ``requeueBudget``; the client's own budget for re-sending
        requests that failed before reaching a backend.
    :param request_attempt_timeout_s: ``requestAttemptTimeoutMs`` (``None``: no limit).
    :param host_connection_pool: ``hostConnectionPool``.
    :param fail_fast: ``failFast``.
    :param client_session: ``clientSession``.
    :param tls: ``tls`` with ``commonName`` filled in, or ``None``: plaintext.
    """

    load_balancer: LoadBalancerConfig = DEFAULT_LOAD_BALANCER
    failure_accrual: FailureAccrualConfig = DEFAULT_FAILURE_ACCRUAL
    requeue_budget: RetryBudgetConfig = RetryBudgetConfig()
    request_attempt_timeout_s: float | None = None
    host_connection_pool: HostConnectionPoolConfig = HostConnectionPoolConfig()
    fail_fast: bool = False
    client_session: ClientSessionConfig = ClientSessionConfig()
    tls: ClientTlsConfig | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loadBalancer": self.load_balancer.to_json(),
                               "failureAccrual": self.failure_accrual.to_json(),
                               "requeueBudget": self.requeue_budget.to_json()}
        if self.request_attempt_timeout_s is not None:
            out["requestAttemptTimeoutMs"] = ms(self.request_attempt_timeout_s)
        out["hostConnectionPool"] = self.host_connection_pool.to_json()
        out["failFast"] = self.fail_fast
        out["clientSession"] = self.client_session.to_json()
        if self.tls is not None:
            out["tls"] = self.tls.to_json()
        return out


_PARAM_FIELDS = ("load_balancer", "failure_accrual", "requeue_budget",
                 "request_attempt_timeout_s", "host_connection_pool", "fail_fast",
                 "client_session")


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """One block of client parameters as written: the ``client`` object of kind
    ``io.l5d.global`` (prefix ``/``) or one entry of ``io.l5d.static``'s ``configs``.
    A parameter left out is ``None``.

    :param prefix: the pattern the bound id must match (:mod:`l5d.router.pathmatch`).
    """

    prefix: str = "/"
    load_balancer: LoadBalancerConfig | None = None
    failure_accrual: FailureAccrualConfig | None = None
    requeue_budget: RetryBudgetConfig | None = None
    request_attempt_timeout_s: float | None = None
    host_connection_pool: HostConnectionPoolConfig | None = None
    fail_fast: bool | None = None
    client_session: ClientSessionConfig | None = None
    tls: ClientTlsConfig | None = None
    matcher: PathMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", compile_prefix(self.prefix))
        for name, cls in (("load_balancer", LoadBalancerConfig),
                          ("failure_accrual", FailureAccrualConfig),
                          ("requeue_budget", RetryBudgetConfig),
                          ("host_connection_pool", HostConnectionPoolConfig),
                          ("fail_fast", bool), ("client_session", ClientSessionConfig),
                          ("tls", ClientTlsConfig)):
            value = getattr(self, name)
            require(value is None or isinstance(value, cls), name, value,
                    f"None or a {cls.__name__}")
        check_optional_seconds("request_attempt_timeout_s", self.request_attempt_timeout_s)

    def apply(self, params: ClientParams, captures: Any = None) -> ClientParams:
        """``params`` with every parameter this block writes replaced; ``tls`` gets the
        prefix's ``captures`` in its ``commonName``."""
        changes = {n: v for n in _PARAM_FIELDS if (v := getattr(self, n)) is not None}
        if self.tls is not None:
            changes["tls"] = self.tls.bound(captures or {}) if self.tls.enabled else None
        return replace(params, **changes) if changes else params

    @classmethod
    def from_fields(cls, f: Fields, with_prefix: bool) -> "ClientPolicy":
        if with_prefix:
            f.expect("prefix", *CLIENT_KEYS)
        # checked for Linkerd configs; without effect on a client (docs/compat.md)
        f.ctx.attempt(lambda: read_socket_options(f), None)
        lb = f.raw("loadBalancer")
        accrual = f.raw("failureAccrual")
        pool = f.mapping("hostConnectionPool")
        session = f.mapping("clientSession")
        tls = f.mapping("tls")
        return make(
            f, cls,
            prefix=read_prefix(f) if with_prefix else "/",
            load_balancer=None if lb is None else f.ctx.attempt(lambda: read_plugin(
                LOAD_BALANCERS, f.ctx, lb, f.key_path("loadBalancer")), None),
            failure_accrual=None if accrual is None else f.ctx.attempt(lambda: read_plugin(
                FAILURE_ACCRUALS, f.ctx, accrual, f.key_path("failureAccrual")), None),
            requeue_budget=f.ctx.attempt(lambda: read_budget(f, "requeueBudget"), None),
            request_attempt_timeout_s=_optional_ms(f, "requestAttemptTimeoutMs"),
            host_connection_pool=None if pool is None else f.ctx.attempt(
                lambda: HostConnectionPoolConfig.from_fields(pool), None),
            fail_fast=f.boolean("failFast", None),
            client_session=None if session is None else f.ctx.attempt(
                lambda: ClientSessionConfig.from_fields(session), None),
            tls=None if tls is None else f.ctx.attempt(lambda: read_client_tls(tls), None),
        )

    def params_json(self) -> dict[str, Any]:
        """The parameters this block writes, in Linkerd's keys."""
        out: dict[str, Any] = {}
        if self.load_balancer is not None:
            out["loadBalancer"] = self.load_balancer.to_json()
        if self.failure_accrual is not None:
            out["failureAccrual"] = self.failure_accrual.to_json()
        if self.requeue_budget is not None:
            out["requeueBudget"] = self.requeue_budget.to_json()
        if self.request_attempt_timeout_s is not None:
            out["requestAttemptTimeoutMs"] = ms(self.request_attempt_timeout_s)
        if self.host_connection_pool is not None:
            out["hostConnectionPool"] = self.host_connection_pool.to_json()
        if self.fail_fast is not None:
            out["failFast"] = self.fail_fast
        if self.client_session is not None:
            out["clientSession"] = self.client_session.to_json()
        if self.tls is not None:
            out["tls"] = self.tls.to_json()
        return out

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, **self.params_json()}


class ClientConfig(PolicyConfig):
    """Base of the ``client`` configs: :class:`GlobalClientConfig`, :class:`StaticClientConfig`.

    ``params_for(bound_id) -> ClientParams``.
    """

    __slots__ = ()
    DEFAULTS: ClassVar[ClientParams] = ClientParams()

    def params_for(self, client_id: Path) -> ClientParams:
        """As :meth:`PolicyConfig.params_for`, each entry's prefix captures going to its
        ``tls.commonName`` (``/#/io.l5d.k8s/default/http/{service}`` with
        ``commonName: "{service}.svc"``)."""
        params = self.DEFAULTS
        for entry in self.entries:
            captures = entry.matcher.match(client_id)
            if captures is not None:
                params = entry.apply(params, captures)
        return params

    @property
    def request_attempt_timeout_s(self) -> float | None:
        """The router-wide attempt timeout: the value for an id only ``/`` entries match
        (what the runtime applies until it resolves parameters per client)."""
        return self.params_for(Path()).request_attempt_timeout_s


@dataclass(frozen=True, slots=True)
class GlobalClientConfig(ClientConfig):
    """``client: {kind: io.l5d.global, <params>}``: ``policy`` applies to every client."""

    kind: ClassVar[str] = DEFAULT_GLOBAL_KIND
    policy: ClientPolicy = ClientPolicy()

    def __post_init__(self) -> None:
        require(isinstance(self.policy, ClientPolicy) and self.policy.prefix == "/",
                "policy", self.policy, 'a ClientPolicy with prefix "/"')

    @property
    def entries(self) -> tuple[ClientPolicy, ...]:
        return (self.policy,)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.policy.params_json()}


@dataclass(frozen=True, slots=True)
class StaticClientConfig(ClientConfig):
    """``client: {kind: io.l5d.static, configs: [...]}``: entries folded in order."""

    kind: ClassVar[str] = STATIC_KIND
    configs: tuple[ClientPolicy, ...] = ()

    def __post_init__(self) -> None:
        require(isinstance(self.configs, tuple)
                and all(isinstance(c, ClientPolicy) for c in self.configs),
                "configs", self.configs, "a tuple of ClientPolicy")

    @property
    def entries(self) -> tuple[ClientPolicy, ...]:
        return self.configs

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "configs": [c.to_json() for c in self.configs]}


def read_client(f: Fields) -> ClientConfig:
    """A router's ``client`` (``GlobalClientConfig()`` when left out)."""
    return read_policy(f, "client", CLIENT_KEYS, ClientPolicy.from_fields,
                       lambda p: GlobalClientConfig(p), lambda cs: StaticClientConfig(cs),
                       GlobalClientConfig)
