"""A threaded TCP proxy on 127.0.0.1 that can cut, stall or refuse connections.

``with FaultProxy("127.0.0.1", api.port) as proxy:`` listens on ``proxy.port`` (a free
port) and relays every accepted connection to the upstream, byte for byte (TLS passes
through untouched, so a client still verifies the upstream's certificate: connect to
``127.0.0.1:proxy.port`` and the 127.0.0.1 SAN matches). Faults:

* :meth:`FaultProxy.cut` resets every current connection (RST to both sides by default,
  or a FIN with ``reset=False``); new connections are relayed as before.
* :meth:`FaultProxy.stall` stops relaying bytes in both directions without closing
  anything (bytes wait in the proxy and the kernel buffers); ``stall(False)`` resumes.
* :meth:`FaultProxy.refuse` closes each new connection as soon as it is accepted (RST).

``accepted`` counts every accepted connection (refused ones too), ``refused`` the refused
ones and ``active`` the connections currently relayed.
"""

from __future__ import annotations

import socket
import struct
import threading

POLL_S = 0.05
CONNECT_TIMEOUT_S = 5.0
BUFFER = 65536


def set_reset_on_close(sock: socket.socket) -> None:
    """Make ``close()`` send an RST instead of a FIN (``SO_LINGER`` with a zero timeout)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


class _Pipe:
    """One proxied connection: the client socket, the upstream socket, two relay threads."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def close(self, reset: bool = False) -> None:
        """Close both sockets once; with ``reset`` the peers get an RST.

        :param reset: send RST rather than FIN.
        """
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            for sock in (self.client, self.upstream):
                if reset:
                    set_reset_on_close(sock)
                try:  # wakes a thread blocked in recv without sending anything
                    sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:port`` to ``upstream_host:upstream_port``.

    :param upstream_host: where connections are relayed to.
    :param upstream_port: the upstream port.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.accepted = 0
        self.refused = 0
        self._pipes: set[_Pipe] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._refusing = False
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(POLL_S)
        self.port = self._listener.getsockname()[1]
        self._start(self._accept_loop)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def active(self) -> int:
        """The number of connections being relayed now."""
        with self._lock:
            return len(self._pipes)

    def cut(self, reset: bool = True) -> int:
        """Close every current connection, both sides.

        :param reset: RST (default) rather than FIN.
        :return: how many connections were cut.
        """
        with self._lock:
            pipes = list(self._pipes)
            self._pipes.clear()
        for pipe in pipes:
            pipe.close(reset)
        return len(pipes)

    def stall(self, on: bool = True) -> None:
        """Stop (``True``) or resume (``False``) relaying bytes; nothing is closed.

        :param on: whether to stall.
        """
        if on:
            self._flowing.clear()
        else:
            self._flowing.set()

    def refuse(self, on: bool = True) -> None:
        """Reset (``True``) or relay again (``False``) every newly accepted connection.

        :param on: whether to refuse.
        """
        self._refusing = on

    def close(self) -> None:
        """Stop listening, cut every connection and join the threads."""
        self._closed.set()
        self._flowing.set()
        self.cut()
        self._listener.close()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(5)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self._refusing:
                self.refused += 1
                set_reset_on_close(client)
                client.close()
                continue
            self._start(self._connect, client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            set_reset_on_close(client)
            client.close()
            return
        for sock in (client, upstream):
            sock.settimeout(POLL_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe = _Pipe(client, upstream)
        with self._lock:
            if self._closed.is_set():
                pipe.close(reset=True)
                return
            self._pipes.add(pipe)
        self._start(self._relay, pipe, client, upstream)
        self._relay(pipe, upstream, client)

    def _relay(self, pipe: _Pipe, src: socket.socket, dst: socket.socket) -> None:
        """Copy ``src`` to ``dst`` until EOF, an error or a cut; then close the pipe."""
        try:
            while not pipe.closed.is_set():
                data = self._recv(pipe, src)
                if not data:
                    break
                self._send(pipe, dst, data)
        except OSError:
            pass
        with self._lock:
            self._pipes.discard(pipe)
        pipe.close()

    def _recv(self, pipe: _Pipe, src: socket.socket) -> bytes:
        while not pipe.closed.is_set():
            try:
                return src.recv(BUFFER)
            except TimeoutError:
                continue
        return b""

    def _send(self, pipe: _Pipe, dst: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view and not pipe.closed.is_set():
            if not self._flowing.wait(POLL_S):
                continue
            try:
                view = view[dst.send(view):]
            except TimeoutError:
                continue
