"""A strict raw HTTP/1.1 client for integration tests (blocking sockets, ``httptools``).

Tests that check framing need to see the bytes a real client sees, without a
library that forgives: :class:`RawClient` writes exactly the bytes it is given
and parses what comes back with llhttp (the parser the router itself uses), one
parser per connection, so a stray byte after a response shows up as an extra
(or broken) message instead of disappearing.

``Response.complete`` is False when the connection ended (closed or reset)
before the message did: the router aborted it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import httptools


@dataclass
class Response:
    status: int = 0
    reason: bytes = b""
    version: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False
    keep_alive: bool = False

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive) as text, or None."""
        key = name.lower().encode("latin-1")
        for n, v in self.headers:
            if n.lower() == key:
                return v.decode("latin-1")
        return None

    def header_names(self) -> list[str]:
        return [n.decode("latin-1").lower() for n, _ in self.headers]


class _Collector:
    def __init__(self) -> None:
        self.done: list[Response] = []
        self.current: Response | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.error: str | None = None
        self.close_delimited = False

    def on_message_begin(self) -> None:
        self.current = Response()

    def on_status(self, reason: bytes) -> None:
        assert self.current is not None
        self.current.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.current is not None
        self.current.status = self.parser.get_status_code()
        self.current.version = self.parser.get_http_version()
        self.current.keep_alive = self.parser.should_keep_alive()
        names = {n.lower() for n, _ in self.current.headers}
        self.close_delimited = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and not 100 <= self.current.status < 200
            and self.current.status not in (204, 304)
        )

    def end_of_input(self) -> None:
        """The connection ended: a close-delimited body is complete, anything else is cut."""
        if self.current is not None and self.close_delimited and self.current.status:
            self.on_message_complete()

    def on_body(self, data: bytes) -> None:
        assert self.current is not None
        self.current.body += data

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.current.complete = True
        self.done.append(self.current)
        self.current = None


class RawClient:
    """One TCP connection to ``127.0.0.1:port``; send bytes, read whole responses."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.timeout_s = timeout_s
        self._c = _Collector()
        self.eof = False
        self.reset = False
        self.raw = b""

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_some(self, deadline: float) -> bool:
        """Read once; False at EOF/reset/timeout."""
        if self.eof:
            return False
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not data:
            self.eof = True
            self._c.end_of_input()
            return False
        self.raw += data
        try:
            self._c.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._c.error = str(e)
            self.eof = True
        return True

    def read_response(self, timeout_s: float | None = None) -> Response:
        """The next response (a 1xx interim one counts); incomplete if the connection ended
        first."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while not self._c.done:
            if not self._recv_some(deadline):
                if self._c.done:
                    break
                if self.eof or time.monotonic() >= deadline:
                    partial = self._c.current or Response()
                    self._c.current = None
                    if not self.eof:
                        raise TimeoutError(f"no complete response; partial: {partial}")
                    return partial
        return self._c.done.pop(0)

    def read_final_response(self, timeout_s: float | None = None) -> Response:
        """The next non-1xx response."""
        while True:
            rsp = self.read_response(timeout_s)
            if not 100 <= rsp.status < 200 or not rsp.complete:
                return rsp

    def read_head_response(self, timeout_s: float | None = None) -> tuple[bytes, bytes]:
        """For HEAD (sent after every earlier response was read): the raw head, and whatever
        else arrived with it."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        start = len(self.raw)
        while b"\r\n\r\n" not in self.raw[start:]:
            if not self._recv_some(deadline):
                break
        head, _, rest = self.raw[start:].partition(b"\r\n\r\n")
        # llhttp cannot know the response was to HEAD: a fresh parser for what follows
        self._c = _Collector()
        if rest:
            self._c.parser.feed_data(rest)
        return head, rest

    def closed_by_peer(self, timeout_s: float = 5.0) -> bool:
        """Whether the server closes the connection (without sending more) within the time."""
        deadline = time.monotonic() + timeout_s
        before = len(self.raw)
        while not self.eof and time.monotonic() < deadline:
            self._recv_some(deadline)
        return self.eof and len(self.raw) == before

    @property
    def parse_error(self) -> str | None:
        return self._c.error


def request(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """Request bytes, exactly as given (no header added)."""
    lines = [f"{method} {target} {version}"]
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
