"""A router port held by the control process of workers (Twisted-free shell).

The control binds each router address with ``SO_REUSEPORT`` and never listens on it: a
port 0 is resolved to the port the workers then listen on, and the kernel hands
connections only to the workers' listening sockets of the same address. Before that it
binds the address once without ``SO_REUSEPORT``, which fails when anything holds it
(another l5d of workers included, whose sockets would otherwise share the port with
ours), so a taken port fails the start as it does with one process.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError

__all__ = ["ReservedPort", "reserve_port"]


@dataclass(slots=True)
class ReservedPort:
    """A bound, not listening, socket; looks enough like a listening port for
    :class:`~l5d.linker.Listener` (``getHost``, ``stopListening``)."""

    sock: socket.socket | None
    host: str
    port: int

    def getHost(self) -> IPv4Address | IPv6Address:  # noqa: N802 (Twisted's name)
        cls = IPv6Address if ":" in self.host else IPv4Address
        return cls("TCP", self.host, self.port)

    def stopListening(self) -> None:  # noqa: N802
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def reserve_port(ip: str, port: int) -> ReservedPort:
    """Bind ``ip:port`` with ``SO_REUSEPORT`` (after a probe without it).

    :raises CannotListenError: the address is taken or not ours.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for reuse_port in (False, True):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if reuse_port:  # not SO_REUSEADDR: an l5d's probe then fails against it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            else:  # past a TIME_WAIT of an earlier run, as Twisted's ports bind
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
        except OSError as err:
            sock.close()
            raise CannotListenError(ip, port, err) from None
        port = sock.getsockname()[1]
        if not reuse_port:
            sock.close()
    return ReservedPort(sock, ip, port)
