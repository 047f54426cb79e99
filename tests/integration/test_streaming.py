"""Streaming through a real l5d: big bodies both ways, flow control, and mid-body failures.

* 100 MB up and 100 MB down, with Content-Length and chunked, verified by
  SHA-256 on the far side, while l5d's RSS (sampled during the transfer) stays
  under 100 MB: bodies are streamed, never buffered.
* A slow (then stalled) reader: l5d stops reading the upstream instead of
  buffering (the upstream's writes block), and memory stays flat.
* A backend that dies mid-body: the client's connection is cut, never handed a
  complete-looking response.
* A client that disconnects mid-response or mid-upload: the upstream
  connection is closed, not returned to the pool, and the next request opens
  a new one.

Every transfer is bounded in time; nothing asserts on speed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import struct
import threading
import time
from typing import Iterator

import pytest
import requests

from tests.helpers.backends import ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.raw_http import RawClient, request

MB = 1024 * 1024
SIZE = 100 * MB
BLOCK = 256 * 1024
RSS_LIMIT_KB = 100 * 1024
TRANSFER_TIMEOUT_S = 120


class RssSampler:
    """Samples l5d's RSS every few milliseconds in a thread; ``peak_kb`` is the highest seen."""

    def __init__(self, l5d: L5d, interval_s: float = 0.01) -> None:
        self.l5d = l5d
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.l5d.rss_kb())
            time.sleep(self.interval_s)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_kb(self) -> int:
        return max(self.samples)


def pattern_blocks(size: int, seed: bytes = b"l5d") -> Iterator[bytes]:
    """``size`` bytes of non-repeating data, in BLOCK pieces (a SHA-256 counter stream)."""
    block = bytearray()
    counter = 0
    sent = 0
    while sent < size:
        while len(block) < BLOCK:
            block += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() * 64
            counter += 1
        piece = bytes(block[: min(BLOCK, size - sent)])
        del block[: len(piece)]
        sent += len(piece)
        yield piece


def expected_digest(size: int) -> str:
    h = hashlib.sha256()
    for piece in pattern_blocks(size):
        h.update(piece)
    return h.hexdigest()


_DIGESTS: dict[int, str] = {}


def digest_of(size: int) -> str:
    if size not in _DIGESTS:
        _DIGESTS[size] = expected_digest(size)
    return _DIGESTS[size]


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


def read_body(conn: socket.socket, head: bytes, rest: bytes, sink) -> int:
    """Read a Content-Length or chunked request body into ``sink``; returns the byte count."""
    n = content_length(head)
    total = 0
    if n is not None:
        if rest:
            sink(rest[:n])
            total = len(rest[:n])
        while total < n:
            data = conn.recv(min(BLOCK, n - total))
            if not data:
                raise ConnectionError(f"body cut at {total} of {n}")
            sink(data)
            total += len(data)
        return total
    buf = rest
    while True:
        while b"\r\n" not in buf:
            data = conn.recv(BLOCK)
            if not data:
                raise ConnectionError(f"chunked body cut at {total}")
            buf += data
        line, _, buf = buf.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while b"\r\n" not in buf:
                buf += conn.recv(BLOCK)
            return total
        while len(buf) < size + 2:
            data = conn.recv(max(BLOCK, size + 2 - len(buf)))
            if not data:
                raise ConnectionError(f"chunked body cut at {total}")
            buf += data
        sink(buf[:size])
        total += size
        buf = buf[size + 2 :]


class HashingBackend:
    """Uploads: answers with the SHA-256 and size of the request body.
    Downloads: ``GET /cl/<n>`` or ``GET /chunked/<n>`` streams ``n`` pattern bytes."""

    def __init__(self) -> None:
        self.sent = 0  # bytes of response body handed to the kernel so far
        self.outcomes: list[str] = []
        self.backend = ScriptedBackend(self._handle)

    def _handle(self, conn: socket.socket, log: list) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        buf = b""
        while True:
            head, buf = read_head(conn, buf)
            if not head:
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
            log.append((method, target))
            if method in ("POST", "PUT"):
                h = hashlib.sha256()
                try:
                    n = read_body(conn, head, buf, h.update)
                except ConnectionError as e:
                    self.outcomes.append(f"upload cut: {e}")
                    return
                buf = b""
                out = f"{n} {h.hexdigest()}".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
                continue
            kind, size = target.strip("/").split("/")
            size_n = int(size)
            try:
                if kind == "cl":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size_n)
                    for piece in pattern_blocks(size_n):
                        conn.sendall(piece)
                        self.sent += len(piece)
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for piece in pattern_blocks(size_n):
                        conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.sent += len(piece)
                    conn.sendall(b"0\r\n\r\n")
                self.outcomes.append("download complete")
            except OSError as e:
                self.outcomes.append(f"download cut: {type(e).__name__}")
                return

    def __enter__(self) -> "HashingBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.backend.close()


