"""A reload carried out on a running :class:`~l5d.linker.Linker` (Twisted shell).

:func:`reload` takes a parsed config and either changes nothing (:class:`Refused`, with
every reason) or swaps it in (:class:`Reloaded`, with the plan). In order:

1. ``check_config`` and :func:`~l5d.reload.plan.plan_reload` (pure); a plan with
   ``refused`` ends here.
2. A trial build of the whole new config with throwaway stats, Kubernetes watches and dtab
   store: every build error is found before anything is touched.
3. The real build, taking over what the plan keeps (:class:`~l5d.linker.Reuse`: the stats,
   the Kubernetes watches, the dtab store, equal namers, equal telemeters, routers kept
   as they are); the dtab store gets the new config dtabs (saved edits still win).
4. The new ports are bound; one that cannot be is a refusal, and what was done is undone.
5. The swap, in one reactor turn: a server kept by ``ip:port`` keeps its listening socket
   and its open connections, whose next requests go to the new router (requests in flight
   finish on the old one); removed servers stop listening and drain; new namers, routers,
   telemeters and access logs start; the linker's fields point at the new parts.
6. What was replaced is :class:`Retired`: once its routers have nothing in flight and its
   drained servers no open connection, it stops (routers close their clients, namers their
   watches, telemeters flush). :meth:`Linker.stop` finishes it at once.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from l5d.config import ConfigError, LinkerConfig, check_config
from l5d.dtab_store.build import build_backend
from l5d.dtab_store.store import DtabStore
from l5d.k8s.apis import K8sApis
from l5d.reload.plan import ReloadPlan, plan_reload, show_key
from l5d.telemetry.access_log import run_now
from l5d.telemetry.stats import Stats

__all__ = ["Refused", "Reloaded", "Retired", "reload"]

log = logging.getLogger("l5d.reload")

DRAIN_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Reloaded:
    """The new config is in force. :param listeners: the servers it bound."""

    plan: ReloadPlan
    listeners: tuple = ()

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "unchanged" if self.plan.unchanged else "reloaded",
                **self.plan.to_json(),
                "listening": [{"router": lst.name, "url": lst.url} for lst in self.listeners]}


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing changed; ``errors`` says why (every reason found)."""

    errors: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "refused", "errors": list(self.errors)}


def reload(linker: Any, config: LinkerConfig) -> Reloaded | Refused:
    """Swap ``config`` into the running ``linker`` (reactor thread), or change nothing."""
    from l5d.linker import Linker, Listener, Reuse

    try:
        check_config(config)
    except ConfigError as err:
        return Refused(_errors(err))
    plan = plan_reload(linker.config, config)
    if plan.refused:
        return Refused(plan.refused)
    if plan.unchanged:
        linker.config = config  # what /config.json shows (comments, spelling)
        return Reloaded(plan)
    env = linker.env
    reactor = linker._reactor
    # 2. the trial build: nothing of the running linker is touched
    try:
        trial_k8s = K8sApis(reactor, env.variables, random.Random(0))
        # a worker's trial builds what a worker builds (no namers: nothing to import)
        Linker(config, dataclasses.replace(env, process=None), reactor, linker._now,
               random.Random(0), linker._wall, lambda name: run_now, worker=linker.worker,
               control=linker.control,
               reuse=Reuse(Stats(), trial_k8s, linker.dtab_store if linker.worker else DtabStore(
                   build_backend(config.dtab_store, reactor, trial_k8s, linker._wall),
                   {r.label: r.dtab for r in config.routers}, linker._wall)))
    except ConfigError as err:
        return Refused(_errors(err))
    except Exception as err:  # a plugin's build failing otherwise: still a refusal
        log.exception("reload: building the new config failed")
        return Refused((f"building the new config failed: {err!r}",))
    # 3. the real build, taking over what the plan keeps
    old_routers = {r.label: r for r in linker.routers}
    old_servers = list(linker._servers)
    kept = {}
    for label in plan.routers_kept:
        router = old_routers[label]
        kept[label] = (router, [s for s in old_servers if s.router is router],
                       linker.access_by_label.get(label))
    old_namers = [namer for _, namer in linker.namers]
    reuse = Reuse(linker.stats, linker.k8s, linker.dtab_store,
                  # a worker has no namers (its control binds): nothing to keep
                  {} if linker.worker else {new: old_namers[old] for new, old in plan.namers_kept},
                  tuple(linker.telemeters) if plan.telemetry_kept else None, kept, linker,
                  linker.tls)
    old_dtabs = {r.label: r.dtab for r in linker.config.routers}
    linker.dtab_store.reconfigure({r.label: r.dtab for r in config.routers})
    try:
        new = Linker(config, env, reactor, linker._now, linker._rng, linker._wall,
                     linker._run_blocking, reuse=reuse, worker=linker.worker,
                     control=linker.control)
    except Exception as err:
        linker.dtab_store.reconfigure(old_dtabs)
        _rewatch(old_servers, kept)
        log.exception("reload: building the new config failed")
        return Refused(_errors(err) if isinstance(err, ConfigError)
                       else (f"building the new config failed: {err!r}",))
    # 4. bind the new ports
    by_key = {srv.key: srv for srv in old_servers}
    bound: dict = {}
    errors = []
    for srv in new._servers:
        if srv.key in by_key:
            continue
        try:
            bound[srv.key] = new.open_port(srv, new.server_factory(srv))
        except Exception as err:
            errors.append(f"rt/{srv.router.label}: cannot listen on {show_key(srv.key)}: {err}")
    if errors:
        for port in bound.values():
            port.stopListening()
        linker.dtab_store.reconfigure(old_dtabs)
        _rewatch(old_servers, kept)
        return Refused(tuple(errors))
    # 5. the swap
    new_keys = {srv.key for srv in new._servers}
    listeners = []
    for srv in new._servers:
        old = by_key.get(srv.key)
        if old is srv:
            continue  # a kept router's server
        if old is not None:
            old.factory.retarget(srv.factory._new_exchange, srv.factory.limits)
            srv.factory = old.factory
            srv.port = old.port
            srv.router.watch_server(srv.params, old.factory.load)
        else:
            srv.port = bound[srv.key]
            listeners.append(Listener(srv.router.label, srv.port))
    unbound = [srv for srv in old_servers if srv.key not in new_keys]
    for srv in unbound:
        if srv.port is not None:
            srv.port.stopListening()
        for conn in list(srv.factory.connections):
            conn.drain()
    new_routers = set(new.routers)
    new_namers = {id(n) for _, n in new.namers}
    old_telemeters = list(linker.telemeters)
    old_writers = list(linker.access_logs)
    old_runners = list(linker._runners)
    for writer in new.access_logs:
        if writer not in old_writers:
            writer.start()
    for _, namer in new.namers:
        if not any(namer is o for o in old_namers):
            start = getattr(namer, "start", None)
            if start is not None:
                start()
    for telemeter in new.telemeters:
        if telemeter not in old_telemeters:
            telemeter.start()
    for router in new.routers:
        if router not in set(linker.routers):
            router.start()
    retired = Retired(
        reactor, linker,
        routers=[r for r in linker.routers if r not in new_routers],
        servers=unbound,
        namers=[n for n in old_namers if id(n) not in new_namers],
        telemeters=[t for t in old_telemeters if t not in new.telemeters],
        writers=[w for w in old_writers if w not in new.access_logs],
        runners=[r for r in old_runners if r not in new._runners],
        removed_labels=plan.routers_removed)
    admin = [lst for lst in linker._listeners if lst.name == "admin"]
    linker.config = config
    for name in ("routers", "_servers", "namers", "telemeters", "sinks", "trace_sinks",
                 "trace_sample_rate", "access_logs", "_runners", "access_by_label"):
        setattr(linker, name, getattr(new, name))
    # a kept router's io.l5d.ingress watch is not built again: its feed stays; one no
    # router uses any more goes, and its watch may expire
    from l5d.router.ingress import ingress_keys

    wanted = ingress_keys(config)
    feeds = {**linker.ingress_feeds, **new.ingress_feeds}
    for key, feed in feeds.items():
        if key not in wanted:
            feed.unpin()
    linker.ingress_feeds = {k: f for k, f in feeds.items() if k in wanted}
    linker._listeners = [Listener(srv.router.label, srv.port) for srv in linker._servers] + admin
    linker.retired.append(retired)
    retired.poll()
    return Reloaded(plan, tuple(listeners))


