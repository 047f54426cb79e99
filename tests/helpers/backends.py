"""Real TCP backends on 127.0.0.1 for integration tests (threads, blocking sockets).

* :class:`ScriptedBackend` accepts connections and runs ``handler(conn, log)``
  for each one: the test writes exactly the bytes it wants (truncated bodies,
  garbage, CL+TE, a reset...). Everything read is appended to ``log``.
* :class:`EchoBackend` is a small keep-alive HTTP/1.1 server that answers every
  request with 200 and a body describing what it received (method, target,
  headers, body length), and records each request in ``requests`` so tests can
  prove what was (and was not) forwarded.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Callable


def read_head(conn: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes]:
    """Read until the end of an HTTP head; returns (head, bytes after it)."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return buf, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


class ScriptedBackend:
    """Runs ``handler(conn, log)`` per accepted connection, each in its own thread."""

    def __init__(self, handler: Callable[[socket.socket, list], None]) -> None:
        self.handler = handler
        self.log: list = []
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self.log)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def __enter__(self) -> "ScriptedBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EchoBackend(ScriptedBackend):
    """Keep-alive HTTP/1.1 echo: the response body is JSON about the request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        super().__init__(self._serve)

    def _serve(self, conn: socket.socket, log: list) -> None:
        buf = b""
        while True:
            head, buf = read_head(conn, buf)
            if not head:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [tuple(h.split(":", 1)) for h in lines[1:]]
            headers = [(n, v.strip()) for n, v in headers]
            lower = {n.lower(): v for n, v in headers}
            body = b""
            if lower.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    while b"\r\n" not in buf:
                        buf += conn.recv(65536)
                    size_line, _, buf = buf.partition(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    while len(buf) < size + 2:
                        buf += conn.recv(65536)
                    body += buf[:size]
                    buf = buf[size + 2:]
                    if size == 0:
                        break
            elif "content-length" in lower:
                n = int(lower["content-length"])
                while len(buf) < n:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:n], buf[n:]
            record = {"method": method, "target": target, "version": version,
                      "headers": headers, "body_length": len(body)}
            self.requests.append(record)
            out = json.dumps(record).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
            if lower.get("connection", "").lower() == "close" or version == "HTTP/1.0":
                return


def raw_request(port: int, data: bytes, *, timeout_s: float = 5.0, half_close: bool = False) -> bytes:
    """Send raw bytes to 127.0.0.1:port and read until the server closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()