@pytest.fixture(scope="module")
def big():
    with HashingBackend() as backend, L5d(f"/svc=>/$/inet/127.0.0.1/{backend.backend.port}") as l5d:
        yield l5d, backend


def proxies(l5d: L5d) -> dict[str, str]:
    return {"http": f"http://{l5d.proxy}"}


class _SizedStream:
    """A file-like body of known length: requests sends it with Content-Length."""

    def __init__(self, size: int) -> None:
        self._blocks = pattern_blocks(size)
        self._size = size
        self._buf = b""

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            piece = next(self._blocks, None)
            if piece is None:
                break
            self._buf += piece
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class BigTransferTests:
    """100 MB each way through l5d, hashes checked, RSS under 100 MB throughout."""

    @pytest.mark.parametrize("framing", ["content-length", "chunked"])
    def test_upload_100mb(self, big, framing: str) -> None:
        """A 100 MB request body reaches the backend intact; l5d's RSS stays under 100 MB."""
        l5d, backend = big
        body = _SizedStream(SIZE) if framing == "content-length" else pattern_blocks(SIZE)
        with RssSampler(l5d) as rss:
            rsp = requests.post(
                "http://big/up", data=body, proxies=proxies(l5d), timeout=TRANSFER_TIMEOUT_S
            )
        assert rsp.status_code == 200
        assert rsp.text == f"{SIZE} {digest_of(SIZE)}"
        assert rss.peak_kb < RSS_LIMIT_KB, rss.peak_kb

    @pytest.mark.parametrize("framing", ["cl", "chunked"])
    def test_download_100mb(self, big, framing: str) -> None:
        """A 100 MB response body reaches the client intact; l5d's RSS stays under 100 MB."""
        l5d, backend = big
        h = hashlib.sha256()
        total = 0
        with RssSampler(l5d) as rss:
            with requests.get(
                f"http://big/{framing}/{SIZE}",
                proxies=proxies(l5d),
                stream=True,
                timeout=TRANSFER_TIMEOUT_S,
            ) as rsp:
                assert rsp.status_code == 200
                if framing == "cl":
                    assert rsp.headers["Content-Length"] == str(SIZE)
                else:
                    assert rsp.headers["Transfer-Encoding"] == "chunked"
                for piece in rsp.iter_content(BLOCK):
                    h.update(piece)
                    total += len(piece)
        assert total == SIZE
        assert h.hexdigest() == digest_of(SIZE)
        assert rss.peak_kb < RSS_LIMIT_KB, rss.peak_kb

    def test_curl_download_and_upload(self, big, tmp_path) -> None:
        """curl through http_proxy: 20 MB down to a file and up again from it, byte for byte."""
        l5d, backend = big
        size = 20 * MB
        path = tmp_path / "down.bin"
        env = dict(os.environ, http_proxy=f"http://{l5d.proxy}", no_proxy="")
        subprocess.run(
            ["curl", "-sf", "-o", str(path), f"http://big/chunked/{size}"],
            env=env,
            timeout=TRANSFER_TIMEOUT_S,
            check=True,
        )
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest_of(size)
        out = subprocess.run(
            ["curl", "-sf", "--data-binary", f"@{path}", "http://big/up"],
            env=env,
            capture_output=True,
            timeout=TRANSFER_TIMEOUT_S,
            check=True,
        )
        assert out.stdout.decode() == f"{size} {digest_of(size)}"


