"""TCP transports that write at once when nothing is queued (Twisted shell).

Twisted's TCP transport queues every ``write`` and sends it on the next reactor
turn, registering and unregistering the socket for writability each time
(Twisted issue #5303, open since 2011). On the proxy data path that costs more
than parsing: a minimal forwarder went from about 24k to about 42k requests/s on
one core when its writes went out at once.

These subclasses keep Twisted's semantics and only add a fast path to
``write``: when the transport's buffers are empty it calls ``writeSomeData``
(one ``send``) right away. Whatever the kernel does not take, and every write
made while older bytes are still queued, goes through Twisted's own buffering,
so ordering, producer pausing, half-close and ``loseConnection`` behave exactly
as before. A send error is not reported from inside ``write``: the bytes are
queued and Twisted's ``doWrite`` discovers the loss on the next turn, the usual
way, so protocols never see ``connectionLost`` re-entrantly. The fast path also
stands aside after ``abortConnection`` (the bytes must be dropped), after
``startTLS`` (they must be encrypted) and while a pull producer is registered
(it is driven from ``doWrite``); see :class:`_ImmediateWriteMixin`.
``tests/l5d/http/test_fasttcp.py`` checks all of this on the real reactor.

The supported hook is the one Twisted's reactor uses itself: ``tcp.Port`` has a
``transport`` class attribute and ``tcp.Connector`` a ``_makeTransport`` method;
:func:`listen_tcp` and :func:`connect_tcp` build those subclasses and fall back to
the reactor's own methods for reactors that are not socket-based (test fakes).
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import tcp
from twisted.internet.posixbase import PosixReactorBase


class _ImmediateWriteMixin:
    """Send at once when nothing is queued; otherwise defer to Twisted's buffering.

    The fast path is taken only when Twisted itself would send these bytes next
    and nothing but the socket stands in between. It is skipped (and the write
    handed to Twisted unchanged) when:

    * bytes are queued, in ``_tempDataBuffer`` or unsent in ``dataBuffer``
      (sending now would overtake them);
    * the transport is not connected, or ``loseConnection``,
      ``loseWriteConnection`` or ``abortConnection`` was called (Twisted queues,
      flushes-then-closes, or drops, respectively);
    * TLS was started: the bytes must go through the TLS layer, which writes
      the ciphertext through ``FileDescriptor.write`` (always queued);
    * a non-streaming (pull) producer is registered: Twisted asks it for more
      only from ``doWrite`` once the buffer drains, so a write that never
      reaches the buffer would stall it;
    * ``data`` is not exactly ``bytes`` (Twisted raises ``TypeError``) or empty.

    A streaming producer needs nothing special: it is paused by Twisted's
    ``write`` when the queued bytes exceed ``bufferSize`` and resumed by
    ``doWrite`` when they drain, and bytes that went out at once never count.
    """

    def write(self, data: bytes) -> None:  # type: ignore[override]
        if (
            not self._tempDataLen  # type: ignore[attr-defined]
            and self.offset == len(self.dataBuffer)  # type: ignore[attr-defined]
            and self.connected  # type: ignore[attr-defined]
            and not (
                self.disconnecting  # type: ignore[attr-defined]
                or self._writeDisconnecting  # type: ignore[attr-defined]
                or self._writeDisconnected  # type: ignore[attr-defined]
                or self._aborting  # type: ignore[attr-defined]
                or self.TLS  # type: ignore[attr-defined]
            )
            and (self.producer is None or self.streamingProducer)  # type: ignore[attr-defined]
            and type(data) is bytes
            and data
        ):
            # tcp.Connection.writeSomeData without its memoryview slice and
            # untilConcludes wrapper (Python retries EINTR itself, PEP 475)
            try:
                if len(data) <= self.SEND_LIMIT:  # type: ignore[attr-defined]
                    sent = self.socket.send(data)  # type: ignore[attr-defined]
                else:  # at most SEND_LIMIT per send, as Twisted
                    sent = self.socket.send(memoryview(data)[:self.SEND_LIMIT])  # type: ignore
            except OSError:
                sent = 0  # EWOULDBLOCK, ENOBUFS or a lost connection: see below
            if sent:
                if sent == len(data):
                    return
                data = data[sent:]
            # Nothing went out: queue the rest and let doWrite send it, or discover and
            # report the loss (its own send fails) on the next turn, never from here.
        super().write(data)  # type: ignore[misc]

    def writeSequence(self, iovec: Any) -> None:  # type: ignore[override]
        """One ``write`` of the joined pieces (one ``send`` instead of several)."""
        self.write(b"".join(iovec))


class FastServer(_ImmediateWriteMixin, tcp.Server):
    """An accepted TCP connection with immediate writes."""


class FastClient(_ImmediateWriteMixin, tcp.Client):
    """An outgoing TCP connection with immediate writes."""


class FastPort(tcp.Port):
    """A listening port whose accepted connections are :class:`FastServer`.

    ``keep_alive`` and ``reuse_port`` (``socketOptions``) are set on the listening
    socket; Linux hands SO_KEEPALIVE down to every accepted connection.
    """

    transport = FastServer
    keep_alive = False
    reuse_port = False

    def createInternetSocket(self) -> Any:
        skt = super().createInternetSocket()
        if self.keep_alive:
            skt.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if self.reuse_port:
            skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        return skt


class FastConnector(tcp.Connector):
    """A connector whose connections are :class:`FastClient`."""

    def _makeTransport(self) -> FastClient:
        return FastClient(self.host, self.port, self.bindAddress, self, self.reactor)


def listen_tcp(
    reactor: Any, port: int, factory: Any, backlog: int = 511, interface: str = "",
    *, keep_alive: bool = False, reuse_port: bool = False,
) -> Any:
    """``reactor.listenTCP`` with :class:`FastServer` connections on socket reactors.

    :param keep_alive: SO_KEEPALIVE on accepted connections (``socketOptions.keepAlive``).
    :param reuse_port: SO_REUSEPORT on the listening socket (``socketOptions.reusePort``).
    """
    if isinstance(reactor, PosixReactorBase):
        p = FastPort(port, factory, backlog, interface, reactor)
        p.keep_alive, p.reuse_port = keep_alive, reuse_port
        p.startListening()
        return p
    return reactor.listenTCP(port, factory, backlog=backlog, interface=interface)


def connect_tcp(reactor: Any, host: str, port: int, factory: Any, timeout: float = 30.0) -> Any:
    """``reactor.connectTCP`` with :class:`FastClient` connections on socket reactors."""
    if isinstance(reactor, PosixReactorBase):
        c = FastConnector(host, port, factory, timeout, None, reactor)
        c.connect()
        return c
    return reactor.connectTCP(host, port, factory, timeout=timeout)
