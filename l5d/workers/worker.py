"""A worker process: routers only, bound and configured by its control (Twisted shell).

``l5d --worker`` (started by :mod:`l5d.workers.supervisor`, never by hand) finds its
link to the control on file descriptor 3. The first message is the config (its text,
the ports the control reserved, the admin's address and the routers' dtabs); the worker
builds a :class:`~l5d.linker.Linker` with a :class:`~l5d.workers.side.WorkerSide` (no
namers, no admin server, no registry exporters), listens with ``SO_REUSEPORT`` and says
so. Then it answers what the control sends:

==============================================  ==============================================
control -> worker                               worker -> control
==============================================  ==============================================
``("bound", label, dtab, path, state, tried)``  ``("bind", label, dtab, path)`` (a name to bind)
``("gen",)`` (the namers changed)
``("dtab", label, text)`` (a saved edit)
``("ingress", key, synced, objects)`` (the
Ingresses of one of the control's watches)
``("ingress-gone", key)`` (a reload dropped it)
``("collect", seq, records)``                   ``("collected", seq, index, stats, records,
                                                clients)`` (``clients``: ``None`` when
                                                unchanged since the previous)
``("reload", seq, text, source, ports, dtabs)`` ``("reloaded", seq, index, errors)``
``("reopen",)`` (SIGHUP: reopen access logs)
``("stop",)`` (drain and exit)
==============================================  ==============================================

When the link ends (the control is gone) the worker drains and exits, as on SIGTERM.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from l5d.telemetry.client_state import ClientStatesMemo
from l5d.workers.channel import Channel, adopt
from l5d.workers.side import WorkerSide

__all__ = ["Worker", "CHANNEL_FD"]

log = logging.getLogger("l5d.worker")

#: the file descriptor of the link to the control
CHANNEL_FD = 3


class Worker:
    """The worker's message loop.

    :param reactor: the running reactor (the global one, from ``l5d/main.py``).
    :param build: ``(config text, source, side) -> Linker`` (parse and build; raises).
    :param stop_reactor: ends the process's reactor.
    """

    def __init__(self, reactor: Any, build: Callable[[str, str, WorkerSide], Any],
                 parse: Callable[[str, str], Any], stop_reactor: Callable[[], None]) -> None:
        self._reactor = reactor
        self._build = build
        self._parse = parse
        self._stop_reactor = stop_reactor
        self.channel = Channel(self._message, self._lost)
        self.side: WorkerSide | None = None
        self.linker: Any = None
        self.shipper: Any = None
        #: the client states last sent (``None`` in a collected message: unchanged)
        self._clients = ClientStatesMemo()
        self._stopping = False

    def run(self, fd: int = CHANNEL_FD) -> None:
        adopt(self._reactor, fd, self.channel)
        os.close(fd)

    # -- messages ---------------------------------------------------------------------
    def _message(self, msg: tuple) -> None:
        kind = msg[0]
        try:
            if kind == "bound":
                interp = self.side.interpreters.get(msg[1]) if self.side else None
                if interp is not None:
                    interp.on_bound(*msg[2:])
            elif kind == "gen":
                if self.side is not None:
                    for interp in self.side.interpreters.values():
                        interp.on_generation()
            elif kind == "ingress":
                if self.side is not None:
                    self.side.ingress_feed(msg[1]).set(msg[2], msg[3])
            elif kind == "ingress-gone":
                if self.side is not None:
                    self.side.ingresses.pop(msg[1], None)
            elif kind == "collect":
                self._collect(msg[1], msg[2])
            elif kind == "dtab":
                if self.side is not None and self.side.dtabs is not None:
                    self.side.dtabs.set(msg[1], msg[2])
            elif kind == "config":
                self._start(*msg[1:])
            elif kind == "reload":
                self._reload(*msg[1:])
            elif kind == "reopen":
                if self.linker is not None:
                    self.linker.reopen_access_logs()
            elif kind == "stop":
                self.stop()
        except Exception:  # a bug must not end the worker: say it and go on
            log.exception("worker: handling %r failed", kind)

    def _start(self, text: str, source: str, index: int, ports: dict, admin: Any,
               dtabs: dict) -> None:
        from l5d.workers.stats_ship import StatsShipper, worker_renames

        self.side = WorkerSide(index, self.channel.send, ports, admin, dtabs)
        try:
            self.linker = self._build(text, source, self.side)
        except Exception as err:
            self.channel.send(("failed", index, f"building the config failed: {err}"))
            self._stop_reactor()
            return
        self.shipper = StatsShipper(self.linker.stats, worker_renames(index))

        def listening(listeners: list) -> None:
            self.channel.send(("listening", index, [(lst.name, lst.url) for lst in listeners]))

        def failed(failure: Any) -> None:
            self.channel.send(("failed", index, failure.getErrorMessage()))
            self._stop_reactor()

        self.linker.start(None).addCallbacks(listening, failed)

    def _collect(self, seq: int, records: bool) -> None:
        linker = self.linker
        if linker is None or self.shipper is None:
            self.channel.send(("collected", seq, -1, None, [], {}))
            return
        for router in linker.routers:
            router.count_pending()
        recent: list = []
        if records:
            for t in linker.telemeters:
                ring = getattr(t, "ring", None)
                if ring is not None:
                    recent.extend(tuple(r) for r in ring.newest())
        self.channel.send(("collected", seq, self.side.index, self.shipper.collect(), recent,
                           self._clients.read(linker.routers)))

    def _reload(self, seq: int, text: str, source: str, ports: dict, dtabs: dict) -> None:
        index = self.side.index if self.side else -1
        try:
            config = self._parse(text, source)
        except Exception as err:
            self.channel.send(("reloaded", seq, index, (str(err),)))
            return
        self.side.ports.update(ports)
        outcome = self.linker.reload(config)
        for label, dtab_text in dtabs.items():
            self.side.dtabs.set(label, dtab_text)
        errors = tuple(getattr(outcome, "errors", ()) or ())
        self.channel.send(("reloaded", seq, index, errors))

    # -- the end ----------------------------------------------------------------------
    def stop(self) -> None:
        """Drain (``admin.shutdownGraceMs``) and end the process."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_reactor()  # the reactor's shutdown trigger drains the linker

    def _lost(self, _: Any) -> None:
        if not self._stopping:
            log.warning("worker: the control process is gone: draining and exiting")
        self.stop()
