"""An HTTP router at run time: identification, binding, clients (Twisted shell).

The decisions are pure functions (:mod:`l5d.router.identifier`,
:mod:`l5d.router.route`, :mod:`dtab`); this class keeps the state they need
(binding cache, one client per bound id with a pool per endpoint, stats) and
drives :class:`l5d.http.proxy.Exchange` through them. Reactor-thread only.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from dtab import (
    EMPTY_DTAB, AddrBound, BindingCache, BoundName, Dtab, DtabParseError, Failed, Interpreter,
    Leaf, Ok, Path,
)
from l5d.http.client import EndpointPool
from l5d.http.headers import (
    DST_HEADERS, DTAB_HEADERS, HOP_BY_HOP, connection_tokens, decode_trace, local_dtab,
    new_root_trace, next_trace, via_count,
)
from l5d.http.framing import HeadInfo
from l5d.http.proxy import Exchange
from l5d.router.identifier import Identified, RequestView
from l5d.router.route import (
    addresses, binding_timeout_message, connect_failed_message, no_route_message, pick_bound,
    resolutions, unknown_destination_message,
)
from l5d.telemetry.stats import Stats

BIND_POLL_S = 0.05
LOCAL_DTAB_CACHE_SIZE = 256
SWEEP_INTERVAL_S = 30.0
#: pooled upstream connections idle this long are closed (below l5d's own 120 s server
#: idle timeout, so a 4140 -> 4141 hop never reuses a connection the far side is closing)
POOL_IDLE_S = 60.0
# headers never copied upstream as they came: hop-by-hop ones, l5d's own, and the framing
# and Host, which l5d writes itself from what it parsed (so Connection cannot remove them)
_UPSTREAM_DROP = (HOP_BY_HOP | DTAB_HEADERS | DST_HEADERS
                  | {b"via", b"expect", b"host", b"content-length"})
_LOOPBACK_NAMES = frozenset({"localhost", "0.0.0.0", "::", "::1", ""})


@dataclass(frozen=True, slots=True)
class ServerParams:
    """What the router needs to know about the server a request came in on."""

    ip: str
    port: int
    clear_context: bool = False
    max_call_depth: int = 1000

    @property
    def stats_label(self) -> tuple[str, str]:
        return (self.ip, str(self.port))


class Client:
    """One bound id: its current addresses and a keep-alive pool per endpoint."""

    def __init__(self, router: "HttpRouter", bound_id: Path) -> None:
        self.router = router
        self.id = bound_id
        self.name = bound_id.show()
        self._addr: Any = None
        self.pools: list[EndpointPool] = []
        self._by_key: dict[tuple[str, int], EndpointPool] = {}
        self._next = 0
        self.last_used = 0.0
        stats = router.stats_scope.scope("client", self.name.lstrip("/"))
        self.c_requests = stats.counter("requests")
        self.c_success = stats.counter("success")
        self.c_failures = stats.counter("failures")
        self.c_connect_failures = stats.counter("failures", "connect")
        self.c_requeues = stats.counter("retries", "requeues")
        self.stats = stats
        self.dst_header = b"l5d-dst-client: " + self.name.encode("latin-1") + b"\r\n"
        #: why requests must not go to these addresses (l5d's own listeners), or None
        self.forbidden: str | None = None

    @property
    def size(self) -> int:
        return len(self.pools)

    @property
    def addr(self) -> Any:
        """The address set this client was last updated with (``None`` before)."""
        return self._addr

    def update(self, bound: BoundName) -> None:
        """Follow the bound name's current address set."""
        addr = bound.addr
        if addr is self._addr:
            return
        self._addr = addr
        wanted = [(a.host, a.port) for a in addresses(bound)]  # sorted by addresses()
        keep = set(wanted)
        for key in [k for k in self._by_key if k not in keep]:
            self._by_key.pop(key).close()
        for key in wanted:
            if key not in self._by_key:
                self._by_key[key] = EndpointPool(self.router.reactor, key[0], key[1],
                                                 self.router.connect_timeout_s)
        self.pools = [self._by_key[k] for k in wanted]
        self._next = 0
        self.forbidden = None
        for host, port in wanted:
            listener = self.router.is_own_address(host, port)
            # a router never forwards into itself or to the admin server; another router of
            # this process is a destination like any other (a DaemonSet's outgoing router
            # reaches the pods on its own node through its incoming one)
            if listener is not None and listener in (self.router.label, "admin"):
                self.forbidden = f"l5d does not forward to its own listener {host}:{port}"
                break

    def next_pool(self) -> EndpointPool:
        """Round-robin over the endpoints (p2c/EWMA replaces this later)."""
        pools = self.pools
        i = self._next % len(pools)
        self._next = i + 1
        return pools[i]

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.pools = []
        self._by_key.clear()


