"""An origin that records the requests it parses, with an independent parser (``h11``).

The smuggling tests need to know where the *origin* thinks one request ends and the
next begins, not where l5d thinks so: :class:`RecordingOrigin` reads every upstream
connection with h11 (not llhttp, which l5d itself uses), keeps the raw bytes of each
connection, and records every complete request it parsed (method, target, version,
headers, body byte for byte). It answers each one with a 200 whose JSON body echoes
what it parsed, so a client can check that the response it got is the answer to its
own request and not to someone else's.

A request recorded without an ``l5d-reqid`` header did not come from l5d's framing:
it was smuggled inside another request's bytes (``smuggled()`` lists them). A
connection whose bytes h11 refused is in ``errors``.

A target containing ``/slow`` is answered after ``slow_s``; one containing ``/never``
is never answered (the connection stays open until the origin is closed).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field

import h11


@dataclass
class Seen:
    """One request as the origin parsed it."""

    conn: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive), or None."""
        values = self.values(name)
        return values[0] if values else None

    def values(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self.headers if n == key]


@dataclass
class RecordingOrigin:
    """h11 origin on 127.0.0.1; ``port``, ``requests`` (in arrival order), ``errors``, ``raw``."""

    slow_s: float = 0.3
    requests: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    raw: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> "RecordingOrigin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.close()
                except OSError:
                    pass

    def mark(self) -> int:
        """The number of requests recorded so far (slice ``requests`` from it later)."""
        return len(self.requests)

    def since(self, mark: int) -> list[Seen]:
        return self.requests[mark:]

    def smuggled(self, mark: int = 0) -> list[Seen]:
        """Requests the origin parsed that l5d never framed (no ``l5d-reqid``)."""
        return [r for r in self.requests[mark:] if r.header("l5d-reqid") is None]

    # -- serving --------------------------------------------------------------
    def _accept(self) -> None:
        n = 0
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            n += 1
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _serve(self, conn: socket.socket, cid: int) -> None:
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        self.raw[cid] = b""
        current: Seen | None = None
        try:
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    data = conn.recv(65536)
                    self.raw[cid] += data
                    h.receive_data(data)
                    if not data and h.their_state is not h11.DONE:
                        if current is not None:
                            self.errors.append(f"conn {cid}: closed inside a request")
                        return
                    continue
                if event is h11.PAUSED:
                    h.start_next_cycle()
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    return
                if isinstance(event, h11.Request):
                    current = Seen(cid, event.method.decode("latin-1"),
                                   event.target.decode("latin-1"),
                                   event.http_version.decode("latin-1"),
                                   [(n.decode("latin-1"), v.decode("latin-1"))
                                    for n, v in event.headers])
                elif isinstance(event, h11.Data):
                    assert current is not None
                    current.body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    assert current is not None
                    self.requests.append(current)
                    done, current = current, None
                    if not self._answer(h, conn, done):
                        return
        except h11.RemoteProtocolError as e:
            self.errors.append(f"conn {cid}: {e}")
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, h: h11.Connection, conn: socket.socket, req: Seen) -> bool:
        if "/never" in req.target:
            self._closed.wait()
            return False
        if "/slow" in req.target:
            time.sleep(self.slow_s)
        body = json.dumps({"method": req.method, "target": req.target,
                           "reqid": req.header("l5d-reqid"), "body": len(req.body),
                           "conn": req.conn}).encode()
        out = h.send(h11.Response(status_code=200, headers=[
            ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]))
        out += h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage())
        conn.sendall(out)
        if h.our_state is h11.MUST_CLOSE:
            return False
        return True
