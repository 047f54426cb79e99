"""The link between the control process and one worker (Twisted shell).

A Unix stream socket (a ``socketpair``: the control keeps one end, the worker gets the
other as file descriptor 3) carrying messages: tuples of plain values (str, int, float,
bytes, None, tuples, lists, dicts), ``marshal``-ed, each behind a 4-byte length. Both
ends are the same l5d on the same Python, and nothing else can reach the socket, so
``marshal`` is safe here and several times faster than JSON for the stats it carries.
"""

from __future__ import annotations

import marshal
import socket
from typing import Any, Callable

from twisted.internet.protocol import Factory
from twisted.protocols.basic import Int32StringReceiver

__all__ = ["Channel", "adopt", "MAX_MESSAGE_BYTES"]

#: the largest message either end accepts (a worker's stats of 1,000 bound services are
#: about 2 MB)
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class Channel(Int32StringReceiver):
    """One end: ``send(message)``; each message received goes to ``on_message``, and the
    end of the link (the other process gone) to ``on_lost``."""

    MAX_LENGTH = MAX_MESSAGE_BYTES

    def __init__(self, on_message: Callable[[tuple], None],
                 on_lost: Callable[[Any], None]) -> None:
        self.on_message = on_message
        self.on_lost = on_lost
        self.open = False

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's names)
        self.open = True

    def send(self, message: tuple) -> None:
        if self.open:
            self.sendString(marshal.dumps(message))

    def stringReceived(self, data: bytes) -> None:  # noqa: N802
        self.on_message(marshal.loads(data))

    def lengthLimitExceeded(self, length: int) -> None:  # noqa: N802
        self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self.open = False
        self.on_lost(reason)


def adopt(reactor: Any, fd: int, channel: Channel) -> Channel:
    """Run ``channel`` over the connected Unix socket ``fd`` (the reactor takes a copy of
    it; the caller closes ``fd``)."""
    factory = Factory.forProtocol(lambda: channel)
    reactor.adoptStreamConnection(fd, socket.AF_UNIX, factory)
    return channel