class _Override:
    """A parsed per-request dtab (``l5d-ctx-dtab`` ++ ``l5d-dtab``) with what using it costs
    computed once: its ``l5d-ctx-dtab`` header line, and ``base ++ local`` for the base dtab
    it was last used with (rebuilt only when the base changes)."""

    __slots__ = ("local", "header", "_base", "_combined")

    def __init__(self, local: Dtab) -> None:
        self.local = local
        self.header = b"l5d-ctx-dtab: " + local.show().encode("latin-1") + b"\r\n"
        self._base: Dtab | None = None
        self._combined: Dtab | None = None

    def over(self, base: Dtab) -> Dtab:
        if base is not self._base:
            self._base = base
            self._combined = base + self.local
        return self._combined  # type: ignore[return-value]


_NO_OVERRIDE = _Override(EMPTY_DTAB)


class _HeadRoute:
    """What routing found for one :class:`~l5d.http.server.KnownHead` (its ``route``).

    Identification and the dtab override are functions of the head's bytes and of the
    server it came in on, so a head read before reuses them. ``headers`` and ``target``
    are the head's fields after routing's rewrites. ``up_*`` is the upstream head but
    for its per-request trace ids, valid while the service's ``dst_headers`` and the
    override are the same objects (set by :meth:`HttpRouter._upstream_head`).
    """

    __slots__ = ("server", "override", "ident", "headers", "target", "up_dst", "up_prefix",
                 "up_suffix")

    def __init__(self, server: Any, override: "_Override", ident: Identified, headers: list,
                 target: bytes) -> None:
        self.server = server
        self.override = override
        self.ident = ident
        self.headers = headers
        self.target = target
        self.up_dst: bytes | None = None
        self.up_prefix = b""
        self.up_suffix = b""


class _ServiceStats:
    """Per logical name: its stats, and the route its last request took (a memo).

    The memo (``base``, ``override``, ``generation``, ``epoch`` -> ``bound``, ``client``,
    ``dst_headers``) lets the next request with the same name skip binding, picking and
    the client lookup. It holds only while every input is unchanged: the same base dtab
    object and override, the same namer generation (so the binding is the same), and
    the same router epoch (no client evicted or swept since). Only a bound tree that is
    a single leaf is memoised: a weighted union must pick again per request.
    """

    __slots__ = ("requests", "success", "failures", "last_used", "dst_header", "names",
                 "base", "override", "generation", "epoch", "bound", "client", "dst_headers")

    def __init__(self, stats: Any, dst: Path) -> None:
        self.dst_header = b"l5d-dst-service: " + dst.show().encode("latin-1") + b"\r\n"
        self.names = [stats.prefix + (n,) for n in ("requests", "success", "failures")]
        self.requests = stats.counter("requests")
        self.success = stats.counter("success")
        self.failures = stats.counter("failures")
        self.last_used = 0.0
        self.base: Any = None
        self.override: Any = None
        self.generation: Any = None
        self.epoch = -1
        self.bound: Any = None
        self.client: Any = None
        self.dst_headers = b""


