"""Keep-alive connections to one endpoint (``client.hostConnectionPool``; Twisted shell).

An :class:`EndpointPool` hands out idle connections last-in first-out, opens new ones
up to ``max_size`` (connections being opened count), and beyond that queues up to
``max_waiters`` requests, each served by the next connection released; a request
past that is refused at once. Idle connections close after ``idle_time_s`` (never
below ``min_size`` open), and any connection after ``life_time_s`` in all
(``clientSession.lifeTimeMs``). A pooled connection with unread bytes or a FIN
waiting is closed rather than reused (see
:meth:`~l5d.http.client.UpstreamConnection.unread`). Reactor-thread only.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.internet import error as ierror
from twisted.python.failure import Failure

from l5d.http.client import UpstreamConnection, _Factory
from l5d.http.fasttcp import connect_tcp
from l5d.http.limits import ClientIo

__all__ = ["EndpointPool", "Waiter"]

_UNLIMITED = 2**31 - 1


class Waiter:
    """A request waiting for a connection of a full pool; :meth:`cancel` withdraws it."""

    __slots__ = ("on_ready", "on_fail", "pool")

    def __init__(self, pool: "EndpointPool", on_ready: Callable, on_fail: Callable) -> None:
        self.pool = pool
        self.on_ready: Callable | None = on_ready
        self.on_fail: Callable | None = on_fail

    def cancel(self) -> None:
        if self.on_ready is not None:
            self.on_ready = self.on_fail = None
            try:
                self.pool._waiters.remove(self)
            except ValueError:
                pass


class EndpointPool:
    """Connections to one ``host:port``. Reactor-thread only.

    :param connect_timeout_s: how long a TCP connect may take.
    :param max_size: connections open or opening at once (``maxSize``).
    :param min_size: idle connections are not closed below this many open (``minSize``).
    :param max_waiters: requests that may wait when ``max_size`` are busy (``maxWaiters``).
    :param idle_time_s: close a connection idle this long (``None``: never).
    :param life_time_s: close a connection this old when it next comes back (``None``: never).
    :param io: the client's running totals this pool adds to.
    :param tls: a :class:`~l5d.tls.context.ClientTls`: connections are TLS (the connect
        succeeds when the handshake does), or ``None``: plaintext.
    """

    # one per endpoint of every bound client: no instance dict (issue 14, memory)
    __slots__ = ("_reactor", "tls", "io", "host", "port", "address", "connect_timeout_s",
                 "max_size", "min_size", "max_waiters", "idle_time_s", "life_time_s", "_idle",
                 "_waiters", "open_connections", "connecting", "closed")

    def __init__(self, reactor: Any, host: str, port: int, connect_timeout_s: float = 10.0, *,
                 max_size: int = _UNLIMITED, min_size: int = 0, max_waiters: int = _UNLIMITED,
                 idle_time_s: float | None = 60.0, life_time_s: float | None = None,
                 io: ClientIo | None = None, tls: Any = None) -> None:
        self._reactor = reactor
        self.tls = tls
        #: the client's running totals (connects, bytes), shared with its other pools
        self.io = io if io is not None else ClientIo()
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self.connect_timeout_s = connect_timeout_s
        self.max_size = max_size
        self.min_size = min_size
        self.max_waiters = max_waiters
        self.idle_time_s = idle_time_s
        self.life_time_s = life_time_s
        # made at first use: most endpoints of a bound client never hold an idle connection
        # and never queue a request, and an empty deque is about 760 bytes (issue 14, memory)
        self._idle: deque[UpstreamConnection] | None = None
        self._waiters: deque[Waiter] | None = None
        self.open_connections = 0
        self.connecting = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"EndpointPool({self.host}:{self.port}, idle={self.idle_count})"

    @property
    def idle_count(self) -> int:
        return len(self._idle) if self._idle is not None else 0

    @property
    def waiting(self) -> int:
        return len(self._waiters) if self._waiters is not None else 0

    def acquire(self, on_ready: Callable[[UpstreamConnection], None],
                on_fail: Callable[..., None]) -> Waiter | None:
        """Call ``on_ready(conn)`` with an idle or new connection, or ``on_fail(pool, message)``
        (``on_fail(pool, message, True)`` when l5d itself refused: a full pool, a removed
        endpoint; the endpoint is not to blame).

        :returns: a :class:`Waiter` when the request waits for a busy pool, else ``None``.
        """
        idle = self._idle
        if idle:
            idle_s, life_s = self.idle_time_s, self.life_time_s
            now = self._reactor.seconds() if idle_s is not None or life_s is not None else 0.0
            while idle:
                conn = idle.pop()
                if conn.closed:
                    continue
                poller = conn.poller
                if ((poller is not None and poller.poll(0))  # UpstreamConnection.unread()
                        or (idle_s is not None and now - conn.idle_since >= idle_s)
                        or (life_s is not None and now - conn.created_at >= life_s)):
                    # bytes after a complete response (a HEAD or 204 answered with a body,
                    # or more than Content-Length) or the server's close: never the next
                    # answer; or idle or alive too long
                    conn.abort()
                    continue
                conn.reused = True
                on_ready(conn)
                return None
        if self.open_connections + self.connecting < self.max_size:
            self._connect(on_ready, on_fail)
            return None
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = deque()
        if len(waiters) < self.max_waiters:
            waiter = Waiter(self, on_ready, on_fail)
            waiters.append(waiter)
            return waiter
        on_fail(self, f"the connection pool is full ({self.max_size} connections busy "
                      f"and {self.max_waiters} requests waiting)", True)
        return None

    def _connect(self, on_ready: Callable, on_fail: Callable) -> None:
        self.connecting += 1

        def failed(reason: Failure) -> None:
            self.connecting -= 1
            err = reason.value
            if isinstance(err, ierror.TimeoutError):
                detail = "connect timed out"
            elif isinstance(err, ierror.ConnectionRefusedError):
                detail = "connection refused"
            else:
                detail = str(err) or type(err).__name__
            on_fail(self, detail)
            self._serve_waiter()

        def made(conn: UpstreamConnection) -> None:
            self.connecting -= 1
            self.open_connections += 1
            self.io.connects += 1
            conn.created_at = self._reactor.seconds()
            on_ready(conn)

        factory: Any = _Factory(self, made, failed)
        if self.tls is not None:
            from l5d.tls.transport import tls_client_factory  # pyOpenSSL only with tls

            factory = tls_client_factory(self.tls, factory, self._reactor, self.connect_timeout_s)
        connect_tcp(self._reactor, self.host, self.port, factory, timeout=self.connect_timeout_s)

    def release(self, conn: UpstreamConnection) -> None:
        now = self._reactor.seconds()
        life = self.life_time_s
        if self.closed or (life is not None and now - conn.created_at >= life):
            conn.transport.loseConnection()  # connection_closed serves a waiter
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            on_ready = waiter.on_ready
            if on_ready is not None:
                waiter.on_ready = waiter.on_fail = None
                conn.reused = True
                on_ready(conn)
                return
        conn.idle_since = now
        idle = self._idle
        if idle is None:
            idle = self._idle = deque()
        idle.append(conn)

    def _serve_waiter(self) -> None:
        """A connection closed or failed to open: open one for the first waiter, if any."""
        while (self._waiters and not self.closed
               and self.open_connections + self.connecting < self.max_size):
            waiter = self._waiters.popleft()
            if waiter.on_ready is not None:
                on_ready, on_fail = waiter.on_ready, waiter.on_fail
                waiter.on_ready = waiter.on_fail = None
                self._connect(on_ready, on_fail)

    def expire_idle(self, max_idle_s: float | None = None) -> int:
        """Close connections idle for ``max_idle_s`` (default ``idle_time_s``) or longer,
        oldest first, keeping ``min_size`` open; returns how many."""
        limit = self.idle_time_s if max_idle_s is None else max_idle_s
        if limit is None:
            return 0
        now = self._reactor.seconds()
        closed = 0
        idle = self._idle
        keep = self.min_size
        while (idle and now - idle[0].idle_since >= limit
               and (not keep or self.open_connections - closed > keep)):
            idle.popleft().transport.loseConnection()
            closed += 1
        return closed

    def connection_closed(self, conn: UpstreamConnection) -> None:
        self.open_connections = max(0, self.open_connections - 1)
        if self._idle:
            try:
                self._idle.remove(conn)
            except ValueError:
                pass
        if self._waiters:
            self._serve_waiter()

    def close(self) -> None:
        """Close idle connections and fail waiters; busy ones close when their exchange ends."""
        self.closed = True
        while self._idle:
            self._idle.pop().transport.loseConnection()
        while self._waiters:
            waiter = self._waiters.popleft()
            on_fail = waiter.on_fail
            if on_fail is not None:
                waiter.on_ready = waiter.on_fail = None
                on_fail(self, "the endpoint was removed", True)
