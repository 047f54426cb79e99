"""The immediate-write TCP transport of ``l5d/http/fasttcp.py``, on the real reactor.

Every test here runs on the real (epoll) reactor over 127.0.0.1. One end of each
connection is an l5d transport (:class:`FastServer` from :func:`listen_tcp`, or
:class:`FastClient` from :func:`connect_tcp`); the other end is a plain blocking
``socket`` that the test drives by hand, so the test decides when the peer reads.

Two tricks make the claims observable:

* The test body of a ``pytest_twisted.inlineCallbacks`` test resumes inside a
  reactor callback. While it runs, the reactor cannot turn, so a blocking
  ``recv`` on the peer right after ``transport.write`` shows whether the bytes
  left at once (fast transport) or wait for the next turn (stock Twisted).
* A tiny ``SO_SNDBUF`` on the transport's socket and a tiny ``SO_RCVBUF`` on a
  peer that does not read make the kernel refuse most of a write, so the
  partial-write, buffering and producer paths of Twisted run for real.

Reading large amounts happens in a thread (``deferToThread``) so the reactor
keeps flushing meanwhile.
"""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import time
from typing import Any, Callable, Generator

import pytest
import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.internet import ssl, tcp, threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.protocols.basic import FileSender
from zope.interface import implementer

from l5d.http.fasttcp import (
    FastClient, FastConnector, FastPort, FastServer, connect_tcp, listen_tcp,
)

reactor: Any = _reactor  # tests only: the pytest-twisted reactor
TIMEOUT_S = 10.0
MiB = 1 << 20


# --------------------------------------------------------------------- helpers


