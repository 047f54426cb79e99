"""The linker: a parsed config turned into objects, then started (Twisted shell).

Parse, then build, then start (Linkerd's ``Linker.scala`` without its side
effects):

* :func:`build` checks the whole config again (so configs made in code get
  the same cross-checks as parsed ones) and makes a :class:`Linker` with its
  namers and routers. It opens no sockets, reads no files and no environment:
  the pod IP, node name and namespace arrive as an :class:`Env` from
  ``l5d/main.py``. ``l5d --validate`` is parse + build.
* :meth:`Linker.start` opens the access logs, loads the namers, opens every router
  server and the admin server. :meth:`Linker.stop` drains: it stops accepting, lets
  in-flight requests finish for up to ``admin.shutdownGraceMs``, then cuts the rest
  (logging how many), and flushes the access logs.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import random
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.python.failure import Failure

from dtab import EMPTY_DTAB, Interpreter, Path
from l5d.config import ConfigError, LinkerConfig, RouterConfig, ServerConfig, check_config
from l5d.config.socket_options import SocketOptionsConfig
from l5d.http.fasttcp import listen_tcp
from l5d.http.forwarded import Forwarder
from l5d.http.framing import MAX_FIXED_BODY
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory, ServerLimits
from l5d.http.server_output import DRAIN_IDLE_S
from l5d.k8s.apis import K8sApis
from l5d.reload.plan import server_key
from l5d.router.build import build_identifier
from l5d.telemetry.access_file import AccessLogFile
from l5d.telemetry.access_log import AccessLogWriter, Run, ThreadRunner, run_now
from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter
from l5d.tls.contexts import TlsContexts

if TYPE_CHECKING:
    from l5d.dtab_store.store import DtabStore

# a worker process (``worker=``) builds no namers, transformers or dtab store: their modules
# (l5d.namers.build, l5d.transformers.build, l5d.dtab_store.*) are imported where they are
# built, so that a worker never loads them (issue 14, memory)
__all__ = ["Env", "Linker", "Listener", "Reuse", "build"]

log = logging.getLogger("l5d.linker")

DRAIN_POLL_S = 0.05
#: after cutting what outlived the grace, how long to wait for the cut connections to close
CUT_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class Env:
    """What the linker may know about where it runs, read by ``l5d/main.py``
    (from the downward API variables in a DaemonSet). All optional.

    :param pod_ip: this pod's IP (``POD_IP``).
    :param node_name: the Kubernetes node (``NODE_NAME``).
    :param namespace: this pod's namespace (``POD_NAMESPACE``).
    :param variables: the environment variables (``io.l5d.k8s.ns``'s ``envVar``, the
        in-cluster ``KUBERNETES_SERVICE_*``).
    :param local_ips: this host's addresses (a lookup of its host name): what
        ``io.l5d.localhost`` keeps and what l5d never forwards to on its own ports.
    :param resolve: host name -> IP addresses, for ``io.l5d.specificHost``; by default
        only IP literals resolve (no name lookup outside the entry point).
    :param process: a :class:`~l5d.telemetry.process.ProcessProbe` whose figures join the
        metrics (``process/...``), or ``None``.
    """

    pod_ip: str | None = None
    node_name: str | None = None
    namespace: str | None = None
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    local_ips: tuple[str, ...] = ()
    resolve: Callable[[str], tuple[str, ...]] = field(default=lambda host: _literal(host))
    process: Any = None


def _literal(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return ()


@dataclass(frozen=True, slots=True)
class Listener:
    """One open port: what it is for (``admin``, ``http``), the port itself, and whether it
    speaks TLS."""

    name: str
    port: IListeningPort
    tls: bool = False

    @property
    def url(self) -> str:
        """``http(s)://<ip>:<port>/`` with the port actually bound (useful with port 0)."""
        address = self.port.getHost()
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"{'https' if self.tls else 'http'}://{host}:{address.port}/"


class _State(enum.Enum):
    BUILT = "built"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(slots=True)
class _Server:
    router: HttpRouter
    params: ServerParams
    factory: HttpServerFactory
    key: tuple = ()  # :func:`l5d.reload.plan.server_key`
    port: Any = None  # its listening port, once started
    socket_options: SocketOptionsConfig | None = None
    tls: Any = None  # its ServerTlsConfig


