"""Draining on SIGTERM and POST /admin/shutdown: stop accepting, finish in-flight, exit 0."""

from __future__ import annotations

import signal
import socket
import threading
import time

import requests

from tests.helpers.backends import ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, wait_for


def _slow_backend(delay_s: float, started: threading.Event):
    def handler(conn: socket.socket, log: list) -> None:
        head, _ = read_head(conn)
        if not head:
            return
        log.append(head)
        started.set()
        time.sleep(delay_s)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        time.sleep(0.2)

    return handler


class DrainTests:
    """In-flight requests complete during the grace period; new connections are refused."""

    def _drain(self, how: str) -> None:
        started = threading.Event()
        with ScriptedBackend(_slow_backend(1.0, started)) as backend, \
                L5d(f"/svc=>/$/inet/127.0.0.1/{backend.port}") as l5d:
            result: dict = {}

            def call() -> None:
                try:
                    rsp = requests.get(f"http://127.0.0.1:{l5d.port}/", headers={"Host": "slow"},
                                       timeout=15)
                    result["rsp"] = (rsp.status_code, rsp.text)
                    result["connection"] = rsp.headers.get("Connection")
                except Exception as e:  # pragma: no cover - reported below
                    result["error"] = repr(e)

            t = threading.Thread(target=call)
            t.start()
            assert started.wait(10), l5d.output()
            if how == "sigterm":
                l5d.proc.send_signal(signal.SIGTERM)
            else:
                assert requests.post(f"http://127.0.0.1:{l5d.admin_port}/admin/shutdown",
                                     headers=l5d.admin_auth, timeout=10).status_code == 200
            # the router port stops accepting while the request is still in flight
            def refused() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", l5d.port), timeout=1).close()
                    return False
                except OSError:
                    return True

            assert wait_for(refused, 5), "the router kept accepting after shutdown began"
            t.join(15)
            assert result.get("rsp") == (200, "done"), result
            # the client is told not to send another request on the draining connection
            assert result.get("connection") == "close", result
            assert l5d.proc.wait(15) == 0

    def test_sigterm_lets_the_in_flight_request_finish(self) -> None:
        """SIGTERM while a request waits on a slow backend: it still gets its 200, exit 0."""
        self._drain("sigterm")

    def test_admin_shutdown_lets_the_in_flight_request_finish(self) -> None:
        """POST /admin/shutdown drains the same way."""
        self._drain("admin")

    def test_grace_period_bounds_the_wait(self) -> None:
        """A request that outlives shutdownGraceMs is cut and the process still exits 0."""
        started = threading.Event()
        config = (
            "admin: {ip: 127.0.0.1, port: 0, shutdownGraceMs: 300}\n"
            "routers:\n- protocol: http\n  dtab: '/svc=>/$/inet/127.0.0.1/%d'\n"
            "  servers: [{ip: 127.0.0.1, port: 0}]\n")
        with ScriptedBackend(_slow_backend(5.0, started)) as backend:
            with L5d(config=config % backend.port) as l5d:
                s = socket.create_connection(("127.0.0.1", l5d.port), timeout=10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\n\r\n")
                assert started.wait(10)
                l5d.proc.send_signal(signal.SIGTERM)
                assert l5d.proc.wait(10) == 0
                try:  # cut (closed or reset), never answered: the backend would say "done"
                    assert s.recv(100) == b""
                except ConnectionResetError:
                    pass
                s.close()
