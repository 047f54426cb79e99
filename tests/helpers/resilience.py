"""Backends and stats helpers for the real-socket resilience tests (retries, classifiers,
deadlines, pools, per-prefix policy).

* :class:`Backend` is a keep-alive HTTP/1.1 server on 127.0.0.1 whose every answer is
  chosen by ``respond(seen)``: response bytes, :data:`CLOSE` (close without answering)
  or a callable that gets the socket (to write part of a response and die). It records
  each request it read completely (:class:`Seen`: method, target, headers, body, and
  whether the body was chunked) and the most connections it had open at once.
* :func:`answer` writes a response; :func:`fail_first` answers a scripted response to
  the first request for each target and 200 to every later one, so a test counts the
  attempts per target.
* :class:`Scripted` answers by target (``/once...`` 500 then 200, ``/twice...``,
  ``/always...``, ``/slow...``).
* :func:`stat` reads a counter or gauge from ``/admin/metrics.json`` by scope;
  :func:`fs_l5d` starts an l5d whose ``/svc/x`` is one client over several endpoints
  (``io.l5d.fs``); :func:`reset` closes a socket with an RST; :func:`free_port` names a
  port nothing listens on.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable

from tests.helpers.backends import ScriptedBackend
from tests.helpers.l5d_process import L5d

CLOSE = "close"


@dataclass
class Seen:
    """One request a backend read in full."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


def _read_exactly(conn: socket.socket, buf: bytes, n: int) -> tuple[bytes, bytes] | None:
    while len(buf) < n:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    return buf[:n], buf[n:]


def _read_line(conn: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
    while b"\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    line, _, rest = buf.partition(b"\r\n")
    return line, rest


def read_message(conn: socket.socket, buf: bytes = b"") -> tuple[Seen | None, bytes]:
    """One request (Content-Length or chunked body); ``(None, b"")`` at EOF or a cut body."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {n.lower(): v for n, v in headers}
    chunked = lower.get("transfer-encoding", "").lower() == "chunked"
    body = b""
    if chunked:
        while True:
            got = _read_line(conn, rest)
            if got is None:
                return None, b""
            size_line, rest = got
            size = int(size_line.split(b";")[0], 16)
            got = _read_exactly(conn, rest, size + 2)
            if got is None:
                return None, b""
            data, rest = got
            if size == 0:
                break
            body += data[:size]
    elif "content-length" in lower:
        got = _read_exactly(conn, rest, int(lower["content-length"]))
        if got is None:
            return None, b""
        body, rest = got
    return Seen(method, target, headers, body, chunked), rest


def answer(status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    """A complete response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} X"]
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


OK = answer(200, b"ok")


class Backend:
    """A keep-alive HTTP/1.1 backend answering ``respond(seen)`` (see the module docstring).

    ``delay_s`` (a number, or a function of the request) is slept before answering.
    """

    def __init__(self, respond: Callable[[Seen], object] = lambda seen: OK,
                 delay_s: float | Callable[[Seen], float] = 0.0) -> None:
        self.respond = respond
        self.delay_s = delay_s
        self.seen: list[Seen] = []
        self.open_now = 0
        self.max_open = 0
        self._lock = threading.Lock()
        self._backend = ScriptedBackend(self._serve)
        self.port = self._backend.port

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._backend.connections

    def targets(self) -> list[str]:
        return [s.target for s in self.seen]

    def count(self, target: str) -> int:
        return sum(1 for s in self.seen if s.target == target)

    def _serve(self, conn: socket.socket, log: list) -> None:
        with self._lock:
            self.open_now += 1
            self.max_open = max(self.max_open, self.open_now)
        try:
            buf = b""
            while True:
                seen, buf = read_message(conn, buf)
                if seen is None:
                    return
                self.seen.append(seen)
                delay = self.delay_s(seen) if callable(self.delay_s) else self.delay_s
                if delay:
                    time.sleep(delay)
                out = self.respond(seen)
                if out == CLOSE:
                    return
                if callable(out):
                    out(conn)
                    return
                conn.sendall(out)  # type: ignore[arg-type]
        finally:
            with self._lock:
                self.open_now -= 1

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fail_first(first: bytes) -> Callable[[Seen], bytes]:
    """``respond`` for :class:`Backend`: ``first`` to the first request for each target, 200
    ``ok`` to every later one."""
    lock = threading.Lock()
    seen_targets: set[str] = set()

    def respond(seen: Seen) -> bytes:
        with lock:
            if seen.target not in seen_targets:
                seen_targets.add(seen.target)
                return first
        return OK

    return respond


def stat(metrics: dict, prefix: str, name: str) -> float:
    """The sum of the metrics ``<prefix>...<name>``: e.g. ``stat(m, "rt/r/server/",
    "success")`` is the success counter of router ``r``'s server whatever its address.
    A client's view of a service (``client/<id>/service/<name>/...``) is not counted
    again."""
    return sum(v for k, v in metrics.items()
               if k.startswith(prefix) and (k == prefix + name or k.endswith("/" + name))
               and not (prefix.endswith("/client/") and "/service/" in k[len(prefix):]))


def free_port() -> int:
    """A local port nothing listens on (for a config that must name a port before start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset(conn: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def fs_l5d(tmp_path, ports: list[int], router_yaml: str = "", **kw) -> L5d:
    """An l5d where ``/svc/x`` is one client (``/#/io.l5d.fs/x``) with these endpoints."""
    disco = tmp_path / "disco"
    disco.mkdir(exist_ok=True)
    (disco / "x").write_text("".join(f"127.0.0.1 {p}\n" for p in ports))
    return L5d("/svc=>/#/io.l5d.fs", router_yaml=router_yaml,
               namers_yaml=f"namers:\n- kind: io.l5d.fs\n  rootDir: {disco}\n", **kw)


class Scripted(Backend):
    """A :class:`Backend` whose answer depends on the target's first segment: ``/always...``
    is a 500 every time, ``/once...`` a 500 the first time and 200 after, ``/twice...`` a 500
    twice, ``/slow...`` a 200 after ``slow_s``; anything else is 200 ``ok``. The 500s say
    ``boom``."""

    def __init__(self, slow_s: float = 1.0) -> None:
        self.slow_s = slow_s
        super().__init__(self._answer, self._delay)

    def _delay(self, seen: Seen) -> float:
        return self.slow_s if seen.target.startswith("/slow") else 0.0

    def _answer(self, seen: Seen) -> bytes:
        target = seen.target
        failures = (1 if target.startswith("/once") else 2 if target.startswith("/twice")
                    else -1 if target.startswith("/always") else 0)
        if failures < 0 or self.count(target) <= failures:
            return answer(500, b"boom")
        return OK