@dataclass(frozen=True, slots=True)
class Reuse:
    """What a reload's new :class:`Linker` takes over from the running one
    (:mod:`l5d.reload.swap`) instead of building it.

    :param namers: index in the new config's ``namers`` -> the running namer.
    :param telemeters: the running telemeters, or ``None`` to build them.
    :param routers: label -> ``(router, its servers, its access log writer and runner)``.
    :param owner: the running linker: the new routers ask it which addresses are its own
        (its listeners), and the new telemeters read its metrics.
    :param tls: the running linker's :class:`~l5d.tls.context.TlsContexts` (certificate
        files already watched, their counts kept), or ``None`` to make new ones.
    """

    stats: Stats
    k8s: K8sApis
    dtab_store: DtabStore
    namers: Mapping[int, Any] = field(default_factory=dict)
    telemeters: tuple | None = None
    routers: Mapping[str, tuple] = field(default_factory=dict)
    owner: Any = None
    tls: Any = None


def listen_options(sockets: SocketOptionsConfig | None) -> dict[str, Any]:
    """``socketOptions`` as :func:`listen_tcp`'s keywords (its defaults when left out)."""
    if sockets is None:
        return {}
    return {"backlog": sockets.listen_backlog, "keep_alive": sockets.keep_alive,
            "reuse_port": sockets.reuse_port}


