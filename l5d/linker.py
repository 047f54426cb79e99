"""The linker: a parsed config turned into objects, then started (Twisted shell).

Parse, then build, then start (Linkerd's ``Linker.scala`` without its side
effects):

* :func:`build` checks the whole config again (so configs made in code get
  the same cross-checks as parsed ones) and makes a :class:`Linker`. It opens
  no sockets and reads no environment: the pod IP, node name and namespace
  arrive as an :class:`Env` from ``l5d/main.py``. ``l5d --validate`` is
  parse + build.
* :meth:`Linker.start` opens the listeners, :meth:`Linker.stop` closes them.

For now the only listener is the admin server. The routers' HTTP servers
(ports 4140/4141 and friends) arrive with the router data path in a later
release; their config is parsed and checked already.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTCP
from twisted.python.failure import Failure

from l5d.config import LinkerConfig, check_config

__all__ = ["Env", "Linker", "Listener", "build"]


@dataclass(frozen=True, slots=True)
class Env:
    """What the linker may know about where it runs, read by ``l5d/main.py``
    (from the downward API variables in a DaemonSet). All optional.

    :param pod_ip: this pod's IP (``POD_IP``).
    :param node_name: the Kubernetes node (``NODE_NAME``).
    :param namespace: this pod's namespace (``POD_NAMESPACE``).
    """

    pod_ip: str | None = None
    node_name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Listener:
    """One open port: what it is for (``admin``) and the port itself."""

    name: str
    port: IListeningPort

    @property
    def url(self) -> str:
        """``http://<ip>:<port>/`` with the port actually bound (useful with port 0)."""
        address = self.port.getHost()
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"http://{host}:{address.port}/"


class _State(enum.Enum):
    BUILT = "built"
    RUNNING = "running"
    STOPPED = "stopped"


class Linker:
    """The running (or ready to run) router process. Reactor-thread only.

    :param config: the checked config.
    :param env: where we run.
    :param reactor: provides ``IReactorTCP``; never the global one.
    """

    def __init__(self, config: LinkerConfig, env: Env, reactor: IReactorTCP) -> None:
        self.config = config
        self.env = env
        self._reactor = reactor
        self._state = _State.BUILT
        self._listeners: list[Listener] = []

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def start(self, admin_factory: IProtocolFactory) -> "defer.Deferred[list[Listener]]":
        """Listen on the admin address with ``admin_factory``.

        The admin site is passed in (rather than built here) because it lives
        in ``admin_ui``, which ``l5d`` must not import.

        :return: a Deferred firing with the listeners, or failing (with
            ``CannotListenError``, say) after closing whatever did open.
        :raises RuntimeError: when called twice.
        """
        if self._state is not _State.BUILT:
            raise RuntimeError(f"start: the linker is {self._state.value}, not built")
        self._state = _State.RUNNING
        admin = self.config.admin
        try:
            port = self._reactor.listenTCP(admin.port, admin_factory, interface=admin.ip)
        except Exception:
            failure = Failure()
            return self.stop().addCallback(lambda _: failure)
        self._listeners.append(Listener("admin", port))
        return defer.succeed(list(self._listeners))

    def stop(self) -> "defer.Deferred[None]":
        """Stop listening on every port. Safe to call more than once.

        ``admin.shutdownGraceMs`` will bound the wait for in-flight requests
        once the router serves requests; today there are none to wait for.
        """
        self._state = _State.STOPPED
        listeners, self._listeners = self._listeners, []
        stopping = [defer.maybeDeferred(lst.port.stopListening) for lst in listeners]
        return defer.gatherResults(stopping, consumeErrors=True).addCallback(lambda _: None)


def build(config: LinkerConfig, env: Env, reactor: IReactorTCP) -> Linker:
    """Check ``config`` as a whole and make a :class:`Linker`; no sockets, no I/O.

    :raises l5d.config.ConfigError: a cross-check fails (``ConflictingPorts``, ...).
    """
    check_config(config)
    return Linker(config, env, reactor)
