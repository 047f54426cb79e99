"""Writing responses and ending connections: the output half of the server connection
(a mixin, Twisted shell).

:class:`ResponseOutput` writes what exchanges send (corked into one send per upstream
read), watches that the client keeps taking bytes (``send_timeout_s``: a client that
takes nothing is cut), and ends connections: quietly (nothing in flight), with a
half-close and a lingering drain after the last response (so the client reads a
refusal), at once (``abort``: a response that cannot be completed), or after the
current response (draining at shutdown, ``lifeTimeMs``). Reactor-thread only.
"""

from __future__ import annotations

from twisted.internet.interfaces import IHalfCloseableDescriptor
from twisted.logger import Logger

from l5d.http.server_input import WAIT_NONE

__all__ = ["DRAIN_IDLE_S", "ResponseOutput"]

log = Logger()

#: how long a draining idle keep-alive connection waits for a request already on its way
DRAIN_IDLE_S = 1.0


class ResponseOutput:
    """The output half of the server connection (see the module docstring)."""

    # -- output --------------------------------------------------------------
    def _on_send_timer(self) -> None:
        self._send_timer = None
        if self.lost:
            return
        pending = self._pending()
        if not pending:
            return
        if self._send_mark + self._sent > pending:  # the client took something: another period
            self._sent = 0
            self._send_mark = pending
            self._send_timer = self._reactor.callLater(self.limits.send_timeout_s,
                                                       self._on_send_timer)
            return
        log.info("l5d: {peer}: client took no response byte for {s} s; disconnecting",
                 peer=self.peer, s=self.limits.send_timeout_s)
        self.abort()

    def _pending(self) -> int:
        transport = self.transport
        return transport._tempDataLen + len(transport.dataBuffer) - transport.offset

    def write(self, data: bytes) -> None:
        if self._cork is not None:
            self._cork.append(data)
        elif not self.lost:
            self._send(data)

    def _send(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        self._load.sent_bytes += len(data)
        if self._send_watch:
            if self._send_timer is not None:
                self._sent += len(data)
            elif transport._tempDataLen or len(transport.dataBuffer) > transport.offset:
                # the kernel did not take it all: from now on the client must keep taking bytes
                self._sent = 0
                self._send_mark = self._pending()
                self._send_timer = self._reactor.callLater(self.limits.send_timeout_s,
                                                           self._on_send_timer)

    def cork(self) -> bool:
        """Collect writes until :meth:`uncork` (one send per upstream read); False if corked."""
        if self._cork is not None:
            return False
        self._cork = []
        return True

    def uncork(self) -> None:
        pending, self._cork = self._cork, None
        if pending and not self.lost:
            self._send(pending[0] if len(pending) == 1 else b"".join(pending))

    def drain(self, idle_s: float = DRAIN_IDLE_S) -> None:
        """Shutting down (or ``lifeTimeMs`` reached): close after the response in flight,
        which says ``Connection: close``. An idle keep-alive connection stays open for
        ``idle_s`` more (0: closes now): a client may be sending its next request on it as
        we decide, and closing under that request would lose it; a request that comes is
        answered with ``Connection: close``, and the connection closes after it."""
        if self.lost or self.closing:
            return
        self.draining = True
        self._drain_idle_s = idle_s
        if self._queue:
            self.pause_reading("draining")
        elif idle_s <= 0:
            self._close_quietly()
        elif self._drain_timer is None:
            self._drain_timer = self._reactor.callLater(idle_s, self._drain_idle)

    def _drain_idle(self) -> None:
        self._drain_timer = None
        if not (self.lost or self.closing or self._queue or self._in_head):
            self._close_quietly()

    def closing_after_current(self) -> None:
        """Stop reading: the current request is the last on this connection."""
        self._last = True
        self.pause_reading("upgrade")

    def abort(self) -> None:
        """Cut the connection (a response cannot be completed)."""
        self.uncork()
        self.closing = True
        if not self.lost:
            self.transport.abortConnection()

    def _close_quietly(self) -> None:
        """Close with nothing in flight and nothing to say."""
        self.closing = True
        self._wait = WAIT_NONE
        self.transport.loseConnection()

    def _close(self) -> None:
        """After the last response: half-close, drain what the client still sends, then close."""
        self.closing = True
        self._wait = WAIT_NONE
        self._pause_reasons.clear()
        if self._paused and not self._read_eof:
            self._paused = False
            self.transport.resumeProducing()  # read and discard what the client still sends
        if not IHalfCloseableDescriptor.providedBy(self.transport):
            self.transport.loseConnection()
            return
        self.transport.loseWriteConnection()  # writeConnectionLost follows the last byte

    def _linger_done(self) -> None:
        self._linger_timer = None
        if not self.lost:
            self.transport.abortConnection()