class SlowReaderTests:
    """Flow control: a client that reads slowly (or stops) makes l5d stop reading the upstream."""

    def test_stalled_reader_pauses_the_upstream(self, big) -> None:
        """The client reads 1 MB and stops: the backend soon cannot write more (it is far short of
        the 100 MB), l5d's RSS stays bounded; then the client reads the rest intact."""
        l5d, backend = big
        before = backend.sent
        h = hashlib.sha256()
        total = 0
        with RssSampler(l5d) as rss, requests.get(
            f"http://big/cl/{SIZE}", proxies=proxies(l5d), stream=True, timeout=TRANSFER_TIMEOUT_S
        ) as rsp:
            pieces = rsp.iter_content(64 * 1024)
            while total < MB:
                piece = next(pieces)
                h.update(piece)
                total += len(piece)

            def settled() -> bool:
                a = backend.sent
                time.sleep(0.3)
                return backend.sent == a

            assert wait_for(settled, timeout_s=10)
            stalled_at = backend.sent - before
            assert stalled_at < 40 * MB, stalled_at  # socket buffers, not the whole body
            time.sleep(0.5)
            assert backend.sent - before == stalled_at  # still paused
            for piece in pieces:
                h.update(piece)
                total += len(piece)
        assert total == SIZE and h.hexdigest() == digest_of(SIZE)
        assert rss.peak_kb < RSS_LIMIT_KB, rss.peak_kb

    def test_slow_reader(self, big) -> None:
        """A client taking 20 MB in 16 KB reads with a pause after each gets it all, intact,
        while the backend could send far faster; RSS bounded."""
        l5d, backend = big
        size = 20 * MB
        with RawClient(l5d.port, timeout_s=TRANSFER_TIMEOUT_S) as c, RssSampler(l5d) as rss:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            c.send(request("GET", f"/chunked/{size}", [("Host", "big")]))
            sock = c.sock

            class Slow:
                def recv(self, n: int) -> bytes:
                    time.sleep(0.001)
                    return sock.recv(min(n, 16 * 1024))

            h = hashlib.sha256()
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(16 * 1024)
            head, _, rest = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            got = read_body(Slow(), head, rest, h.update)  # type: ignore[arg-type]
            assert got == size and h.hexdigest() == digest_of(size)
        assert rss.peak_kb < RSS_LIMIT_KB, rss.peak_kb


class SlowUpstreamReaderTests:
    """Flow control the other way: an upstream that stops reading makes l5d stop reading the
    client."""

    def test_stalled_upstream_pauses_the_upload(self) -> None:
        """The backend reads the head and 1 MB, then nothing for a while: the client's sends
        block far short of 100 MB, l5d's RSS stays bounded; then the backend reads the rest
        and the digest matches."""
        go = threading.Event()

        def handler(conn: socket.socket, log: list) -> None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            head, rest = read_head(conn)
            h = hashlib.sha256()
            h.update(rest)
            got = len(rest)
            while got < MB:
                data = conn.recv(BLOCK)
                h.update(data)
                got += len(data)
            go.wait(30)
            while got < SIZE:
                data = conn.recv(BLOCK)
                if not data:
                    return
                h.update(data)
                got += len(data)
            out = f"{got} {h.hexdigest()}".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))

        sent = [0]
        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d, RssSampler(l5d) as rss, RawClient(l5d.port, timeout_s=TRANSFER_TIMEOUT_S) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)

            def upload() -> None:
                c.send(request("PUT", "/up", [("Host", "a"), ("Content-Length", str(SIZE))]))
                for piece in pattern_blocks(SIZE):
                    c.send(piece)
                    sent[0] += len(piece)

            t = threading.Thread(target=upload, daemon=True)
            t.start()

            def settled() -> bool:
                a = sent[0]
                time.sleep(0.3)
                return sent[0] == a and a > 0

            assert wait_for(settled, timeout_s=10)
            stalled_at = sent[0]
            assert stalled_at < 40 * MB, stalled_at
            go.set()
            t.join(TRANSFER_TIMEOUT_S)
            rsp = c.read_response()
            assert rsp.body.decode() == f"{SIZE} {digest_of(SIZE)}"
        assert rss.peak_kb < RSS_LIMIT_KB, rss.peak_kb


