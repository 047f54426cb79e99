"""One client per bound id: its endpoints, balancer, failure accrual and requeue budget.

A :class:`DstClient` is what Linkerd calls a client (``rt/<router>/client/<id>/``): the
endpoints a bound name currently resolves to, one keep-alive pool per endpoint, a
balancer over them (``client.loadBalancer``) whose node health is the endpoint's
failure accrual (``client.failureAccrual``), and the budget that pays for re-sending a
request an unanswered write lost (``client.requeueBudget``); with ``client.failFast``
an endpoint whose connect failed is also set aside for a backoff
(:mod:`l5d.accrual.fail_fast`). Its parameters come from the router's ``client`` block
matched against the bound id. The decisions are in :mod:`l5d.lb`, :mod:`l5d.accrual`
and :mod:`l5d.retry`; this class keeps their state and the stats under Linkerd's
names. Reactor-thread only.
"""

from __future__ import annotations

from typing import Any, Hashable

from dtab import BoundName, Path
from l5d.accrual.fail_fast import FailFast, WithFailFast
from l5d.http.policies import accrual_factory, balancer, budget
from l5d.http.limits import ClientIo
from l5d.http.pool import EndpointPool
from l5d.lb import OPEN
from l5d.retry import equal_jitter
from l5d.router.route import addresses

_ACCRUAL_STATS = ("removals", "revivals", "probes", "removed_for_ms")
#: balancer stats that only grow (exported as counters); the rest are gauges
_LB_COUNTERS = frozenset({"adds", "removes", "updates", "rebuilds", "max_effort_exhausted"})


class DstClient:
    """A bound id's endpoints and the policy that spreads requests over them.

    :param router: the :class:`~l5d.http.router.HttpRouter` it belongs to.
    :param bound_id: the bound name's id (``/#/io.l5d.k8s/default/http/hello``).
    :param params: the :class:`~l5d.config.client_policy.ClientParams` for that id.
    """

    def __init__(self, router: Any, bound_id: Path, params: Any) -> None:
        self.router = router
        self.id = bound_id
        self.name = bound_id.show()
        self.params = params
        self.attempt_timeout_s: float | None = params.request_attempt_timeout_s
        self._addr: Any = None
        self.last_used = 0.0
        now, rng = router.now, router.rng
        self._accrual_of = accrual_factory(params.failure_accrual, rng, now)
        self._accruals: dict[Hashable, Any] = {}
        self._gone_accrual = dict.fromkeys(_ACCRUAL_STATS, 0)  # totals of dropped endpoints
        self.balancer = balancer(params.load_balancer, rng, now, self._accrual)
        self.requeue_budget = budget(params.requeue_budget, now)
        self._pools: dict[tuple[str, int], EndpointPool] = {}
        stats = router.stats_scope.scope("client", self.name.lstrip("/"))
        self.stats = stats
        self.c_requests = stats.counter("requests")
        self.c_success = stats.counter("success")
        self.c_failures = stats.counter("failures")
        self.c_connect_failures = stats.counter("failures", "connect")
        self.c_requeues = stats.counter("retries", "requeues")
        self.c_budget_exhausted = stats.counter("retries", "budget_exhausted")
        self.c_not_open = stats.counter("retries", "not_open")
        self.status = stats.statuses()
        self.latency = stats.stat("request_latency_ms", scale=1000)  # recorded in µs
        stats.function_gauge(lambda: self.requeue_budget.balance, "retries", "budget")
        #: requests out on this client (set by the router's census when metrics are read)
        self.pending = stats.gauge("pending")
        self.io = io = ClientIo()
        stats.function_gauge(lambda: sum(p.open_connections for p in self._pools.values()),
                             "connections")
        stats.function_counter(lambda: io.connects, "connects")
        stats.function_counter(lambda: io.sent_bytes, "sent_bytes")
        stats.function_counter(lambda: io.received_bytes, "received_bytes")
        for name in self.balancer.stats():
            register = stats.function_counter if name in _LB_COUNTERS else stats.function_gauge
            # one value per read (not every stat of the balancer); one small object, and the
            # name's parts shared by every client (issue 14, memory)
            register(_LbStat(self.balancer, name), *_lb_name(name))
        for name in _ACCRUAL_STATS:
            stats.function_counter(_AccrualTotal(self, name), "failure_accrual", name)
        #: per logical name: this client's view of it (``client/<id>/service/<name>``)
        self.services: dict[Path, ServiceView] = {}
        self.dst_header = b"l5d-dst-client: " + self.name.encode("latin-1") + b"\r\n"
        #: why requests must not go to these addresses (l5d's own listeners), or None
        self.forbidden: str | None = None

    def service_view(self, dst: Path) -> "ServiceView":
        """This client's stats for requests to ``dst`` (made on first use)."""
        view = self.services.get(dst)
        if view is None:
            view = self.services[dst] = ServiceView(
                self.stats.scope("service", dst.show().lstrip("/")))
        return view

    def drop_service(self, dst: Path) -> None:
        """Forget ``dst``'s view (the service expired)."""
        view = self.services.pop(dst, None)
        if view is not None:
            self.router.stats.remove(view.scope.names)

    def forget_stats(self) -> None:
        """Forget this client's metrics and its views' (it expired or was evicted)."""
        names = list(self.stats.names)
        for view in self.services.values():
            names += view.scope.names
        self.services.clear()
        self.router.stats.remove(names)

    # -- endpoints -----------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._pools)

    @property
    def pools(self) -> list[EndpointPool]:
        """The endpoints' pools, in the balancer's order."""
        return [node.endpoint for node in self.balancer.nodes]

    @property
    def addr(self) -> Any:
        """The address set this client was last updated with (``None`` before)."""
        return self._addr

    def update(self, bound: BoundName) -> None:
        """Follow the bound name's current address set: endpoints that stay keep their
        pool, balancer state and accrual; new ones start fresh; gone ones close (a
        request still out on one finishes on its connection)."""
        addr = bound.addr
        if addr is self._addr:
            return
        self._addr = addr
        wanted = [(a.host, a.port) for a in addresses(bound)]  # sorted by addresses()
        keep = set(wanted)
        for key in [k for k in self._pools if k not in keep]:
            self._pools.pop(key).close()
            accrual = self._accruals.pop(key, None)
            if accrual is not None:
                for name, value in _accrual_stats(accrual).items():
                    self._gone_accrual[name] += value
        pool_cfg = self.params.host_connection_pool
        session = self.params.client_session
        tls = None
        if self.params.tls is not None and self.router.tls is not None:
            tls = self.router.tls.client(self.params.tls)
        for key in wanted:
            if key not in self._pools:
                self._pools[key] = EndpointPool(
                    self.router.reactor, key[0], key[1], self.router.connect_timeout_s,
                    max_size=pool_cfg.max_size, min_size=pool_cfg.min_size,
                    max_waiters=pool_cfg.max_waiters,
                    idle_time_s=_idle_time(pool_cfg.idle_time_s, session.idle_time_s),
                    life_time_s=session.life_time_s, io=self.io, tls=tls)
        self.balancer.update([(key, self._pools[key]) for key in wanted])
        self.forbidden = None
        for host, port in wanted:
            listener = self.router.is_own_address(host, port)
            # a router never forwards into itself or to the admin server; another router of
            # this process is a destination like any other (a DaemonSet's outgoing router
            # reaches the pods on its own node through its incoming one)
            if listener is not None and listener in (self.router.label, "admin"):
                self.forbidden = f"l5d does not forward to its own listener {host}:{port}"
                break

    def _accrual(self, key: Hashable) -> Any:
        """The balancer's health source for a new node: the endpoint's failure accrual
        (with ``failFast``, and its fail-fast state)."""
        accrual = self._accruals.get(key)
        if accrual is None:
            accrual = self._accrual_of(key)
            if self.params.fail_fast:
                rng = self.router.rng
                accrual = WithFailFast(accrual, FailFast(
                    lambda: equal_jitter(1.0, 32.0, rng), self.router.now))
            self._accruals[key] = accrual
        return accrual

    def any_open(self) -> bool:
        """Whether some endpoint is usable (Finagle: the client's status is ``Open``)."""
        now = self.router.now()
        return any(node.status(now) == OPEN for node in self.balancer.nodes)

    def expire_idle(self) -> None:
        for pool in self._pools.values():
            pool.expire_idle()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self.balancer.update([])

    # -- stats ---------------------------------------------------------------
    def _accrual_total(self, name: str) -> float:
        return self._gone_accrual[name] + sum(getattr(a, name) for a in self._accruals.values())

    def endpoint_state(self) -> list[dict[str, Any]]:
        """Per endpoint: address, balancer load and accrual state (admin's client state)."""
        now = self.router.now()
        out = []
        for node in self.balancer.nodes:
            pool = node.endpoint
            health = node.health
            out.append({
                "address": f"{pool.host}:{pool.port}",
                "pending": node.pending,
                "status": ("OPEN", "BUSY", "CLOSED")[node.status(now)],
                "failure_accrual": health.state.value if health is not None else None,
                "connections": pool.open_connections,
                "idle": pool.idle_count,
            })
        return out


