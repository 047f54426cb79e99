"""Drive :class:`l5d.http.server.HttpServerConnection` in memory (no sockets, no router).

``ServerPump(limits)`` connects a server connection to a :class:`MemoryTransport`
(a ``StringTransport`` that can half-close) on a ``task.Clock``. Every request
the server accepts becomes a :class:`RecordingExchange` that answers
``200`` with its body length once it is first in line and its body is complete,
so tests see exactly what the server parsed, in order, and what it wrote.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.interfaces import IHalfCloseableDescriptor
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from l5d.http.errors import error_response
from l5d.http.server import HttpServerConnection, RequestHead, ServerLimits, ServerLoad


@implementer(IHalfCloseableDescriptor)
class MemoryTransport(StringTransport):
    """A StringTransport with TCP's knobs and a write half-close."""

    def __init__(self) -> None:
        super().__init__()
        self.write_closed = False
        self.aborted = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def loseWriteConnection(self) -> None:
        self.write_closed = True

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


class RecordingExchange:
    """Answers 200 (body: the request body length) once started and complete."""

    def __init__(self, conn: HttpServerConnection, head: RequestHead, pump: "ServerPump") -> None:
        self.conn = conn
        self.head = head
        self.pump = pump
        self.body = b""
        self.started = False
        self.complete = False
        self.done = False
        self.failed: tuple[int, str] | None = None
        self.lost = False
        self.hold = pump.hold  # answer only when the test says so

    def start(self) -> None:
        self.started = True
        self._maybe_answer()

    def request_body(self, data: bytes) -> None:
        self.body += data

    def request_complete(self) -> None:
        self.complete = True
        self.pump.completed.append(self)
        self._maybe_answer()

    def release(self) -> None:
        self.hold = False
        self._maybe_answer()

    def _maybe_answer(self) -> None:
        if self.started and self.complete and not self.done and not self.hold:
            self.done = True
            body = b"%d" % len(self.body)
            keep = self.head.keep_alive
            self.conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (
                len(body), b"" if keep else b"Connection: close\r\n", body))
            self.conn.exchange_finished(self, keep)

    def fail(self, status: int, reason: str) -> None:
        if self.done:
            return
        self.done = True
        self.failed = (status, reason)
        self.conn.write(error_response(status, reason, close=True))
        self.conn.exchange_finished(self, False)

    def connection_lost(self) -> None:
        self.lost = True


class ServerPump:
    """One in-memory server connection; ``exchanges`` in arrival order."""

    def __init__(self, limits: ServerLimits | None = None, *, hold: bool = False,
                 load: ServerLoad | None = None, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.hold = hold
        self.exchanges: list[RecordingExchange] = []
        self.completed: list[RecordingExchange] = []
        self.closed = False
        self.transport = MemoryTransport()
        self.conn = HttpServerConnection(self._new_exchange, self.clock, limits or ServerLimits(),
                                         self._on_close, load)
        self.conn.makeConnection(self.transport)

    def _new_exchange(self, conn: HttpServerConnection, head: RequestHead) -> Any:
        ex = RecordingExchange(conn, head, self)
        self.exchanges.append(ex)
        return ex

    def _on_close(self, conn: HttpServerConnection) -> None:
        self.closed = True

    def feed(self, data: bytes) -> None:
        self.conn.dataReceived(data)

    def output(self) -> bytes:
        return self.transport.value()

    def statuses(self) -> list[int]:
        """Status codes of every response written so far."""
        return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", self.output())]

    @property
    def closing(self) -> bool:
        """The server ended the connection (closed, half-closed or aborted)."""
        t = self.transport
        return t.disconnecting or t.write_closed or t.aborted
