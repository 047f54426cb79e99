"""An HTTP router at run time: identification, binding, clients (Twisted shell).

The decisions are pure functions (:mod:`l5d.router.identifier`,
:mod:`l5d.router.route`, :mod:`dtab`); this class keeps the state they need
(binding cache, one :class:`~l5d.http.dst_client.DstClient` per bound id, one
:class:`~l5d.http.service.Service` per logical name, stats) and drives
:class:`l5d.http.proxy.Exchange` through them. Reactor-thread only.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from dtab import (
    AddrBound, BindingCache, Dtab, DtabParseError, Failed, Interpreter, Leaf, Ok, Path,
)
from l5d.config.client_policy import ClientConfig, GlobalClientConfig
from l5d.config.service_policy import GlobalServiceConfig, ServiceConfig
from l5d.http.deadline import parse as parse_deadline
from l5d.http.dst_client import DstClient
from l5d.http.framing import HeadInfo  # noqa: F401  (re-exported for tools)
from l5d.http.headers import DTAB_HEADERS, local_dtab, via_count
from l5d.http.pool import EndpointPool
from l5d.http.proxy import Exchange
from l5d.http.router_outcomes import RouterOutcomes
from l5d.http.service import Service
from l5d.http.trace import DEFAULT_PROPAGATOR
from l5d.http.upstream_request import (
    DEADLINE_HEADER, NO_OVERRIDE, HeadRoute, Override, scan, tracing, upstream_head,
)
from l5d.router.identifier import Identified, RequestView
from l5d.router.route import (
    binding_timeout_message, connect_failed_message, no_route_message, pick_bound, resolutions,
    unknown_destination_message,
)
from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.stats import Stats

log = logging.getLogger("l5d.router")

BIND_POLL_S = 0.05
#: the most waiting requests a worker's answer wakes at once (the rest poll)
MAX_WOKEN = 10_000
LOCAL_DTAB_CACHE_SIZE = 256
SWEEP_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class ServerParams:
    """What the router needs to know about the server a request came in on."""

    ip: str
    port: int
    clear_context: bool = False
    max_call_depth: int = 1000
    #: ``addForwardedHeader``: a :class:`~l5d.http.forwarded.Forwarder`, or ``None``
    forwarded: Any = None

    @property
    def stats_label(self) -> tuple[str]:
        """The server's scope: one node ``<ip>/<port>``, as Linkerd's tree has it."""
        return (f"{self.ip}/{self.port}",)


class HttpRouter(RouterOutcomes):
    """Routes HTTP requests for one configured router.

    :param dtab: zero-argument callable returning the current base :class:`Dtab`.
    :param identifier: request -> :class:`Identified` | :class:`Unidentified`.
    :param client_config: the router's ``client`` block (parameters per bound id).
    :param service_config: the router's ``service`` block (parameters per logical name).
    :param replay_limit: ``streamAfterContentLengthKB`` in bytes: a request body up to
        this size is kept so the request can be sent again.
    :param is_own_address: ``(host, port) ->`` the name of the listener of this process it
        is (a router label, or ``admin``), or ``None``; a router never forwards to its own
        listeners or the admin server.
    :param sinks: ``(rate, sink)``: a share of finished requests (drawn with ``rng``) whose
        :class:`~l5d.telemetry.record.RequestRecord` goes to ``sink`` (access log, recent
        requests, tracers); a record is made only for a request some sink takes.
    :param record_stats: record each request's outcome, status and latency (``False`` only
        to measure what recording costs: ``L5D_STATS=off``).
    :param trace_sinks: ``(rate, sink)`` of each tracer: the records of sampled traces go
        to ``sink``, and those of undecided traces with probability ``rate``.
    :param trace_propagator: ``tracePropagator``'s kind (:mod:`l5d.http.trace`).
    :param trace_sample_rate: ``None`` when no tracer is configured; else the rate at which
        the tracers want new traces sampled.
    :param now: monotonic seconds. :param wall: wall-clock seconds (deadlines).

    A 502 for a name that cannot be routed (no route, a binding that failed or timed out)
    is also logged, at most once per name per 10 s (:attr:`warnings`).
    """

    def __init__(self, *, label: str, reactor: Any, now: Callable[[], float], rng: random.Random,
                 dtab: Callable[[], Dtab], interpreter: Interpreter, identifier: Callable,
                 stats: Stats, binding_timeout_s: float = 10.0, binding_cache_size: int = 1000,
                 idle_ttl_s: float = 600.0, max_err_bytes: int = 5120 * 1024,
                 max_header_bytes: int = 8192, connect_timeout_s: float = 10.0,
                 max_clients: int = 1000,
                 client_config: ClientConfig = GlobalClientConfig(),
                 service_config: ServiceConfig = GlobalServiceConfig(),
                 replay_limit: int = 5 * 1024,
                 wall: Callable[[], float] | None = None,
                 is_own_address: Callable[[str, int], str | None] = lambda h, p: None,
                 sinks: tuple[tuple[float, Callable[[Any], None]], ...] = (),
                 record_stats: bool = True,
                 trace_sinks: tuple[tuple[float, Callable[[Any], None]], ...] = (),
                 trace_propagator: str = DEFAULT_PROPAGATOR,
                 trace_sample_rate: float | None = None, tls: Any = None) -> None:
        self.label = label
        #: the linker's :class:`~l5d.tls.context.TlsContexts` (clients with ``tls``), or None
        self.tls = tls
        self.reactor = reactor
        self.now = now
        self.rng = rng
        self._dtab = dtab
        self.interpreter = interpreter
        self.identifier = identifier
        #: whether a head's identification may be memoised (not with io.l5d.ingress)
        self._memo_routes = not getattr(identifier, "volatile", False)
        self.stats = stats
        self.stats_scope = stats.scope("rt", label)
        self.binding_timeout_s = binding_timeout_s
        self.cache = BindingCache(interpreter, now, max_size=binding_cache_size,
                                  idle_ttl_s=idle_ttl_s)
        #: requests waiting for a binding: exchange -> deadline (woken by a worker's
        #: interpreter when the control answers; otherwise each polls)
        self._binding: dict[Any, float] = {}
        wake = getattr(interpreter, "wake", None)
        self._wakeable = wake is not None
        if wake is not None:
            wake.append(self._wake_binding)
        self.idle_ttl_s = idle_ttl_s
        self.max_err_bytes = max_err_bytes
        self.max_header_bytes = max_header_bytes
        self.connect_timeout_s = connect_timeout_s
        self.client_config = client_config
        self.service_config = service_config
        self.replay_limit = replay_limit
        self.wall = wall if wall is not None else reactor.seconds
        self.is_own_address = is_own_address
        self.sinks = sinks
        self.trace_sinks = trace_sinks
        self.record_stats = record_stats
        #: rate-limited warnings (unroutable names), one key per logical name
        self.warnings = RateLimitedLog(log, reactor, now)
        self.tracing = tracing(rng, trace_propagator, trace_sample_rate)
        self.clients: dict[Path, DstClient] = {}
        # per logical name, least recently used first; at most max_services entries
        self._services: OrderedDict[Path, Service] = OrderedDict()
        self.max_services = binding_cache_size
        self.max_clients = max_clients
        self._server_stats: dict[tuple, Any] = {}
        self.in_flight: set[Exchange] = set()
        self._overrides: dict[tuple, Override] = {}
        self._sweeper: Any = None
        #: bumped whenever a client or service entry is dropped: route memos made before
        #: it may name a client that is gone
        self._epoch = 0

    def base_dtab(self) -> Dtab:
        """The router's dtab (what every request's override is appended to)."""
        return self._dtab()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        self._sweeper = self.reactor.callLater(SWEEP_INTERVAL_S, self._sweep)

    def stop(self) -> None:
        if self._sweeper is not None and self._sweeper.active():
            self._sweeper.cancel()
        self._sweeper = None
        for client in self.clients.values():
            client.close()
        self.warnings.flush()

    def _sweep(self) -> None:
        """Expire idle bindings, clients and per-service stats (bounded memory)."""
        now = self.now()
        self.cache.expire()
        for client in self.clients.values():
            client.expire_idle()
        self._epoch += 1
        for key, client in list(self.clients.items()):
            if now - client.last_used >= self.idle_ttl_s and not any(
                    ex.route is client for ex in self.in_flight):
                client.close()
                del self.clients[key]
                client.forget_stats()
        for key, svc in list(self._services.items()):
            if now - svc.last_used >= self.idle_ttl_s:
                del self._services[key]
                self._forget_service(svc)
        self._sweeper = self.reactor.callLater(SWEEP_INTERVAL_S, self._sweep)

    def exchange_factory(self, server: ServerParams) -> Callable[[Any, Any], Exchange]:
        srv_stats = self.stats_scope.scope("server", *server.stats_label)
        c_requests = srv_stats.counter("requests")
        outcome = (srv_stats.counter("success"), srv_stats.counter("failures"),
                   srv_stats.statuses(), srv_stats.stat("request_latency_ms", scale=1000))

        forwarded = server.forwarded

        def new_exchange(conn: Any, head: Any) -> Exchange:
            c_requests.value += 1  # Counter.incr, inlined (once per request)
            if forwarded is not None:
                _add_forwarded(forwarded, conn, head)
            ex = Exchange(conn, head, self, server)
            ex.server_stats = outcome
            return ex

        return new_exchange

    # -- routing -------------------------------------------------------------
    def route_exchange(self, ex: Exchange) -> None:
        head = ex.head
        self.in_flight.add(ex)
        known = head.known
        route = known.route if known is not None else None
        if route is None or route.server is not ex.server:
            route = self._identify(ex, head)
            if route is None:
                return  # answered
            if known is not None and self._memo_routes:
                known.route = route
        else:
            head.headers = route.headers
            head.target = route.target
        override = route.override
        dst = ex.dst = route.ident.dst
        ex.local_dtab = override
        ex.head_route = route
        svc = ex.svc = self._service(dst)
        now = ex.started_at  # read by the exchange as it started, just before this
        svc.last_used = now
        svc.requests.value += 1
        svc.budget.deposit(now)  # every request pays into its service's retry budget, once
        if (svc.total_timeout_s is not None or route.deadline is not None) and not ex.set_deadline(
                route.deadline, svc.total_timeout_s):
            return  # the deadline had passed: answered
        if (svc.epoch == self._epoch and svc.override is override
                and svc.base is self._dtab() and svc.generation == self.interpreter.generation):
            # the route this name took last time still holds: no bind, pick or lookup
            client = svc.client
            client.last_used = now
            view = ex.view = svc.view
            view.requests.value += 1
            ex.bound = svc.bound
            if client.forbidden is not None:
                ex.fail(403, client.forbidden)
                return
            ex.send_via(client, upstream_head(head, route, override, svc.dst_headers,
                                              self.tracing), now)
            return
        self._bind(ex, now + self.binding_timeout_s)

    def _identify(self, ex: Exchange, head: Any) -> HeadRoute | None:
        """Max call depth, the dtab override, the deadline and identification (``None``:
        answered)."""
        headers = head.headers
        info = head.info if head.info is not None else scan(headers)
        override = NO_OVERRIDE
        deadline = None
        if not info.plain:  # Via, Connection, Expect or l5d-* headers: look closer
            if info.via and via_count(headers) > ex.server.max_call_depth:
                ex.fail(400, f"Maximum number of calls ({ex.server.max_call_depth}) has been "
                             "exceeded. Please check for proxy loops.")
                return None
            if ex.server.clear_context:
                if info.l5d:
                    headers = [(n, v) for n, v in headers if not n.lower().startswith(b"l5d-")]
                    head.headers = headers
            else:
                if info.l5d:
                    deadline = parse_deadline(
                        [v for n, v in headers if n.lower() == DEADLINE_HEADER])
                if info.dtab:
                    override = self._override(ex, headers)
                    if override is None:
                        return None
        host = info.host
        absolute = head.absolute
        if absolute is not None and absolute.authority:
            host = absolute.authority  # Linkerd's ProxyRewrite: Host := the URI authority
        uri = head.target.decode("latin-1")
        ident = self.identifier(RequestView(head.method, uri, head.version, headers, host))
        if not isinstance(ident, Identified):
            ex.fail(400, unknown_destination_message(head.method, uri, head.peer, ident.reason))
            return None
        if ident.uri is not uri and ident.uri != uri:
            head.target = ident.uri.encode("latin-1")
        return HeadRoute(ex.server, override, ident, headers, head.target, deadline)

    def _override(self, ex: Exchange, headers: list) -> Override | None:
        """The request's parsed ``l5d-ctx-dtab`` ++ ``l5d-dtab`` (``None``: answered 400)."""
        key = tuple((n.lower(), v) for n, v in headers if n.lower() in DTAB_HEADERS)
        override = self._overrides.get(key)
        if override is None:
            try:
                local = local_dtab(headers)
            except DtabParseError as e:
                ex.fail(400, str(e))
                return None
            # parsing is ~20 µs; the same override usually repeats (l5d-ctx-dtab)
            if len(self._overrides) >= LOCAL_DTAB_CACHE_SIZE:
                self._overrides.pop(next(iter(self._overrides)))
            override = self._overrides[key] = Override(local) if local else NO_OVERRIDE
        return override

    def _bind(self, ex: Exchange, deadline: float) -> None:
        if ex.state > 1:  # DONE or beyond routing
            return
        base = self._dtab()
        override = ex.local_dtab
        dtab = base if override is NO_OVERRIDE else override.over(base)
        generation = self.interpreter.generation
        state = self.cache.bind(dtab, ex.dst)
        if isinstance(state, Ok):
            self._dispatch(ex, state.value, base, generation)
            return
        if isinstance(state, Failed):
            self._unroutable(ex, str(state.error), f"binding failed: {state.error}")
            return
        now = self.now()
        if now >= deadline:
            message = binding_timeout_message(self.binding_timeout_s, ex.dst)
            self._unroutable(ex, message, message)
            return
        if self._wakeable and len(self._binding) < MAX_WOKEN:
            self._binding[ex] = deadline
        ex.set_timer(min(BIND_POLL_S, deadline - now), lambda: self._poll_binding(ex, deadline))

    def _poll_binding(self, ex: Exchange, deadline: float) -> None:
        """A waiting request's poll: no longer waiting to be woken (it waits again if still
        pending), so a worker keeps no request it has answered otherwise."""
        self._binding.pop(ex, None)
        self._bind(ex, deadline)

    def _wake_binding(self) -> None:
        """A worker's interpreter has a new answer: the waiting requests bind again now."""
        waiting, self._binding = self._binding, {}
        for ex, deadline in waiting.items():
            self._bind(ex, deadline)

    def _dispatch(self, ex: Exchange, tree: Any, base: Dtab, generation: Any = None) -> None:
        bound = pick_bound(tree, self.rng)
        if bound is None or not isinstance(bound.addr, AddrBound) or not bound.addr.addresses:
            self._no_route(ex, base)
            return
        client = self.clients.get(bound.id)
        if client is None:
            client = self.clients[bound.id] = DstClient(
                self, bound.id, self.client_config.params_for(bound.id))
            if len(self.clients) > self.max_clients:
                self._evict_client()
        client.update(bound)
        client.last_used = self.now()
        ex.bound = bound
        svc = ex.svc
        if svc.client is not client or svc.bound is not bound:
            svc.dst_headers = svc.dst_header + client.dst_header + (
                b"l5d-dst-residual: " + bound.residual.show().encode("latin-1") + b"\r\n"
                if bound.residual.elems else b"")
        if generation is not None and isinstance(tree, Leaf):
            svc.base = base
            svc.override = ex.local_dtab
            svc.generation = generation
            svc.epoch = self._epoch
        else:
            svc.epoch = -1
        svc.bound = bound
        if svc.client is not client or svc.view is None:
            svc.view = client.service_view(ex.dst)
            svc.viewers.add(client)
        svc.client = client
        view = ex.view = svc.view
        view.requests.value += 1
        if client.forbidden is not None:
            ex.fail(403, client.forbidden)
            return
        ex.send_via(client, upstream_head(ex.head, ex.head_route, ex.local_dtab, svc.dst_headers,
                                          self.tracing))

    def _evict_client(self) -> None:
        """Drop the least recently used client with nothing in flight (bindingCache.clients)."""
        busy = {ex.route for ex in self.in_flight}
        victim = min((c for c in self.clients.values() if c not in busy),
                     key=lambda c: c.last_used, default=None)
        if victim is not None:
            self._epoch += 1
            del self.clients[victim.id]
            victim.close()
            victim.forget_stats()

    def _no_route(self, ex: Exchange, base: Dtab) -> None:
        """Answer 502 with Linkerd's no-route text, saying what was tried."""
        override = ex.local_dtab
        remote = getattr(self.interpreter, "resolutions", None)  # a worker's: the control's
        if remote is not None:
            tried = remote(override.over(base), ex.dst)
        else:
            state = self.interpreter.delegate(override.over(base), ex.dst)
            tried = resolutions(state.value) if isinstance(state, Ok) else []
        reason = "no route (resolutions considered: " + (", ".join(tried) or "none") + ")"
        if override.local:
            reason += f" with the override dtab {override.local.show()}"
        self._unroutable(ex, no_route_message(ex.dst, base, override.local, tried), reason)

    def _unroutable(self, ex: Exchange, message: str, reason: str) -> None:
        """Answer 502 with ``message``; log ``reason`` (rate-limited per logical name)."""
        ex.fail(502, message)
        self.warnings.warning(ex.dst, "rt/%s: 502 for %s: %s", self.label, ex.dst, reason)

    def _service(self, dst: Path) -> Service:
        services = self._services
        svc = services.get(dst)
        if svc is None:
            svc = services[dst] = Service(
                self.stats_scope.scope("service", dst.show().lstrip("/")), dst,
                self.service_config.params_for(dst), self.rng, self.now)
            if len(services) > self.max_services:  # bounded however many names arrive
                _, old = services.popitem(last=False)
                self._forget_service(old)
        else:
            services.move_to_end(dst)
        return svc

    def _forget_service(self, svc: Service) -> None:
        """Drop an expired service's metrics, and every client's view of it."""
        self.stats.remove(svc.scope.names)
        for client in svc.viewers:
            client.drop_service(svc.dst)

    # -- outcomes ------------------------------------------------------------
    def connect_failed_text(self, ex: Exchange, pool: EndpointPool, detail: str = "") -> str:
        """Linkerd's text; a TLS client's also says why (the handshake's check that failed)."""
        client = ex.route
        addrs = [f"{p.host}:{p.port}" for p in client.pools] if client else []
        return connect_failed_message(f"{pool.host}:{pool.port}", ex.dst,
                                      client.id if client else Path(), addrs,
                                      detail if pool.tls is not None else "")


def _add_forwarded(forwarded: Any, conn: Any, head: Any) -> None:
    """Append the server's ``Forwarded`` header to ``head`` (``addForwardedHeader``). The
    value differs per connection or request, so the head is not memoised."""
    info = head.info if head.info is not None else scan(head.headers)
    absolute = head.absolute
    host = absolute.authority if absolute is not None and absolute.authority else info.host
    scheme = absolute.scheme if absolute is not None else None
    head.headers = [*head.headers, (b"Forwarded", forwarded.value(conn, host, scheme))]
    head.info = None
    head.known = None