def _errors(err: Exception) -> tuple[str, ...]:
    """Every error a ConfigError carries (one, or the several of a collected one)."""
    several = getattr(err, "errors", None)
    if several:
        return tuple(str(e) for e in several)
    return (str(err),)


def _rewatch(old_servers: list, kept: dict) -> None:
    """Point the servers' gauges back at the running servers (the real build re-pointed
    those of the routers it rebuilt)."""
    kept_routers = {v[0] for v in kept.values()}
    for srv in old_servers:
        if srv.router not in kept_routers:
            srv.router.watch_server(srv.params, srv.factory.load)


class Retired:
    """What a reload replaced, finishing its work; it stops once its routers have no request
    in flight and its drained servers no open connection (or at :meth:`finish`)."""

    def __init__(self, reactor: Any, linker: Any, *, routers: list, servers: list,
                 namers: list, telemeters: list, writers: list, runners: list,
                 removed_labels: tuple[str, ...]) -> None:
        self._reactor = reactor
        self._linker = linker
        self.routers = routers
        self.servers = servers
        self.namers = namers
        self.telemeters = telemeters
        self.writers = writers
        self.runners = runners
        self.removed_labels = removed_labels
        self._finished: defer.Deferred | None = None

    def busy(self) -> bool:
        return any(r.in_flight for r in self.routers) or any(
            srv.factory.connections for srv in self.servers)

    def poll(self) -> None:
        if self._finished is not None:
            return
        if self.busy():
            self._reactor.callLater(DRAIN_POLL_S, self.poll)
            return
        self.finish()

    def finish(self) -> "defer.Deferred[Any]":
        """Stop what was retired (once)."""
        if self._finished is not None:
            return self._finished
        if self in self._linker.retired:
            self._linker.retired.remove(self)
        for router in self.routers:
            router.stop()
        shared = {id(w) for w in self._linker.k8s.by_access.values()}
        for namer in self.namers:
            inner = getattr(namer, "namer", namer)
            if id(getattr(inner, "watches", None)) in shared:
                continue  # the watches are shared with the namers in force
            stop = getattr(namer, "stop", None)
            if stop is not None:
                stop()
        stats = self._linker.stats
        for label in self.removed_labels:
            if label not in {r.label for r in self._linker.routers}:
                stats.remove_prefix("rt", label)
        ending = [defer.maybeDeferred(t.stop) for t in self.telemeters] + [
            w.stop() for w in self.writers]
        d = defer.gatherResults(ending, consumeErrors=True)

        def runners_done(_: Any) -> None:
            for runner in self.runners:
                stop = getattr(runner, "stop", None)
                if stop is not None:
                    stop()
            if self.routers or self.servers:
                log.info("reload: the replaced routers and servers finished (%s)",
                         ", ".join([f"rt/{r.label}" for r in self.routers]
                                   + [show_key(s.key) for s in self.servers]))
        d.addBoth(runners_done)
        self._finished = d
        return d
