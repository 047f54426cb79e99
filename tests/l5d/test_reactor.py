"""l5d's epoll reactor: Twisted's, dispatching events without a log context per event.

Each test builds its own (never installed) reactor and turns it by hand with
``doIteration``, over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import socket
import time

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import globalLogPublisher

from l5d import reactor as l5d_reactor

pytestmark = pytest.mark.skipif(l5d_reactor._TwistedEPollReactor is None, reason="not Linux")


class _Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        if data == b"boom":
            raise RuntimeError("protocol bug")
        self.transport.write(data)


def _turn_until(r, done, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        r.runUntilCurrent()
        r.doIteration(0.01)
    assert done(), "condition not reached"


def _received(sock: socket.socket, want: bytes):
    """A condition for _turn_until on a non-blocking ``sock``: it received exactly ``want``,
    or, for ``want == b""``, the peer closed it without sending anything."""
    got = bytearray()
    eof = []

    def done() -> bool:
        if not eof and not (want and bytes(got) == want):
            try:
                data = sock.recv(100)
            except BlockingIOError:
                data = None
            if data == b"":
                eof.append(True)
            elif data:
                got.extend(data)
        return (bool(eof) and not got) if not want else bytes(got) == want

    return done


@pytest.fixture
def reactor_and_port():
    r = l5d_reactor.EPollReactor()
    port = r.listenTCP(0, Factory.forProtocol(_Echo), interface="127.0.0.1")
    yield r, port.getHost().port
    port.stopListening()
    r.disconnectAll()


class EPollReactorTests:
    """Reads, writes and errors go through Twisted's own handling, minus callWithLogger."""

    def test_reads_and_writes_are_dispatched(self, reactor_and_port) -> None:
        """An echo over a real socket round-trips."""
        r, port = reactor_and_port
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.sendall(b"hello")
        _turn_until(r, _received(s, b"hello"))
        s.close()

    def test_an_error_in_a_protocol_is_logged_and_closes_only_that_connection(
            self, reactor_and_port) -> None:
        """The raising connection is disconnected and the failure logged; others still work."""
        r, port = reactor_and_port
        events: list = []
        globalLogPublisher.addObserver(events.append)
        try:
            bad = socket.create_connection(("127.0.0.1", port))
            good = socket.create_connection(("127.0.0.1", port))
            bad.setblocking(False)
            good.setblocking(False)
            bad.sendall(b"boom")
            _turn_until(r, _received(bad, b""))
            good.sendall(b"ok")
            _turn_until(r, _received(good, b"ok"))
        finally:
            globalLogPublisher.removeObserver(events.append)
        failures = [e.get("log_failure") or e.get("failure") for e in events]
        assert any(f is not None and f.check(RuntimeError) for f in failures)
        bad.close()
        good.close()

    def test_install_makes_it_the_global_reactor_only_when_asked(self) -> None:
        """Importing the module installs nothing (only l5d.main calls install())."""
        import sys

        assert "twisted.internet.reactor" not in sys.modules or not isinstance(
            sys.modules["twisted.internet.reactor"], l5d_reactor.EPollReactor)