class Linker:
    """The running (or ready to run) router process. Reactor-thread only.

    :param config: the checked config.
    :param env: where we run.
    :param reactor: provides ``IReactorTCP`` and ``IReactorTime``; never the global one.
    :param now: monotonic seconds (``time.monotonic`` in production).
    :param rng: randomness for union picks, trace ids, balancers and backoffs.
    :param wall: wall-clock seconds (``time.time``; ``l5d-ctx-deadline``).
    :param run_blocking: where an access log's file calls run; by default a thread of its
        own when the reactor has ``callFromThread``, else on the reactor thread (tests).
    """

    def __init__(self, config: LinkerConfig, env: Env, reactor: Any,
                 now: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 wall: Callable[[], float] = time.time,
                 run_blocking: Callable[[str], Run] | None = None, *,
                 reuse: Reuse | None = None, worker: Any = None,
                 control: bool = False) -> None:
        self.config = config
        #: in a worker process (:mod:`l5d.workers`): its link to the control process, which
        #: binds names and keeps the dtabs; the worker runs no namers and no admin server
        self.worker = worker
        #: the control process of workers: everything but the router ports, which it
        #: reserves (bound, not listening) for the workers to listen on
        self.control = control
        #: the control of workers: what it gathers from them (client states, recent
        #: requests, stats), set by its supervisor (:mod:`l5d.workers.supervisor`)
        self.gathered: Any = None
        self.env = env
        self._reactor = reactor
        self._now = now
        self._wall = wall
        self._rng = rng if rng is not None else random.Random()
        self._state = _State.BUILT
        self._serving = False  # started, listeners open: stop() says what it does
        self._listeners: list[Listener] = []
        self.stats = reuse.stats if reuse is not None else Stats()
        if env.process is not None and reuse is None:
            env.process.register(self.stats)
        self._snapshot_call: Any = None
        self.k8s = reuse.k8s if reuse is not None else K8sApis(reactor, env.variables, self._rng)
        #: a reload's retired parts still finishing their work (:mod:`l5d.reload.swap`)
        self.retired: list[Any] = []
        #: the io.l5d.ingress watches (a control sends their Ingresses to its workers):
        #: key (:func:`~l5d.router.ingress.ingress_key`) -> its IngressFeed
        self.ingress_feeds: dict[str, Any] = {}
        self.namers: list[tuple[Any, Any]] = []
        if worker is None and config.namers:
            from l5d.namers.build import build_namer
        for i, ncfg in enumerate(config.namers if worker is None else ()):
            where = f"namers[{i}]"
            kept = reuse.namers.get(i) if reuse is not None else None
            namer = kept if kept is not None else _building(where, lambda: build_namer(
                ncfg, reactor, self.k8s, env.variables,
                lambda cfgs: self._transformers(cfgs, f"{where}.transformers")))
            self.namers.append((ncfg.dtab_prefix, namer))
            register = getattr(namer, "register_stats", None)
            if register is not None:  # namer stats: #/io.l5d.k8s/...
                register(self.stats.scope(ncfg.dtab_prefix.show().lstrip("/")))
        owner = reuse.owner if reuse is not None and reuse.owner is not None else self
        ctx = TelemetryContext(reactor, self.stats, owner.read_metrics, now, wall, self._rng)
        configs = config.telemetry
        if worker is not None:  # only the telemeters that take records (see below)
            trial = TelemetryContext(reactor, Stats(), owner.read_metrics, now, wall,
                                     self._rng)
            configs = tuple(c for c in configs if build_telemeter(c, trial).record is not None)
        self.telemeters = list(reuse.telemeters) if reuse is not None and \
            reuse.telemeters is not None else [
                _building(f"telemetry[{i}]", lambda: build_telemeter(tcfg, ctx))
                for i, tcfg in enumerate(configs)]
        #: what every router's finished requests' records go to (plus its access log):
        #: (share of requests, sink); a tracer's take the records of sampled traces
        #: (``trace_sinks``)
        self.sinks = tuple((t.sample_rate, t.record) for t in self.telemeters
                           if t.record is not None and not t.tracer)
        self.trace_sinks = tuple((t.sample_rate, t.record) for t in self.telemeters
                                 if t.record is not None and t.tracer)
        #: the rate the routers sample new traces at: the largest of the tracers that decide
        #: (0 if none does); ``None``: no tracer
        tracers = [t for t in self.telemeters if t.tracer]
        self.trace_sample_rate = max(
            [t.trace_sample_rate or 0.0 for t in tracers]) if tracers else None
        if run_blocking is None:
            threads = hasattr(reactor, "callFromThread")
            run_blocking = (lambda name: ThreadRunner(reactor, name)) if threads \
                else (lambda name: run_now)
        self._run_blocking = run_blocking
        #: the routers' ``httpAccessLog`` writers
        self.access_logs: list[AccessLogWriter] = []
        self._runners: list[Any] = []
        #: router label -> (its access log writer, its runner), for the routers with one
        self.access_by_label: dict[str, tuple[Any, Any]] = {}
        self.routers: list[HttpRouter] = []
        self._servers: list[_Server] = []
        #: TLS contexts (servers', clients', the admin's), loaded by start()
        self.tls = reuse.tls if reuse is not None and reuse.tls is not None \
            else TlsContexts(now)
        if not self.tls.registered and (config.admin.tls is not None or any(
                s.tls is not None for r in config.routers for s in r.servers) or any(
                e.tls is not None for r in config.routers for e in r.client.entries)):
            self.tls.register_stats(self.stats)
        #: each router's base dtab: its config's, or an edit saved in ``dtabStore``
        self.dtab_store = reuse.dtab_store if reuse is not None else worker.dtab_store(
            config) if worker is not None else _dtab_store(config, reactor, self.k8s, wall)
        for i, rcfg in enumerate(config.routers):
            kept_router = reuse.routers.get(rcfg.label) if reuse is not None else None
            if kept_router is not None:
                router, servers, access = kept_router
                self.routers.append(router)
                self._servers.extend(servers)
                if access is not None:
                    self.access_logs.append(access[0])
                    self._runners.append(access[1])
                    self.access_by_label[rcfg.label] = access
                continue
            transformers = [] if worker is not None else self._transformers(
                rcfg.interpreter.transformers, f"routers[{i}].interpreter.transformers")
            interpreter = Interpreter(self.namers, transformers=transformers) \
                if worker is None else worker.interpreter(rcfg.label)
            sinks = self.sinks
            if rcfg.access_log is not None:
                runner = run_blocking(f"l5d-access-log-{rcfg.label}")
                self._runners.append(runner)
                # a worker of several shares the file: worker 0 rolls it, none empties it
                # (the control did at start, if asked; l5d.telemetry.access_file)
                writer = AccessLogWriter(
                    rcfg.access_log, rcfg.label, reactor, runner,
                    RateLimitedLog(logging.getLogger("l5d.access_log"), reactor, now),
                    file=None if worker is None else AccessLogFile(
                        rcfg.access_log, rolls=worker.index == 0, keep=True))
                self.access_logs.append(writer)
                self.access_by_label[rcfg.label] = (writer, runner)
                sinks = sinks + ((1.0, writer.record),)
            router = HttpRouter(
                label=rcfg.label, reactor=reactor, now=now, rng=self._rng,
                dtab=self.dtab_store.dtab_for(rcfg.label), interpreter=interpreter,
                identifier=build_identifier(rcfg.identifiers, rcfg.dst_prefix,
                                            ingress=self._ingress),
                # a control's routers serve no traffic: the workers' stats are the routers'
                stats=Stats() if control else self.stats,
                binding_timeout_s=rcfg.binding_timeout_s,
                binding_cache_size=rcfg.binding_cache.paths,
                max_clients=rcfg.binding_cache.clients,
                idle_ttl_s=rcfg.binding_cache.idle_ttl_s,
                max_err_bytes=rcfg.max_err_response_kb * 1024,
                max_header_bytes=rcfg.max_headers_kb * 1024,
                client_config=rcfg.client, service_config=rcfg.service,
                replay_limit=rcfg.stream_after_content_length_kb * 1024, wall=wall,
                is_own_address=owner.is_own_address, sinks=sinks,
                record_stats=env.variables.get("L5D_STATS", "on") != "off",
                trace_sinks=self.trace_sinks,
                trace_propagator=rcfg.trace_propagator,
                trace_sample_rate=self.trace_sample_rate, tls=self.tls,
            )
            self.routers.append(router)
            for j, scfg in enumerate(rcfg.servers):
                forwarded = None if scfg.add_forwarded_header is None else Forwarder(
                    scfg.add_forwarded_header, rcfg.label, self._rng)
                params = ServerParams(scfg.ip, scfg.port, scfg.clear_context, scfg.max_call_depth,
                                      forwarded)
                factory = HttpServerFactory(router.exchange_factory(params), reactor,
                                            server_limits(rcfg, scfg))
                router.watch_server(params, factory.load)
                self._servers.append(_Server(router, params, factory,
                                             server_key(rcfg.label, j, scfg.ip, scfg.port),
                                             socket_options=scfg.socket_options, tls=scfg.tls))

    def _ingress(self, cfg: Any, prefix: Any) -> Any:
        """An ``io.l5d.ingress`` identifier on this linker's shared Kubernetes watches; in a
        worker, on the Ingresses its control watches and sends (one watch per node)."""
        from l5d.k8s.choice import choose
        from l5d.router.ingress import IngressFeed, ingress_identifier, ingress_key

        if self.worker is not None:
            feed = self.worker.ingress_feed(ingress_key(cfg))
            return ingress_identifier(prefix, lambda: feed, lambda: feed.generation,
                                      cfg.ingress_class, cfg.ignore_default_backends)
        a = cfg.access
        access = choose(a.host, a.port, a.service_account, a.kubeconfig, a.context,
                        self.env.variables, a.account_dir)
        watches = self.k8s.watches(access)
        path = ("/apis/networking.k8s.io/v1/ingresses" if cfg.namespace is None
                else f"/apis/networking.k8s.io/v1/namespaces/{cfg.namespace}/ingresses")
        # the watch starts with the linker (start()), or at the first request after it
        feed = IngressFeed(watches, path)
        self.ingress_feeds[ingress_key(cfg)] = feed
        return ingress_identifier(prefix, feed, lambda: watches.generation,
                                  cfg.ingress_class, cfg.ignore_default_backends)

    def _transformers(self, configs: Any, where: str) -> list[Any]:
        """Runtime transformers; ``replace`` and ``const`` bind with the namers and no dtab."""
        if not configs:
            return []
        from l5d.transformers.build import build_transformer

        plain = Interpreter(self.namers)

        def bind(path: Path) -> Any:
            return plain.bind(EMPTY_DTAB, path)

        return [_building(f"{where}[{j}]", lambda: build_transformer(
            cfg, self.env, self.k8s, bind, lambda: plain.generation))
            for j, cfg in enumerate(configs)]

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def is_own_address(self, host: str, port: int) -> str | None:
        """Which of this process's listeners ``host:port`` is (its name: a router label or
        ``admin``), or ``None``. A worker's include the control's admin port."""
        ports = [(lst.name, lst.port.getHost()) for lst in self._listeners]
        if self.worker is not None and self.worker.admin is not None:
            ports.append(("admin", self.worker.admin))
        for name, addr in ports:
            if addr.port != port:
                continue
            if host == addr.host or host in ("localhost", "0.0.0.0", "::", "::1", ""):
                return name
            if host == self.env.pod_ip or host in self.env.local_ips:
                return name
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            if ip.is_loopback or ip.is_unspecified:
                return name
        return None

    def start(self, admin_factory: IProtocolFactory) -> "defer.Deferred[list[Listener]]":
        """Load the namers and the saved dtabs (``dtabStore``), then listen on every router
        server and the admin address.

        The admin site is passed in (rather than built here) because it lives
        in ``admin_ui``, which ``l5d`` must not import.

        :return: a Deferred firing with the listeners, or failing (with
            ``CannotListenError``, say) after closing whatever did open.
        :raises RuntimeError: when called twice.
        """
        if self._state is not _State.BUILT:
            raise RuntimeError(f"start: the linker is {self._state.value}, not built")
        self._state = _State.RUNNING
        try:
            for writer in self.access_logs:
                writer.start()
            self.k8s.start()
            for feed in self.ingress_feeds.values():
                feed()
            for _, namer in self.namers:
                start = getattr(namer, "start", None)
                if start is not None:
                    start()
        except Exception:
            failure = Failure()
            return self.stop().addCallback(lambda _: failure)
        # the saved dtabs are in force before the first request is accepted
        started = self.dtab_store.start()
        started.addCallback(lambda _: self._listen(admin_factory))
        started.addErrback(lambda failure: self.stop().addCallback(lambda _: failure))
        return started

    def server_factory(self, srv: _Server) -> Any:
        """``srv``'s protocol factory, behind TLS when it has ``tls`` (its certificate files
        load now: a bad one raises)."""
        if srv.tls is None:
            return srv.factory
        from l5d.tls.transport import tls_server_factory

        return tls_server_factory(
            self.tls.server(srv.tls, f"{srv.router.label}:{srv.params.port}"), srv.factory,
            self._reactor)

    def _listen(self, admin_factory: IProtocolFactory) -> list[Listener]:
        if self._state is not _State.RUNNING:
            raise RuntimeError("start: the linker was stopped while starting")
        # every certificate file loads before any port opens (a bad one fails the start)
        factories: list[Any] = []
        for srv in self._servers:
            factories.append(self.server_factory(srv))
        for rcfg in self.config.routers:
            for entry in rcfg.client.entries:
                if entry.tls is not None and entry.tls.enabled:
                    self.tls.client(entry.tls)
        admin = self.config.admin
        if admin.tls is not None:
            from l5d.tls.transport import tls_server_factory

            admin_factory = tls_server_factory(self.tls.server(admin.tls, "admin"),
                                               admin_factory, self._reactor)
        for srv, factory in zip(self._servers, factories):
            port = srv.port = self.open_port(srv, factory)
            self._listeners.append(Listener(srv.router.label, port, srv.tls is not None))
        if admin_factory is not None:
            port = self._reactor.listenTCP(admin.port, admin_factory, interface=admin.ip)
            self._listeners.append(Listener("admin", port, admin.tls is not None))
        for router in self.routers:
            router.start()
        for telemeter in self.telemeters:
            telemeter.start()
        self._schedule_snapshot()
        self._serving = True
        return list(self._listeners)

    def open_port(self, srv: _Server, factory: Any) -> Any:
        """``srv``'s port: listening (one process); listening with ``SO_REUSEPORT`` on the
        port the control reserved (a worker); or reserved, bound and not listening, with
        ``SO_REUSEPORT`` (the control of workers: the port is taken and known, port 0
        included, while the workers accept)."""
        options = listen_options(srv.socket_options)
        if self.control:
            from l5d.workers.reserve import reserve_port

            return reserve_port(srv.params.ip, srv.params.port)
        port = srv.params.port
        if self.worker is not None:
            options["reuse_port"] = True
            port = self.worker.port_for(srv.key, port)
        return listen_tcp(self._reactor, port, factory, interface=srv.params.ip, **options)

    def reload(self, config: LinkerConfig) -> Any:
        """Swap ``config`` in while serving (:func:`l5d.reload.swap.reload`): a
        :class:`~l5d.reload.swap.Reloaded`, or a :class:`~l5d.reload.swap.Refused` that
        changed nothing."""
        from l5d.reload.swap import Refused, reload

        if self._state is not _State.RUNNING or not self._serving:
            return Refused(("l5d is not serving (starting or stopping)",))
        return reload(self, config)

    def reopen_access_logs(self) -> None:
        """Reopen every access log file at its path (SIGHUP, ``httpAccessLogRollPolicy:
        sighup``)."""
        for writer in self.access_logs:
            writer.reopen()

    # -- metrics -------------------------------------------------------------
    def _schedule_snapshot(self) -> None:
        """Close the histograms' window every ``admin.metricsSnapshotIntervalMs``."""
        interval = self.config.admin.metrics_snapshot_s
        if self.worker is not None:
            return  # a worker's windows are closed when the control collects them
        if interval > 0 and self._state is _State.RUNNING:
            def tick() -> None:
                self.stats.snapshot()
                self._schedule_snapshot()
            self._snapshot_call = self._reactor.callLater(interval, tick)

    def read_metrics(self) -> Stats:
        """The registry for an exporter to read (with ``metricsSnapshotIntervalMs: 0`` each
        read closes the histograms' window first)."""
        if self.config.admin.metrics_snapshot_s == 0:
            self.stats.snapshot()
        for router in self.routers:
            router.count_pending()
        return self.stats

    def client_states(self) -> dict[str, dict[str, Any]]:
        """``/client_state.json``: each client's address state; the control of workers
        gathers its workers' (:attr:`gathered`)."""
        from l5d.telemetry.client_state import client_states

        if self.gathered is not None:
            return self.gathered.client_states()
        return client_states(self.routers)

    def stop(self) -> "defer.Deferred[None]":
        """Drain and stop. Safe to call more than once.

        Router ports stop accepting at once; idle client connections close;
        connections with a request in flight close after its response. After
        ``admin.shutdownGraceMs`` whatever is left is cut. When the linker was serving, it
        logs the drain, what was cut (a warning) and the end.
        """
        if self._state is _State.STOPPED:
            return defer.succeed(None)
        self._state = _State.STOPPED
        if self._snapshot_call is not None and self._snapshot_call.active():
            self._snapshot_call.cancel()
        admin_listeners = [lst for lst in self._listeners if lst.name == "admin"]
        router_listeners = [lst for lst in self._listeners if lst.name != "admin"]
        self._listeners = []
        stopping = [defer.maybeDeferred(lst.port.stopListening) for lst in router_listeners]
        serving, self._serving = self._serving, False
        retired, self.retired = self.retired, []
        servers = self._servers + [srv for r in retired for srv in r.servers]
        routers = self.routers + [router for r in retired for router in r.routers]
        grace = self.config.admin.shutdown_grace_s
        if serving:
            conns = sum(len(srv.factory.connections) for srv in servers)
            in_flight = sum(len(r.in_flight) for r in routers)
            log.info("stopping: draining %d connections with %d requests in flight "
                     "(shutdownGraceMs %d)", conns, in_flight, round(grace * 1000))
        idle_s = min(DRAIN_IDLE_S, grace / 2)  # an idle connection: a request may be coming
        for srv in servers:
            for conn in list(srv.factory.connections):
                conn.drain(idle_s)
        done: defer.Deferred[None] = defer.Deferred()
        deadline = self._now() + grace

        def poll() -> None:
            open_conns = [c for srv in servers for c in srv.factory.connections]
            if open_conns and self._now() < deadline:
                self._reactor.callLater(DRAIN_POLL_S, poll)
                return
            if open_conns:
                in_flight = sum(len(r.in_flight) for r in routers)
                log.warning("stopping: shutdownGraceMs (%d) is over: cutting %d connections "
                            "with %d requests in flight", round(grace * 1000), len(open_conns),
                            in_flight)
                for conn in open_conns:
                    conn.abort()
                # the cut connections close on a later turn; their requests' records (access
                # log) are made then
                cut_deadline = self._now() + CUT_WAIT_S

                def closed() -> None:
                    if any(srv.factory.connections for srv in servers) \
                            and self._now() < cut_deadline:
                        self._reactor.callLater(DRAIN_POLL_S, closed)
                    else:
                        done.callback(None)

                self._reactor.callLater(0, closed)
                return
            done.callback(None)

        poll()

        def finish(_: Any) -> "defer.Deferred[Any]":
            for router in self.routers:
                router.stop()
            ending = [r.finish() for r in retired]
            for _, namer in self.namers:
                stop = getattr(namer, "stop", None)
                if stop is not None:
                    stop()
            self.k8s.stop()
            return defer.gatherResults(
                [defer.maybeDeferred(lst.port.stopListening) for lst in admin_listeners]
                + [defer.maybeDeferred(self.dtab_store.stop)]
                + [defer.maybeDeferred(t.stop) for t in self.telemeters]
                + [w.stop() for w in self.access_logs] + ending,
                consumeErrors=True)

        def stopped(_: Any) -> None:
            for runner in self._runners:
                stop = getattr(runner, "stop", None)
                if stop is not None:
                    stop()
            if serving:
                log.info("stopped")

        return (defer.gatherResults(stopping + [done], consumeErrors=True)
                .addCallback(finish).addCallback(stopped))


