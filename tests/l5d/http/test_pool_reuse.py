"""EndpointPool never hands out a pooled connection with unread bytes or a FIN waiting
(real sockets on the real reactor).

The test body of a ``pytest_twisted.inlineCallbacks`` test runs inside a reactor
callback, so the reactor cannot read in between: bytes the peer sends now are in the
socket's buffer, unread, when ``acquire`` runs, as when stray bytes arrive between the
reactor's last read and the next request.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred

from l5d.http.pool import EndpointPool

reactor: Any = _reactor
TIMEOUT_S = 10.0


class Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(TIMEOUT_S)
        self.port = self.sock.getsockname()[1]
        self.peers: list[socket.socket] = []

    def accept(self) -> socket.socket:
        peer, _ = self.sock.accept()
        self.peers.append(peer)
        return peer

    def close(self) -> None:
        for s in self.peers + [self.sock]:
            s.close()


def acquire(pool: EndpointPool) -> Deferred:
    d: Deferred = Deferred()
    pool.acquire(d.callback, lambda p, detail: d.errback(RuntimeError(detail)))
    return d.addTimeout(TIMEOUT_S, reactor)


class PoolReuseTests:
    @pytest_twisted.inlineCallbacks
    def test_clean_idle_connection_is_reused(self) -> Any:
        server, pool = Server(), None
        try:
            pool = EndpointPool(reactor, "127.0.0.1", server.port)
            conn = yield acquire(pool)
            server.accept()
            pool.release(conn)
            again = yield acquire(pool)
            assert again is conn and again.reused
        finally:
            pool.close()
            server.close()

    @pytest_twisted.inlineCallbacks
    def test_stray_bytes_or_fin_mean_a_new_connection(self) -> Any:
        for fault in ("bytes", "fin"):
            server, pool = Server(), None
            try:
                pool = EndpointPool(reactor, "127.0.0.1", server.port)
                conn = yield acquire(pool)
                peer = server.accept()
                pool.release(conn)
                if fault == "bytes":
                    peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
                else:
                    peer.shutdown(socket.SHUT_WR)
                time.sleep(0.05)  # delivered to our socket; the reactor has not read it
                assert conn.unread()
                fresh = yield acquire(pool)
                assert fresh is not conn and not fresh.reused, fault
                assert conn._broken  # the stale one was dropped
            finally:
                pool.close()
                server.close()