class DyingBackendTests:
    """A backend that dies mid-body: the client's connection is cut, never completed."""

    @pytest.mark.parametrize("framing", ["cl", "chunked"])
    @pytest.mark.parametrize("how", ["close", "reset"])
    def test_backend_dies_mid_body(self, framing: str, how: str) -> None:
        """10 MB of a 100 MB body, then the backend closes (or resets): the client gets fewer bytes
        than announced and its connection ends; no terminating chunk is invented."""

        def handler(conn: socket.socket, log: list) -> None:
            head, _ = read_head(conn)
            if framing == "cl":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % SIZE)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in pattern_blocks(10 * MB):
                conn.sendall(piece if framing == "cl" else b"%x\r\n%s\r\n" % (len(piece), piece))
            if how == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            total = 0
            with pytest.raises(requests.exceptions.RequestException):
                with requests.get(
                    "http://a/", proxies=proxies(l5d), stream=True, timeout=TRANSFER_TIMEOUT_S
                ) as rsp:
                    assert rsp.status_code == 200
                    for piece in rsp.iter_content(BLOCK):
                        total += len(piece)
            assert total <= 10 * MB
            # and on a raw socket: the stream simply ends, without a final 0-chunk
            with RawClient(l5d.port, timeout_s=TRANSFER_TIMEOUT_S) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                buf = b""
                while True:
                    try:
                        data = c.sock.recv(BLOCK)
                    except ConnectionResetError:
                        break
                    if not data:
                        break
                    buf = (buf + data)[-16:]
                assert not buf.endswith(b"0\r\n\r\n")


class ClientGoneTests:
    """A client that disconnects mid-exchange: the upstream connection is closed, never pooled."""

    def test_client_disconnects_mid_response(self) -> None:
        """The client reads 1 MB of 100 MB and closes: the backend's connection is closed by l5d
        (its writes fail), and the next request arrives on a new upstream connection."""
        with HashingBackend() as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", f"/cl/{SIZE}", [("Host", "a")]))
                got = 0
                while got < MB:
                    got += len(c.sock.recv(BLOCK))
            assert wait_for(
                lambda: backend.outcomes[-1:] == ["download cut: ConnectionResetError"]
                or backend.outcomes[-1:] == ["download cut: BrokenPipeError"],
                timeout_s=15,
            ), backend.outcomes
            assert backend.sent < SIZE
            rsp = requests.get("http://a/cl/10", proxies=proxies(l5d), timeout=30)
            assert rsp.status_code == 200 and len(rsp.content) == 10
            assert backend.backend.connections == 2

    def test_client_disconnects_mid_upload(self) -> None:
        """The client sends 1 MB of a 10 MB body and closes: the backend sees its connection end
        before the body did (never a short body presented as complete), and no response is
        expected from it; the next request uses a new upstream connection."""
        with HashingBackend() as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("POST", "/up", [("Host", "a"), ("Content-Length", str(10 * MB))]))
                c.send(b"x" * MB)
                time.sleep(0.3)
            assert wait_for(lambda: len(backend.outcomes) == 1, timeout_s=15)
            # l5d aborts the upstream connection: a reset (or an EOF) before the 10 MB arrived
            assert backend.outcomes[0].startswith(
                ("upload cut: body cut at ", "upload cut: [Errno 104] Connection reset")
            ), backend.outcomes
            rsp = requests.post("http://a/up", data=b"abc", proxies=proxies(l5d), timeout=30)
            assert rsp.text == f"3 {hashlib.sha256(b'abc').hexdigest()}"
            assert backend.backend.connections == 2

    def test_client_resets_while_the_backend_thinks(self) -> None:
        """The client resets its connection before any response byte: the upstream connection is
        closed too (not left waiting, not pooled).

        (A plain FIN is indistinguishable from a half-close after sending, which the server
        honours by still delivering the response - reliability B10 - so the upstream only
        learns of that client's departure when the response cannot be written.)"""
        closed: list[bool] = []

        def handler(conn: socket.socket, log: list) -> None:
            head, _ = read_head(conn)
            if not head:
                return
            log.append(head)
            conn.settimeout(10)
            try:
                closed.append(conn.recv(1) == b"")
            except socket.timeout:
                closed.append(False)
            except OSError:
                closed.append(True)

        with ScriptedBackend(handler) as backend, L5d(
            f"/svc=>/$/inet/127.0.0.1/{backend.port}"
        ) as l5d:
            with RawClient(l5d.port) as c:
                c.send(request("GET", "/", [("Host", "a")]))
                assert wait_for(lambda: len(backend.log) == 1)
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            started = time.monotonic()
            assert wait_for(lambda: len(closed) == 1, timeout_s=15)
            assert closed == [True] and time.monotonic() - started < 5
