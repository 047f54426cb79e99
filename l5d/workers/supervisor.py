"""The control process's side of the workers: start them, feed them, gather from them,
restart the ones that die, drain them all (Twisted shell).

The control runs a :class:`~l5d.linker.Linker` built with ``control=True``: the namers,
the Kubernetes watches, the dtab store, the admin server and the registry exporters, and
the router ports reserved (:mod:`l5d.workers.reserve`). The :class:`Supervisor` starts
``n`` workers (``python -m l5d --worker``, each with a Unix socket on its descriptor 3;
see :mod:`l5d.workers.worker` for the messages) and then:

* answers their bind requests with the control's interpreters
  (:class:`~l5d.workers.remote_interpreter.BindService`), and tells them when the namers
  changed, so the Kubernetes API sees one watch per object whatever ``n`` is;
* sends every dtab saved in the store, every reload, and the Ingresses of every
  ``io.l5d.ingress`` watch (when they change) to each of them;
* collects their stats every :data:`COLLECT_S` and before every admin read
  (:meth:`refresh`), merged into the control's registry
  (:class:`~l5d.workers.stats_merge.StatsMerger`), with their recent requests and
  client states;
* restarts a worker that dies (after :data:`RESTART_S`, doubling while it keeps dying
  young, up to :data:`MAX_RESTART_S`); the others keep their connections;
* on :meth:`stop`, asks every worker to drain and waits for them (then kills what is
  left after ``admin.shutdownGraceMs`` and :data:`KILL_AFTER_S`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

from twisted.internet import defer, task
from twisted.internet.protocol import ProcessProtocol

from l5d.workers.channel import Channel, adopt
from l5d.workers.procs import WORKER_FLAG

__all__ = ["Supervisor", "COLLECT_S", "REFRESH_TIMEOUT_S", "RESTART_S", "MAX_RESTART_S"]

log = logging.getLogger("l5d.workers")

#: how often the control collects its workers' stats
COLLECT_S = 1.0
#: how long an admin read waits for the workers' stats
REFRESH_TIMEOUT_S = 0.5
#: the first wait before a dead worker is started again
RESTART_S = 0.5
MAX_RESTART_S = 30.0
#: a worker that lived this long is not "dying young": its restart waits RESTART_S again
STABLE_S = 10.0
#: after the drain grace, how long stopping workers get before they are killed
KILL_AFTER_S = 5.0


class _Interpreters(Mapping):
    """Router label -> its interpreter in the control now (a reload replaces routers)."""

    def __init__(self, linker: Any) -> None:
        self._linker = linker

    def _now(self) -> dict[str, Any]:
        return {r.label: r.interpreter for r in self._linker.routers}

    def __getitem__(self, label: str) -> Any:
        return self._now()[label]

    def __iter__(self) -> Any:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._linker.routers)


class _Process(ProcessProtocol):
    def __init__(self, on_ended: Any) -> None:
        self._on_ended = on_ended

    def processEnded(self, reason: Any) -> None:  # noqa: N802 (Twisted's name)
        self._on_ended(reason)


class _Worker:
    """One worker slot: its process and link now (``None`` between a death and its
    restart)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.channel: Channel | None = None
        self.process: Any = None
        self.started_at = 0.0
        self.listening = False
        self.ready: defer.Deferred | None = None
        self.restart_s = RESTART_S
        self.restarts = 0
        self.records: list = []
        self.clients: dict = {}
        self.binds = 0  # names it asked the control to bind

    def send(self, message: tuple) -> None:
        if self.channel is not None:
            self.channel.send(message)

    def __repr__(self) -> str:
        return f"worker {self.index}"