class HttpRouter:
    """Routes HTTP requests for one configured router.

    :param dtab: zero-argument callable returning the current base :class:`Dtab`.
    :param identifier: request -> :class:`Identified` | :class:`Unidentified`.
    :param total_timeout_s: ``service.totalTimeoutMs`` (None: no limit).
    :param attempt_timeout_s: ``client.requestAttemptTimeoutMs`` (None: no limit).
    :param is_own_address: ``(host, port) ->`` the name of the listener of this process it
        is (a router label, or ``admin``), or ``None``; a router never forwards to its own
        listeners or the admin server.
    :param now: monotonic seconds.
    """

    def __init__(self, *, label: str, reactor: Any, now: Callable[[], float], rng: random.Random,
                 dtab: Callable[[], Dtab], interpreter: Interpreter, identifier: Callable,
                 stats: Stats, binding_timeout_s: float = 10.0, binding_cache_size: int = 1000,
                 idle_ttl_s: float = 600.0, max_err_bytes: int = 5120 * 1024,
                 max_header_bytes: int = 8192, connect_timeout_s: float = 10.0,
                 max_connect_attempts: int = 25, max_clients: int = 1000,
                 total_timeout_s: float | None = None,
                 attempt_timeout_s: float | None = None,
                 is_own_address: Callable[[str, int], str | None] = lambda h, p: None) -> None:
        self.label = label
        self.reactor = reactor
        self.now = now
        self.rng = rng
        self._dtab = dtab
        self.interpreter = interpreter
        self.identifier = identifier
        self.stats = stats
        self.stats_scope = stats.scope("rt", label)
        self.binding_timeout_s = binding_timeout_s
        self.cache = BindingCache(interpreter, now, max_size=binding_cache_size, idle_ttl_s=idle_ttl_s)
        self.idle_ttl_s = idle_ttl_s
        self.max_err_bytes = max_err_bytes
        self.max_header_bytes = max_header_bytes
        self.connect_timeout_s = connect_timeout_s
        self.max_connect_attempts = max_connect_attempts
        self.total_timeout_s = total_timeout_s
        self.attempt_timeout_s = attempt_timeout_s
        self.is_own_address = is_own_address
        self.clients: dict[Path, Client] = {}
        # per logical name, least recently used first; at most max_services entries
        self._services: OrderedDict[Path, _ServiceStats] = OrderedDict()
        self.max_services = binding_cache_size
        self.max_clients = max_clients
        self._server_stats: dict[tuple, Any] = {}
        self.in_flight: set[Exchange] = set()
        self._overrides: dict[tuple, _Override] = {}
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

    def _sweep(self) -> None:
        """Expire idle bindings, clients and per-service stats (bounded memory)."""
        now = self.now()
        self.cache.expire()
        for client in self.clients.values():
            for pool in client.pools:
                pool.expire_idle(POOL_IDLE_S)
        self._epoch += 1
        for key, client in list(self.clients.items()):
            if now - client.last_used >= self.idle_ttl_s and not any(
                    ex.route is client for ex in self.in_flight):
                client.close()
                del self.clients[key]
                self.stats.remove_prefix("rt", self.label, "client", client.name.lstrip("/"))
        for key, svc in list(self._services.items()):
            if now - svc.last_used >= self.idle_ttl_s:
                del self._services[key]
                self.stats.remove(svc.names)
        self._sweeper = self.reactor.callLater(SWEEP_INTERVAL_S, self._sweep)

    def exchange_factory(self, server: ServerParams) -> Callable[[Any, Any], Exchange]:
        srv_stats = self.stats_scope.scope("server", *server.stats_label)
        c_requests = srv_stats.counter("requests")

        def new_exchange(conn: Any, head: Any) -> Exchange:
            c_requests.value += 1  # Counter.incr, inlined (once per request)
            return Exchange(conn, head, self, server)

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
            if known is not None:
                known.route = route
        else:
            head.headers = route.headers
            head.target = route.target
        override = route.override
        dst = ex.dst = route.ident.dst
        ex.local_dtab = override
        ex.head_route = route
        svc = self._services.get(dst)
        if (svc is not None and svc.epoch == self._epoch and svc.override is override
                and svc.base is self._dtab() and svc.generation == self.interpreter.generation):
            # the route this name took last time still holds: no bind, pick or lookup
            self._services.move_to_end(dst)
            client = svc.client
            now = self.now()
            client.last_used = svc.last_used = now
            ex.bound = bound = svc.bound
            ex.svc = svc
            svc.requests.value += 1
            client.c_requests.value += 1
            if client.forbidden is not None:
                ex.fail(403, client.forbidden)
                return
            ex.send_via(client, self._upstream_head(ex, bound, svc, client))
            return
        self._bind(ex, self.now() + self.binding_timeout_s)

    def _identify(self, ex: Exchange, head: Any) -> "_HeadRoute | None":
        """Max call depth, the dtab override and identification (``None``: answered)."""
        headers = head.headers
        info = head.info if head.info is not None else _scan(headers)
        override = _NO_OVERRIDE
        if not info.plain:  # Via, Connection, Expect or l5d-* headers: look closer
            if info.via and via_count(headers) > ex.server.max_call_depth:
                ex.fail(400, f"Maximum number of calls ({ex.server.max_call_depth}) has been "
                             "exceeded. Please check for proxy loops.")
                return None
            if ex.server.clear_context:
                if info.l5d:
                    headers = [(n, v) for n, v in headers if not n.lower().startswith(b"l5d-")]
                    head.headers = headers
            elif info.dtab:
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
                    override = self._overrides[key] = _Override(local) if local else _NO_OVERRIDE
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
        return _HeadRoute(ex.server, override, ident, headers, head.target)

    def _bind(self, ex: Exchange, deadline: float) -> None:
        if ex.state > 1:  # DONE or beyond routing
            return
        base = self._dtab()
        override = ex.local_dtab
        dtab = base if override is _NO_OVERRIDE else override.over(base)
        generation = self.interpreter.generation
        state = self.cache.bind(dtab, ex.dst)
        if isinstance(state, Ok):
            self._dispatch(ex, state.value, base, generation)
            return
        if isinstance(state, Failed):
            ex.fail(502, str(state.error))
            return
        now = self.now()
        if now >= deadline:
            ex.fail(502, binding_timeout_message(self.binding_timeout_s, ex.dst))
            return
        ex.set_timer(min(BIND_POLL_S, deadline - now), lambda: self._bind(ex, deadline))

    def _dispatch(self, ex: Exchange, tree: Any, base: Dtab, generation: Any = None) -> None:
        bound = pick_bound(tree, self.rng)
        if bound is None or not isinstance(bound.addr, AddrBound) or not bound.addr.addresses:
            ex.fail(502, self._no_route(ex, base))
            return
        client = self.clients.get(bound.id)
        if client is None:
            client = self.clients[bound.id] = Client(self, bound.id)
            if len(self.clients) > self.max_clients:
                self._evict_client()
        client.update(bound)
        now = self.now()
        client.last_used = now
        ex.bound = bound
        svc = ex.svc = self._service(ex.dst)
        svc.last_used = now
        svc.requests.incr()
        client.c_requests.incr()
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
        svc.client = client
        if client.forbidden is not None:
            ex.fail(403, client.forbidden)
            return
        ex.send_via(client, self._upstream_head(ex, bound, svc, client))

    def _evict_client(self) -> None:
        """Drop the least recently used client with nothing in flight (bindingCache.clients)."""
        busy = {ex.route for ex in self.in_flight}
        victim = min((c for c in self.clients.values() if c not in busy),
                     key=lambda c: c.last_used, default=None)
        if victim is not None:
            self._epoch += 1
            del self.clients[victim.id]
            victim.close()
            self.stats.remove_prefix("rt", self.label, "client", victim.name.lstrip("/"))

    def _no_route(self, ex: Exchange, base: Dtab) -> str:
        override = ex.local_dtab
        state = self.interpreter.delegate(override.over(base), ex.dst)
        tried = resolutions(state.value) if isinstance(state, Ok) else []
        return no_route_message(ex.dst, base, override.local, tried)

    def _service(self, dst: Path) -> _ServiceStats:
        services = self._services
        svc = services.get(dst)
        if svc is None:
            svc = services[dst] = _ServiceStats(
                self.stats_scope.scope("service", dst.show().lstrip("/")), dst)
            if len(services) > self.max_services:  # bounded however many names arrive
                _, old = services.popitem(last=False)
                self.stats.remove(old.names)
        else:
            services.move_to_end(dst)
        return svc

    def _upstream_head(self, ex: Exchange, bound: BoundName, svc: "_ServiceStats",
                       client: "Client") -> bytes:
        head = ex.head
        headers = head.headers
        info = head.info if head.info is not None else _scan(headers)
        route = ex.head_route
        if route is not None and info.plain and route.up_dst is svc.dst_headers:
            # this head went to this service before: only the trace ids are new
            reqid, ctx_trace = new_root_trace(self.rng)
            return b"".join((route.up_prefix, reqid, b"\r\nl5d-ctx-trace: ", ctx_trace,
                             route.up_suffix))
        absolute = head.absolute
        parts = [head.method.encode("latin-1"), b" ", head.target,
                 b" HTTP/1.0\r\n" if head.version == "1.0" else b" HTTP/1.1\r\n"]
        incoming_trace = None
        via = None
        if info.plain:
            # only Host, framing and headers forwarded as they are (scan_request listed them)
            parts += info.lines
        else:
            drop = _UPSTREAM_DROP
            if info.connection:
                # what Connection lists is hop-by-hop too; the framing and Host are written
                # below from what l5d parsed, whatever it lists (never re-framed by it)
                drop = drop | connection_tokens(headers)
            for name, value in headers:
                lower = name.lower()
                if lower in drop:
                    if lower == b"l5d-ctx-trace":
                        incoming_trace = decode_trace(value)
                    elif lower == b"via":
                        via = value if via is None else via + b", " + value
                    continue
                parts += (name, b": ", value, b"\r\n")
        host = absolute.authority if absolute is not None and absolute.authority else info.host
        if host is not None:
            parts += (b"Host: ", host, b"\r\n")
        if incoming_trace is None:
            reqid, ctx_trace = new_root_trace(self.rng)
        else:
            trace = next_trace(incoming_trace, self.rng)
            reqid, ctx_trace = trace.reqid, trace.encode()
        parts.append(svc.dst_headers)
        if ex.local_dtab is not _NO_OVERRIDE:
            parts.append(ex.local_dtab.header)
        own_via = b"1.0 linkerd" if head.version == "1.0" else b"1.1 linkerd"
        parts.append(b"l5d-reqid: ")
        prefix_end = len(parts)
        parts += (reqid, b"\r\nl5d-ctx-trace: ", ctx_trace)
        suffix_start = len(parts)
        parts += (b"\r\nVia: ", own_via if via is None else via + b", " + own_via, b"\r\n")
        if head.chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif head.content_length is not None:
            parts.append(b"Content-Length: %d\r\n" % head.content_length)
        if head.version == "1.0":
            # l5d keeps its upstream connections: an HTTP/1.0 server closes after the
            # response unless asked (the response says whether it agreed)
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if route is not None and info.plain:
            # the same head to the same service and override: all but the trace is the same
            route.up_prefix = b"".join(parts[:prefix_end])
            route.up_suffix = b"".join(parts[suffix_start:])
            route.up_dst = svc.dst_headers
        return b"".join(parts)

    # -- outcomes ------------------------------------------------------------
    def connect_failed(self, ex: Exchange, pool: EndpointPool, detail: str) -> None:
        client = ex.route
        if client is not None:
            client.c_connect_failures.incr()

    def connect_failed_text(self, ex: Exchange, pool: EndpointPool) -> str:
        client = ex.route
        addrs = [f"{p.host}:{p.port}" for p in client.pools] if client else []
        return connect_failed_message(f"{pool.host}:{pool.port}", ex.dst, client.id if client else Path(),
                                      addrs)

    def requeued(self, ex: Exchange) -> None:
        if ex.route is not None:
            ex.route.c_requeues.incr()

    def exchange_done(self, ex: Exchange, status: int) -> None:
        self.in_flight.discard(ex)
        ok = 0 < status < 500
        client = ex.route
        if client is not None:
            (client.c_success if ok else client.c_failures).value += 1
        svc = ex.svc
        if svc is not None:
            (svc.success if ok else svc.failures).value += 1

    def exchange_aborted(self, ex: Exchange) -> None:
        self.exchange_done(ex, -1)


def _scan(headers: list) -> HeadInfo:
    """HeadInfo for a head built without the server's scan (tests, tools)."""
    info = HeadInfo()
    info.plain = False  # the router walks the headers itself
    for n, v in headers:
        lower = n.lower()
        if lower == b"host":
            info.host = v
        elif lower == b"via":
            info.via = True
        elif lower == b"connection":
            info.connection = True
        elif lower.startswith(b"l5d-"):
            info.l5d = True
            info.dtab = info.dtab or lower in DTAB_HEADERS
    return info