class ServiceView:
    """A client's stats for one logical name: ``rt/<router>/client/<id>/service/<name>/``
    ``requests``, ``success``, ``failures``, ``status/...`` (the latency is the service's
    and the client's: a third histogram per request would cost 0.2 µs)."""

    __slots__ = ("requests", "success", "failures", "status", "scope")

    def __init__(self, stats: Any) -> None:
        self.requests = stats.counter("requests")
        self.success = stats.counter("success")
        self.failures = stats.counter("failures")
        self.status = stats.statuses()
        self.scope = stats


class _LbStat:
    """Reads one of a balancer's stats (a function gauge's ``fn``: one 48-byte object where
    a closure is three, for each of a bound client's ~11 balancer stats)."""

    __slots__ = ("_bal", "_name")

    def __init__(self, bal: Any, name: str) -> None:
        self._bal = bal
        self._name = name

    def __call__(self) -> float:
        return self._bal.stat(self._name)


class _AccrualTotal:
    """Reads one of a client's failure accrual totals (as :class:`_LbStat`)."""

    __slots__ = ("_client", "_name")

    def __init__(self, client: "DstClient", name: str) -> None:
        self._client = client
        self._name = name

    def __call__(self) -> float:
        return self._client._accrual_total(self._name)


_LB_NAMES: dict[str, tuple[str, ...]] = {}


def _lb_name(stat: str) -> tuple[str, ...]:
    """``loadbalancer/<stat>`` as a name's parts (made once per stat name)."""
    parts = _LB_NAMES.get(stat)
    if parts is None:
        parts = _LB_NAMES[stat] = ("loadbalancer", *stat.split("/"))
    return parts


def _accrual_stats(accrual: Any) -> dict[str, int]:
    return {name: getattr(accrual, name) for name in _ACCRUAL_STATS}


def _idle_time(pool_idle_s: float | None, session_idle_s: float | None) -> float | None:
    """The shorter of ``hostConnectionPool.idleTimeMs`` and ``clientSession.idleTimeMs``."""
    values = [v for v in (pool_idle_s, session_idle_s) if v is not None]
    return min(values) if values else None