class Supervisor:
    """The workers of one control process.

    :param linker: the control's linker (``control=True``), started.
    :param n: how many workers.
    :param text: the config's text (sent to each worker); ``source``: its file name.
    :param environ: the workers' environment.
    """

    def __init__(self, reactor: Any, linker: Any, n: int, text: str, source: str,
                 environ: Mapping[str, str], *, argv: tuple[str, ...] | None = None) -> None:
        from l5d.workers.remote_interpreter import BindService
        from l5d.workers.stats_merge import StatsMerger

        self._reactor = reactor
        self.linker = linker
        self.text = text
        self.source = source
        self._environ = dict(environ)
        self._argv = argv or (sys.executable, "-m", "l5d", WORKER_FLAG)
        self.workers = [_Worker(i) for i in range(n)]
        self._stopping = False
        self._stopped: defer.Deferred | None = None
        self._seq = 0
        self._collects: dict[int, tuple[defer.Deferred, set[int]]] = {}
        self._refreshing: defer.Deferred | None = None
        self._loop: task.LoopingCall | None = None
        self.merger = StatsMerger(linker.stats)
        self.binds = BindService(_Interpreters(linker), lambda w, m: w.send(m))
        linker.gathered = self
        linker.dtab_store.observe(self._dtab_saved)
        # a Kubernetes change reaches the workers at once, not at the next 20 ms poll
        self._poll_soon: Any = None
        #: ingress watch key -> the (synced, objects) last sent to the workers
        self._ingresses_sent: dict[str, tuple[bool, Any]] = {}
        linker.k8s.listeners.append(self._k8s_changed)
        for w in self.workers:  # workers/<i>/binds, restarts (its process figures: its own)
            scope = linker.stats.scope("workers", str(w.index))
            scope.function_counter(lambda w=w: w.binds, "binds")
            scope.function_counter(lambda w=w: w.restarts, "restarts")

    # -- starting ---------------------------------------------------------------------
    def start(self) -> "defer.Deferred[None]":
        """Start every worker; fires when all listen, fails when one cannot start."""
        self.push_ingresses()  # (no worker yet: what each is sent at its start)
        starts = [self._spawn(w) for w in self.workers]
        self.binds.start(self._reactor)
        self._loop = task.LoopingCall(self.refresh)
        self._loop.clock = self._reactor
        self._loop.start(COLLECT_S, now=False)
        return defer.gatherResults(starts, consumeErrors=True).addCallback(lambda _: None)

    def _spawn(self, w: _Worker) -> "defer.Deferred[None]":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        w.channel = Channel(lambda m: self._message(w, m), lambda _: None)
        adopt(self._reactor, ours.fileno(), w.channel)
        ours.close()
        env = dict(self._environ)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (here, env.get("PYTHONPATH", "")) if p)
        w.ready = defer.Deferred()
        w.listening = False
        w.started_at = self._reactor.seconds()
        try:
            w.process = self._reactor.spawnProcess(
                _Process(lambda reason: self._ended(w, reason)), self._argv[0],
                list(self._argv), env=env,
                childFDs={0: "w", 1: 1, 2: 2, 3: theirs.fileno()})
        finally:
            theirs.close()
        self.binds.add_worker(w)
        w.send(("config", self.text, self.source, w.index, self._ports(), self._admin(),
                self._dtabs()))
        for key, (synced, objects) in self._ingresses_sent.items():
            w.send(("ingress", key, synced, objects))
        return w.ready

    def _ports(self) -> dict:
        return {srv.key: srv.port.getHost().port for srv in self.linker._servers
                if srv.port is not None}

    def _admin(self) -> tuple[str, int] | None:
        for lst in self.linker.listeners:
            if lst.name == "admin":
                host = lst.port.getHost()
                return (host.host, host.port)
        return None

    def _dtabs(self) -> dict[str, str]:
        return {r.label: self.linker.dtab_store.dtab_for(r.label)().show()
                for r in self.linker.config.routers}

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process is not None]

    # -- messages -----------------------------------------------------------------------
    def _message(self, w: _Worker, msg: tuple) -> None:
        try:
            self._handle(w, msg)
        except Exception:  # a bug must not cut the link (the worker would exit)
            log.exception("handling %r from worker %d failed", msg[0], w.index)

    def _handle(self, w: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "bind":
            w.binds += 1
            self.binds.handle(w, msg)
        elif kind == "collected":
            self._collected(w, msg)
        elif kind == "listening":
            w.listening = True
            if w.restarts:
                log.info("worker %d (pid %d) listening again", w.index, w.process.pid)
            self._fire(w, None)
        elif kind == "failed":
            log.error("worker %d cannot start: %s", w.index, msg[2])
            self._fire(w, RuntimeError(f"worker {w.index}: {msg[2]}"))
        elif kind == "reloaded":
            if msg[3]:
                log.warning("worker %d refused the reload: %s", w.index, "; ".join(msg[3]))

    def _fire(self, w: _Worker, err: Exception | None) -> None:
        ready, w.ready = w.ready, None
        if ready is not None:
            if err is None:
                ready.callback(None)
            else:
                ready.errback(err)

    def _k8s_changed(self) -> None:
        if self._poll_soon is None and not self._stopping:
            self._poll_soon = self._reactor.callLater(0, self._poll_now)

    def _poll_now(self) -> None:
        self._poll_soon = None
        self.binds.poll()
        self.push_ingresses()

    def push_ingresses(self) -> None:
        """Send every ``io.l5d.ingress`` watch's Ingresses that changed since last sent
        (starting a watch a reload added) to every worker: the workers watch none. A
        watch a reload dropped is forgotten, by the workers too."""
        from l5d.k8s.ingress_model import slim

        feeds = self.linker.ingress_feeds
        for key, watch in feeds.items():
            reflector = watch()
            now = (reflector.synced, [slim(o) for o in reflector.objects.values()])
            if self._ingresses_sent.get(key) != now:
                self._ingresses_sent[key] = now
                self.broadcast(("ingress", key, now[0], now[1]))
        for key in [k for k in self._ingresses_sent if k not in feeds]:
            del self._ingresses_sent[key]
            self.broadcast(("ingress-gone", key))

    def _dtab_saved(self, router: str, versioned: Any) -> None:
        self.broadcast(("dtab", router, versioned.dtab.show()))

    def broadcast(self, message: tuple) -> None:
        for w in self.workers:
            w.send(message)

    def reload(self) -> None:
        """Send the control's config (after its own reload) to every worker."""
        self._seq += 1
        for w in self.workers:
            w.send(("reload", self._seq, self.text, self.source, self._ports(), self._dtabs()))
        self.push_ingresses()

    # -- gathering ------------------------------------------------------------------------
    def refresh(self, records: bool = False) -> "defer.Deferred[None]":
        """Collect every live worker's stats (and recent requests with ``records``);
        fires when all answered or after :data:`REFRESH_TIMEOUT_S`, never fails."""
        if self._refreshing is not None and not records:
            d: defer.Deferred = defer.Deferred()
            self._refreshing.addBoth(lambda r: (d.callback(None), r)[1])
            return d
        live = {w.index for w in self.workers if w.channel is not None and w.listening}
        if not live:
            return defer.succeed(None)
        self._seq += 1
        seq = self._seq
        done: defer.Deferred = defer.Deferred()
        self._collects[seq] = (done, live)
        for w in self.workers:
            if w.index in live:
                w.send(("collect", seq, records))

        def timeout() -> None:
            entry = self._collects.pop(seq, None)
            if entry is not None and not entry[0].called:
                entry[0].callback(None)

        call = self._reactor.callLater(REFRESH_TIMEOUT_S, timeout)

        def finished(result: Any) -> Any:
            if call.active():
                call.cancel()
            if self._refreshing is done:
                self._refreshing = None
            if records:
                self._gather_records()
            return result

        done.addBoth(finished)
        if not records:
            self._refreshing = done
        return done

    def _collected(self, w: _Worker, msg: tuple) -> None:
        _, seq, _index, body, records, clients = msg
        if body is not None:
            self.merger.apply(w.index, body)
        if clients is not None:  # None: as the worker sent before
            w.clients = clients
        if records:
            w.records = records
        entry = self._collects.get(seq)
        if entry is not None:
            entry[1].discard(w.index)
            if not entry[1]:
                del self._collects[seq]
                entry[0].callback(None)

    def _gather_records(self) -> None:
        from l5d.telemetry.record import RequestRecord
        from l5d.workers.stats_merge import merge_recent

        for t in self.linker.telemeters:
            ring = getattr(t, "ring", None)
            if ring is not None:
                capacity = ring._ring.maxlen or 0
                merged = merge_recent([w.records for w in self.workers], capacity)
                ring.replace([RequestRecord(*r) for r in reversed(merged)])

    def client_states(self) -> dict[str, Any]:
        from l5d.workers.stats_merge import merge_client_states

        return merge_client_states([w.clients for w in self.workers])

    # -- deaths and restarts ------------------------------------------------------------
    def _ended(self, w: _Worker, reason: Any) -> None:
        pid = w.process.pid if w.process is not None else None
        code = getattr(reason.value, "exitCode", None)
        signal_ = getattr(reason.value, "signal", None)
        w.process = None
        if w.channel is not None and w.channel.transport is not None:
            w.channel.transport.loseConnection()
        w.channel = None
        w.listening = False
        self.binds.remove_worker(w)
        self.merger.worker_gone(w.index)
        w.clients = {}
        for seq, (done, waiting) in list(self._collects.items()):
            waiting.discard(w.index)
            if not waiting:
                del self._collects[seq]
                done.callback(None)
        if self._stopping:
            if all(x.process is None for x in self.workers) and self._stopped is not None \
                    and not self._stopped.called:
                self._stopped.callback(None)
            return
        how = f"signal {signal_}" if signal_ else f"exit code {code}"
        if w.ready is not None:  # it died before listening
            self._fire(w, RuntimeError(f"worker {w.index} (pid {pid}) ended before "
                                       f"listening ({how})"))
            return
        lived = self._reactor.seconds() - w.started_at
        w.restart_s = RESTART_S if lived >= STABLE_S else min(MAX_RESTART_S, w.restart_s * 2)
        log.warning("worker %d (pid %s) ended (%s) after %.1f s: starting it again in %.1f s",
                    w.index, pid, how, lived, w.restart_s)
        w.restarts += 1
        self._reactor.callLater(w.restart_s, self._restart, w)

    def _restart(self, w: _Worker) -> None:
        if self._stopping or w.process is not None:
            return
        d = self._spawn(w)
        d.addErrback(lambda f: log.error("worker %d did not start again: %s", w.index,
                                         f.getErrorMessage()))

    # -- stopping -------------------------------------------------------------------------
    def stop(self) -> "defer.Deferred[None]":
        """Drain every worker; fires when all have ended."""
        if self._stopped is not None:
            return self._stopped
        self._stopping = True
        self._stopped = defer.Deferred()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.binds.stop()
        alive = [w for w in self.workers if w.process is not None]
        if not alive:
            self._stopped.callback(None)
            return self._stopped
        for w in alive:
            w.send(("stop",))
            if w.channel is None or not w.channel.open:
                self._signal(w, "TERM")
        grace = self.linker.config.admin.shutdown_grace_s

        def kill() -> None:
            for w in self.workers:
                if w.process is not None:
                    log.warning("worker %d did not end %.0f s after the drain's grace: "
                                "killing it", w.index, KILL_AFTER_S)
                    self._signal(w, "KILL")

        call = self._reactor.callLater(grace + KILL_AFTER_S, kill)
        self._stopped.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        return self._stopped

    def _signal(self, w: _Worker, name: str) -> None:
        try:
            w.process.signalProcess(name)
        except Exception:  # already gone
            pass