@implementer(IHalfCloseableProtocol)
class Recorder(Protocol):
    """Records everything that happens to one connection.

    ``made`` fires (synchronously, inside ``connectionMade``) with the transport,
    ``lost`` with the first ``connectionLost`` reason (wrapped in a tuple, since a
    Deferred called back with a Failure would errback). Half-close events are
    counted; after the read side closes the connection is closed in full.
    """

    def __init__(self) -> None:
        self.made: Deferred = Deferred()
        self.lost: Deferred = Deferred()
        self.received = bytearray()
        self.receivedSome: Deferred | None = None
        self.lost_reasons: list = []
        self.write_lost = 0
        self.read_lost = 0

    def connectionMade(self) -> None:
        self.made.callback(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self.receivedSome is not None:
            d, self.receivedSome = self.receivedSome, None
            d.callback(bytes(self.received))

    def connectionLost(self, reason: Any) -> None:
        self.lost_reasons.append(reason)
        if not self.lost.called:
            self.lost.callback((reason,))

    def readConnectionLost(self) -> None:
        self.read_lost += 1
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        self.write_lost += 1


class PushSource:
    """A streaming (push) producer writing ``data`` in ``piece``-sized writes.

    It writes while not paused, one burst per reactor turn, and counts pauses
    and resumes. ``done`` fires once everything is written and it unregistered.
    """

    def __init__(self, transport: Any, data: bytes, piece: int) -> None:
        self.transport = transport
        self.data = data
        self.piece = piece
        self.pos = 0
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.stopped = False
        self.done: Deferred = Deferred()

    def start(self) -> None:
        self.transport.registerProducer(self, True)
        reactor.callLater(0, self._burst)

    def _burst(self) -> None:
        while not self.paused and self.pos < len(self.data):
            self.transport.write(self.data[self.pos:self.pos + self.piece])
            self.pos += self.piece
        if self.pos >= len(self.data) and not self.done.called:
            self.transport.unregisterProducer()
            self.done.callback(None)

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False
        self.resumes += 1
        reactor.callLater(0, self._burst)

    def stopProducing(self) -> None:
        self.stopped = True


def queued(transport: Any) -> int:
    """Bytes held in Twisted's user-space buffers, not yet handed to the kernel."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def recv_some(peer: socket.socket, timeout_s: float, n: int = 65536) -> bytes | None:
    """One blocking ``recv`` with a timeout; ``None`` if nothing came in time."""
    peer.settimeout(timeout_s)
    try:
        return peer.recv(n)
    except (TimeoutError, BlockingIOError):
        return None


def read_exactly(peer: socket.socket, n: int, timeout_s: float = TIMEOUT_S) -> bytes:
    """Read ``n`` bytes (fewer only at EOF), in a worker thread."""
    peer.settimeout(timeout_s)
    buf = bytearray()
    while len(buf) < n:
        chunk = peer.recv(min(MiB, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def read_to_eof(peer: socket.socket, timeout_s: float = TIMEOUT_S) -> bytes:
    """Read until the transport closes (or half-closes) its side, in a worker thread."""
    peer.settimeout(timeout_s)
    buf = bytearray()
    while True:
        chunk = peer.recv(MiB)
        if not chunk:
            return bytes(buf)
        buf += chunk


def in_thread(f: Callable[..., Any], *args: Any) -> Deferred:
    return threads.deferToThread(f, *args).addTimeout(TIMEOUT_S * 2, reactor)


def pattern(n: int) -> bytes:
    """``n`` bytes that are not periodic at any small stride (a reorder changes the hash)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settle(seconds: float = 0.05) -> Deferred:
    """Let the reactor turn for a while."""
    return deferLater(reactor, seconds, lambda: None)


class Net:
    """Makes connected (transport, peer socket) pairs and closes everything afterwards."""

    def __init__(self) -> None:
        self._ports: list = []
        self._socks: list[socket.socket] = []
        self._transports: list = []

    def _peer(self, rcvbuf: int | None) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the advertised window stays small
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._socks.append(s)
        return s

    @inlineCallbacks
    def server(self, listen: Callable[..., Any] = listen_tcp,
               rcvbuf: int | None = None) -> Generator[Any, Any, tuple]:
        """A transport accepted by ``listen`` on 127.0.0.1 and a blocking peer client socket.

        Resumes inside the transport's ``connectionMade``.
        """
        proto = Recorder()
        factory = Factory.forProtocol(lambda: proto)
        if listen is listen_tcp:
            port = listen_tcp(reactor, 0, factory, interface="127.0.0.1")
        else:
            port = listen(0, factory, interface="127.0.0.1")
        self._ports.append(port)
        peer = self._peer(rcvbuf)
        peer.connect(("127.0.0.1", port.getHost().port))
        transport = yield proto.made.addTimeout(TIMEOUT_S, reactor)
        self._transports.append(transport)
        return transport, peer, proto

    @inlineCallbacks
    def client(self, rcvbuf: int | None = None) -> Generator[Any, Any, tuple]:
        """A transport from :func:`connect_tcp` and the blocking socket it connected to."""
        lsock = self._peer(rcvbuf)  # SO_RCVBUF on the listener is inherited by accept()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        proto = Recorder()

        class _F(ClientFactory):
            def buildProtocol(self, addr: Any) -> Recorder:
                return proto

        connector = connect_tcp(reactor, "127.0.0.1", lsock.getsockname()[1], _F())
        transport = yield proto.made.addTimeout(TIMEOUT_S, reactor)
        self._transports.append(transport)
        peer, _ = lsock.accept()
        self._socks.append(peer)
        return transport, peer, proto, connector

    @inlineCallbacks
    def close(self) -> Generator[Any, Any, None]:
        for t in self._transports:
            if t.connected:
                t.abortConnection()
        for s in self._socks:
            s.close()
        for p in self._ports:
            yield p.stopListening()
        yield settle(0.01)


@pytest_twisted.async_yield_fixture
async def net() -> Any:
    n = Net()
    yield n
    await n.close()


# ----------------------------------------------------------------------- tests


class ImmediateWriteTests:
    """Bytes written when nothing is queued reach the peer before the reactor turns."""

    @pytest_twisted.inlineCallbacks
    def test_server_write_is_readable_before_the_reactor_turns(self, net: Net) -> Generator:
        """An accepted FastServer sends in write(); the peer reads it inside the same callback."""
        transport, peer, _ = yield net.server()
        assert type(transport) is FastServer
        transport.write(b"x")
        assert recv_some(peer, 2.0) == b"x"
        assert queued(transport) == 0

    @pytest_twisted.inlineCallbacks
    def test_client_write_is_readable_before_the_reactor_turns(self, net: Net) -> Generator:
        """A FastClient from connect_tcp sends in write() itself, too."""
        transport, peer, _, connector = yield net.client()
        assert type(transport) is FastClient and type(connector) is FastConnector
        transport.write(b"GET / HTTP/1.1\r\n\r\n")
        assert recv_some(peer, 2.0) == b"GET / HTTP/1.1\r\n\r\n"

    @pytest_twisted.inlineCallbacks
    def test_stock_twisted_transport_waits_for_the_next_turn(self, net: Net) -> Generator:
        """The contrast: reactor.listenTCP's transport queues the bytes until the reactor turns."""
        transport, peer, _ = yield net.server(listen=reactor.listenTCP)
        assert type(transport) is tcp.Server
        transport.write(b"x")
        assert recv_some(peer, 0.3) is None, "stock Twisted sent before the reactor turned"
        assert queued(transport) == 1
        got = yield in_thread(recv_some, peer, TIMEOUT_S)
        assert got == b"x"

    @pytest_twisted.inlineCallbacks
    def test_write_sequence_is_sent_at_once_and_in_order(self, net: Net) -> Generator:
        """writeSequence joins its pieces and sends them at once, like write."""
        transport, peer, _ = yield net.server()
        transport.writeSequence([b"HTTP/1.1 200 OK\r\n", b"content-length: 2\r\n\r\n", b"ok"])
        want = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        assert read_exactly(peer, len(want), 2.0) == want
        transport.writeSequence([])
        assert queued(transport) == 0

    @pytest_twisted.inlineCallbacks
    def test_write_larger_than_send_limit_arrives_complete(self, net: Net) -> Generator:
        """A write bigger than Twisted's SEND_LIMIT sends a part at once and queues the rest."""
        transport, peer, _ = yield net.server()
        data = pattern(3 * MiB)
        transport.write(data)
        assert 0 < queued(transport) < len(data)
        got = yield in_thread(read_exactly, peer, len(data))
        assert sha(got) == sha(data)
        assert queued(transport) == 0

    @pytest_twisted.inlineCallbacks
    def test_non_bytes_are_rejected_like_twisted(self, net: Net) -> Generator:
        """str, bytearray and memoryview raise TypeError, as on the stock transport."""
        transport, peer, _ = yield net.server()
        for bad in ("text", bytearray(b"ba"), memoryview(b"mv")):
            with pytest.raises(TypeError):
                transport.write(bad)
        with pytest.raises(TypeError):
            transport.writeSequence([b"ok", "text"])
        transport.write(b"")
        assert recv_some(peer, 0.2) is None and queued(transport) == 0


class PartialWriteTests:
    """When the kernel takes only part of a write, Twisted's buffering takes over."""

    @pytest_twisted.inlineCallbacks
    def test_buffering_pauses_and_resumes_a_streaming_producer(self, net: Net) -> Generator:
        """Several MB into a stalled peer are buffered, pause the producer, then arrive intact."""
        transport, peer, _ = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        source = PushSource(transport, b"", 1)  # only used as the recording producer here
        transport.registerProducer(source, True)
        data = pattern(4 * MiB)
        piece = 32 * 1024
        transport.write(data[:piece])
        first = queued(transport)
        assert 0 < first < piece, "the kernel should have taken part of the first piece"
        for i in range(piece, len(data), piece):
            transport.write(data[i:i + piece])
        assert queued(transport) > transport.bufferSize
        assert source.pauses >= 1 and source.resumes == 0
        yield settle(0.1)  # the reactor tries to flush, but the peer is not reading
        assert source.resumes == 0 and queued(transport) > transport.bufferSize
        got = yield in_thread(read_exactly, peer, len(data))
        assert len(got) == len(data) and sha(got) == sha(data)
        assert queued(transport) == 0
        assert source.resumes >= 1 and not source.paused
        transport.unregisterProducer()

    @pytest_twisted.inlineCallbacks
    def test_push_producer_is_throttled_by_a_slow_peer(self, net: Net) -> Generator:
        """A producer writing as fast as it may is paused and resumed; the bytes are intact."""
        transport, peer, proto = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        data = pattern(6 * MiB)
        source = PushSource(transport, data, 16 * 1024)
        source.start()
        reading = in_thread(read_exactly, peer, len(data))
        yield source.done.addTimeout(TIMEOUT_S * 2, reactor)
        got = yield reading
        assert sha(got) == sha(data)
        assert source.pauses >= 1 and source.resumes >= 1 and not source.stopped
        assert proto.lost_reasons == []

    @pytest_twisted.inlineCallbacks
    def test_pull_producer_is_driven_to_the_end(self, net: Net) -> Generator:
        """A non-streaming producer (FileSender) is asked for more after each write and finishes."""
        transport, peer, _ = yield net.server()
        data = pattern(1 * MiB)
        reading = in_thread(read_exactly, peer, len(data))
        yield FileSender().beginFileTransfer(io.BytesIO(data), transport).addTimeout(
            TIMEOUT_S, reactor)
        got = yield reading
        assert sha(got) == sha(data)


class OrderingTests:
    """Writes made while bytes are queued never overtake those bytes."""

    @pytest_twisted.inlineCallbacks
    def test_small_write_behind_a_queued_big_write(self, net: Net) -> Generator:
        """A small write after a partially sent one is queued behind it, not sent at once."""
        transport, peer, _ = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = pattern(512 * 1024)
        transport.write(big)
        assert queued(transport) > 0
        transport.write(b"<marker>")
        transport.writeSequence([b"<seq1>", b"<seq2>"])
        got = yield in_thread(read_exactly, peer, len(big) + 20)
        assert got == big + b"<marker><seq1><seq2>"

    @pytest_twisted.inlineCallbacks
    def test_write_while_the_main_buffer_is_half_sent(self, net: Net) -> Generator:
        """After a turn moved the queue to dataBuffer and sent part of it, new writes wait."""
        transport, peer, _ = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = pattern(256 * 1024)
        transport.write(big)
        yield settle(0.05)  # doWrite ran: the temp list is empty, dataBuffer is partly sent
        assert transport._tempDataLen == 0
        assert 0 < len(transport.dataBuffer) - transport.offset
        transport.write(b"<tail>")
        got = yield in_thread(read_exactly, peer, len(big) + 6)
        assert got == big + b"<tail>"

    @pytest_twisted.inlineCallbacks
    def test_many_interleaved_writes_arrive_in_sequence(self, net: Net) -> Generator:
        """Thousands of writes of varied sizes, some immediate and some queued, arrive in order."""
        transport, peer, _ = yield net.server(rcvbuf=8192)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        records = [struct.pack(">I", i) * (1 + (i * 7919) % 300) for i in range(3000)]
        sent = b"".join(records)
        reading = None
        for i, record in enumerate(records):
            transport.write(record)
            if i == 1000:  # start reading part way through: the queue drains while we write
                reading = in_thread(read_exactly, peer, len(sent))
            if i % 500 == 0:
                yield settle(0.005)
        assert reading is not None
        got = yield reading
        assert sha(got) == sha(sent)


class ConnectionLossTests:
    """Send errors are reported by the reactor, once, never from inside write()."""

    @pytest_twisted.inlineCallbacks
    def test_write_to_a_reset_peer(self, net: Net) -> Generator:
        """A write after a RST does not raise; connectionLost comes once, later; writes drop."""
        transport, peer, proto = yield net.server()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST at once
        time.sleep(0.05)  # the reactor cannot turn: the transport has not noticed yet
        transport.write(b"into the void")
        assert proto.lost_reasons == [], "connectionLost was called re-entrantly from write()"
        assert queued(transport) > 0, "a failed send is queued for doWrite to report"
        transport.writeSequence([b"more", b"bytes"])
        assert proto.lost_reasons == []
        (reason,) = yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        assert reason.check(ConnectionLost)
        yield settle(0.05)
        stale = queued(transport)  # Twisted leaves the dead buffers as they were
        transport.write(b"after the loss")
        transport.writeSequence([b"after", b"the", b"loss"])
        yield settle(0.05)
        assert len(proto.lost_reasons) == 1 and not transport.connected
        assert queued(transport) == stale


    @pytest_twisted.inlineCallbacks
    def test_write_to_a_closed_peer(self, net: Net) -> Generator:
        """After a FIN the first send succeeds and the next fails; neither raises nor re-enters."""
        transport, peer, proto = yield net.server()
        peer.close()  # FIN; the kernel answers our next bytes with a RST
        time.sleep(0.02)
        transport.write(b"first")
        time.sleep(0.05)
        transport.write(b"second")
        transport.write(b"third")
        assert proto.lost_reasons == []
        yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        yield settle(0.05)
        transport.write(b"dropped")
        assert len(proto.lost_reasons) == 1
        assert proto.lost_reasons[0].check(ConnectionLost, ConnectionDone)

    @pytest_twisted.inlineCallbacks
    def test_client_side_loss_is_reported_once(self, net: Net) -> Generator:
        """The same holds for FastClient."""
        transport, peer, proto, _ = yield net.client()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        time.sleep(0.05)
        transport.write(b"x" * 1000)
        assert proto.lost_reasons == []
        yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        yield settle(0.05)
        transport.write(b"dropped")
        assert len(proto.lost_reasons) == 1

    @pytest_twisted.inlineCallbacks
    def test_producer_is_stopped_when_the_peer_goes_away(self, net: Net) -> Generator:
        """A streaming producer paused on a full buffer is stopped when the connection is lost."""
        transport, peer, proto = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        source = PushSource(transport, pattern(2 * MiB), 16 * 1024)
        source.start()
        yield settle(0.05)
        assert source.paused
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        assert source.stopped and len(proto.lost_reasons) == 1

    @pytest_twisted.inlineCallbacks
    def test_lose_connection_flushes_immediate_and_queued_writes(self, net: Net) -> Generator:
        """loseConnection after immediate writes and a queued tail closes once all is sent."""
        transport, peer, proto = yield net.server(rcvbuf=4096)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        head = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"
        body = pattern(1 * MiB)
        transport.write(head)
        assert queued(transport) == 0
        transport.write(body)
        transport.loseConnection()
        transport.write(b"<written after loseConnection, still flushed>")
        got = yield in_thread(read_to_eof, peer)
        assert got == head + body + b"<written after loseConnection, still flushed>"
        (reason,) = yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        assert reason.check(ConnectionDone)
        assert len(proto.lost_reasons) == 1

    @pytest_twisted.inlineCallbacks
    def test_lose_connection_after_only_immediate_writes(self, net: Net) -> Generator:
        """With nothing queued, loseConnection closes on the next turn; the peer gets data, EOF."""
        transport, peer, proto = yield net.server()
        transport.write(b"a")
        transport.writeSequence([b"b", b"c"])
        transport.loseConnection()
        (reason,) = yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        assert reason.check(ConnectionDone)
        assert read_to_eof(peer, 2.0) == b"abc"

    @pytest_twisted.inlineCallbacks
    def test_abort_connection_drops_later_writes(self, net: Net) -> Generator:
        """Bytes written after abortConnection are not sent, as on the stock transport."""
        transport, peer, proto = yield net.server()
        transport.abortConnection()
        transport.write(b"must not be sent")
        assert recv_some(peer, 0.2) is None
        yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        try:
            rest = read_to_eof(peer, 2.0)
        except ConnectionResetError:
            rest = b""
        assert b"must not be sent" not in rest

    @pytest_twisted.inlineCallbacks
    def test_half_close_flushes_then_shuts_down_the_write_side(self, net: Net) -> Generator:
        """loseWriteConnection sends what was written, then EOF; reading still works."""
        transport, peer, proto = yield net.server()
        transport.write(b"request")
        transport.loseWriteConnection()
        transport.write(b"+queued before the shutdown")
        got = yield in_thread(read_to_eof, peer)
        assert got == b"request+queued before the shutdown"
        assert proto.write_lost == 1 and proto.lost_reasons == []
        transport.write(b"after the shutdown")  # dropped silently
        proto.receivedSome = Deferred()
        peer.sendall(b"reply")
        received = yield proto.receivedSome.addTimeout(TIMEOUT_S, reactor)
        assert received == b"reply"
        peer.shutdown(socket.SHUT_WR)
        yield proto.lost.addTimeout(TIMEOUT_S, reactor)
        assert proto.read_lost == 1 and len(proto.lost_reasons) == 1
        assert recv_some(peer, 0.2) in (b"", None)


class TlsTests:
    """After startTLS every write goes through the TLS layer, never straight to the socket."""

    @pytest_twisted.inlineCallbacks
    def test_write_after_start_tls_is_not_sent_in_clear(self, net: Net) -> Generator:
        """A FastClient that started TLS does not leak application bytes in plain text."""
        transport, peer, _, _ = yield net.client()
        transport.startTLS(ssl.CertificateOptions())
        yield settle(0.1)  # the ClientHello is flushed: Twisted's buffers are empty again
        hello = recv_some(peer, 1.0) or b""
        assert hello[:1] == b"\x16", "expected a TLS handshake record (the ClientHello)"
        assert queued(transport) == 0
        transport.write(b"secret-application-bytes")  # before the handshake has finished
        transport.writeSequence([b"secret-", b"sequence"])
        yield settle(0.1)
        seen = recv_some(peer, 0.3) or b""
        assert b"secret-application-bytes" not in seen
        assert b"secret-sequence" not in seen


class ListenConnectTests:
    """listen_tcp and connect_tcp use the fast classes on socket reactors only."""

    def test_memory_reactor_listen_falls_back(self) -> None:
        """On a MemoryReactor listen_tcp is reactor.listenTCP with the same arguments."""
        for mr in (MemoryReactor(), MemoryReactorClock()):
            f = Factory.forProtocol(Protocol)
            listen_tcp(mr, 4140, f, backlog=77, interface="127.0.0.1")
            assert mr.tcpServers == [(4140, f, 77, "127.0.0.1")]

    def test_memory_reactor_connect_falls_back(self) -> None:
        """On a MemoryReactor connect_tcp is reactor.connectTCP with the same arguments."""
        mr = MemoryReactorClock()
        f = ClientFactory.forProtocol(Protocol)
        connect_tcp(mr, "10.0.0.7", 8080, f, timeout=3.5)
        assert mr.tcpClients == [("10.0.0.7", 8080, f, 3.5, None)]

    @pytest_twisted.inlineCallbacks
    def test_real_reactor_gets_fast_port_and_transports(self, net: Net) -> Generator:
        """On the epoll reactor the port is a FastPort handing out FastServer transports."""
        transport, _, _ = yield net.server()
        assert isinstance(net._ports[-1], FastPort)
        assert type(transport) is FastServer and isinstance(transport, tcp.Server)

    @pytest_twisted.inlineCallbacks
    def test_connect_failure_is_reported_to_the_factory(self) -> Generator:
        """A refused connection reaches clientConnectionFailed, as with connectTCP."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        failed: Deferred = Deferred()

        class _F(ClientFactory):
            protocol = Protocol

            def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
                failed.callback((reason,))

        connect_tcp(reactor, "127.0.0.1", port, _F())
        (reason,) = yield failed.addTimeout(TIMEOUT_S, reactor)
        assert reason.check(ConnectionRefusedError)
