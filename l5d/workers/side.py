"""What a worker's :class:`~l5d.linker.Linker` gets from its control process instead
of building it: binding (a :class:`~l5d.workers.remote_interpreter.RemoteInterpreter` per
router), the routers' base dtabs, the ports to listen on and the admin's address.
Reactor-thread only.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address

from dtab import EMPTY_DTAB, Dtab

__all__ = ["PushedIngresses", "WorkerDtabs", "WorkerSide"]


class _Cell:
    __slots__ = ("dtab", "pushed")

    def __init__(self, dtab: Dtab) -> None:
        self.dtab = dtab
        self.pushed = False


class WorkerDtabs:
    """The routers' base dtabs as the control last sent them (the dtab store's part in a
    worker: it reads, the control's store writes)."""

    def __init__(self, config_dtabs: Mapping[str, Dtab]) -> None:
        self._cells = {label: _Cell(d) for label, d in config_dtabs.items()}

    def dtab_for(self, router: str) -> Callable[[], Dtab]:
        cell = self._cells.setdefault(router, _Cell(EMPTY_DTAB))
        return lambda: cell.dtab

    def set(self, router: str, text: str) -> None:
        """The control's dtab for ``router`` (a saved edit, or its config's)."""
        cell = self._cells.setdefault(router, _Cell(EMPTY_DTAB))
        dtab = Dtab.read(text)
        if not cell.pushed or dtab != cell.dtab:
            cell.dtab = dtab  # a new object: the router's services bind again
        cell.pushed = True

    def reconfigure(self, config_dtabs: Mapping[str, Dtab]) -> None:
        """A reload: new routers start on their config's dtab until the control's comes."""
        for label, dtab in config_dtabs.items():
            if label not in self._cells:
                self._cells[label] = _Cell(dtab)

    def start(self) -> "defer.Deferred[None]":
        return defer.succeed(None)

    def stop(self) -> "defer.Deferred[None]":
        return defer.succeed(None)


class PushedIngresses:
    """The Ingresses one ``io.l5d.ingress`` watch of the control holds, as it last sent
    them: what a worker's identifier reads instead of a watch of its own (the shape of a
    :class:`~l5d.k8s.reflector.Reflector`: ``synced``, ``objects``; ``generation`` moves
    with every push)."""

    __slots__ = ("synced", "objects", "generation")

    def __init__(self) -> None:
        self.synced = False
        self.objects: dict[str, Any] = {}
        self.generation = 0

    def set(self, synced: bool, objects: list[Any]) -> None:
        self.synced = synced
        self.objects = {str(i): obj for i, obj in enumerate(objects)}
        self.generation += 1


class WorkerSide:
    """The ``worker`` a worker's linker is built with.

    :param index: this worker's number (0..N-1), in its stats' ``workers/<i>`` scope.
    :param send: sends a message to the control.
    :param ports: server key (:func:`l5d.reload.plan.server_key`) -> the port the
        control reserved for it.
    :param admin: the control's admin ``(ip, port)``: a worker never forwards to it.
    :param dtabs: router label -> the control's base dtab text now.
    """

    def __init__(self, index: int, send: Callable[[tuple], None], ports: Mapping[Any, int],
                 admin: tuple[str, int] | None, dtabs: Mapping[str, str]) -> None:
        self.index = index
        self._send = send
        self.ports = dict(ports)
        self.admin = None if admin is None else (
            IPv6Address if ":" in admin[0] else IPv4Address)("TCP", admin[0], admin[1])
        self._dtab_texts = dict(dtabs)
        self.dtabs: WorkerDtabs | None = None
        #: router label -> its RemoteInterpreter (kept across reloads: bindings stay)
        self.interpreters: dict[str, Any] = {}
        #: ``io.l5d.ingress`` watch key (:func:`l5d.router.ingress.ingress_key`) -> what the
        #: control last sent of it
        self.ingresses: dict[str, PushedIngresses] = {}

    def dtab_store(self, config: Any) -> WorkerDtabs:
        if self.dtabs is None:
            self.dtabs = WorkerDtabs({r.label: r.dtab for r in config.routers})
            for label, text in self._dtab_texts.items():
                self.dtabs.set(label, text)
        return self.dtabs

    def interpreter(self, label: str) -> Any:
        from l5d.workers.remote_interpreter import RemoteInterpreter

        interp = self.interpreters.get(label)
        if interp is None:
            interp = self.interpreters[label] = RemoteInterpreter(label, self._send)
        return interp

    def ingress_feed(self, key: str) -> PushedIngresses:
        feed = self.ingresses.get(key)
        if feed is None:
            feed = self.ingresses[key] = PushedIngresses()
        return feed

    def port_for(self, key: Any, default: int) -> int:
        return self.ports.get(key, default)