def server_limits(router: RouterConfig, server: ServerConfig) -> ServerLimits:
    """The :class:`ServerLimits` of one server from its router's and its own config."""
    return ServerLimits(
        max_initial_line=router.max_initial_line_kb * 1024,
        max_headers=router.max_headers_kb * 1024,
        max_body=min(router.max_request_kb * 1024, MAX_FIXED_BODY),
        header_timeout_s=server.header_timeout_s,
        body_idle_s=server.body_idle_time_s,
        send_timeout_s=server.send_timeout_s,
        idle_s=server.session.idle_time_s,
        life_s=server.session.life_time_s,
        max_concurrent_requests=server.max_concurrent_requests,
        max_connections=server.max_connections,
        clear_context=server.clear_context,
    )


def build(config: LinkerConfig, env: Env, reactor: Any, *,
          now: Callable[[], float] = time.monotonic,
          rng: random.Random | None = None, wall: Callable[[], float] = time.time,
          run_blocking: Callable[[str], Run] | None = None, worker: Any = None,
          control: bool = False) -> Linker:
    """Check ``config`` as a whole and make a :class:`Linker`; no sockets, no I/O.

    :param worker: a worker process's :class:`~l5d.workers.side.WorkerSide`.
    :param control: the control process of workers (:mod:`l5d.workers.supervisor`).
    :raises l5d.config.ConfigError: a cross-check fails (``ConflictingPorts``, ...).
    """
    check_config(config)
    return Linker(config, env, reactor, now, rng, wall, run_blocking, worker=worker,
                  control=control)


def _dtab_store(config: LinkerConfig, reactor: Any, k8s: K8sApis,
                wall: Callable[[], float]) -> "DtabStore":
    """The :class:`~l5d.dtab_store.store.DtabStore` of ``dtabStore`` (not in a worker)."""
    from l5d.dtab_store.build import build_backend
    from l5d.dtab_store.store import DtabStore

    return DtabStore(
        _building("dtabStore", lambda: build_backend(config.dtab_store, reactor, k8s, wall)),
        {rcfg.label: rcfg.dtab for rcfg in config.routers}, wall)


def _building(where: str, make: Callable[[], Any]) -> Any:
    """``make()``; a ``ValueError`` (the environment lacks something) names ``where``."""
    try:
        return make()
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err), key_path=where) from None
