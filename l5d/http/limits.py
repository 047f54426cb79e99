"""What one router server allows and what it has open (pure).

:class:`ServerLimits` is built from a server's config (``l5d.linker.server_limits``)
and enforced by :class:`l5d.http.server.HttpServerConnection`;
:class:`ServerLoad` counts what all connections of one server hold right now.
"""

from __future__ import annotations

from dataclasses import dataclass

from l5d.http.framing import MAX_FIXED_BODY

__all__ = ["ServerLimits", "ServerLoad"]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Per-server limits and deadlines (config keys in brackets; "l5d" marks our additions).

    :param max_initial_line: request-target bytes [maxInitialLineKB, 4 KiB] -> 414.
    :param max_headers: header-block bytes [maxHeadersKB, 8 KiB] -> 431.
    :param max_header_count: number of header fields -> 431.
    :param max_body: request body bytes [maxRequestKB] -> 413.
    :param header_timeout_s: from the first byte of a request (or the accept) to the
        end of its headers -> 408 [headerTimeoutMs, l5d].
    :param body_idle_s: longest pause in a request body while we read -> 408, or an
        abort once the response has started [bodyIdleTimeMs, l5d].
    :param send_timeout_s: longest time the client takes none of the bytes we have for it
        -> abort [sendTimeoutMs, l5d].
    :param idle_s: keep-alive connection with nothing in flight -> closed
        [serverSession.idleTimeMs].
    :param life_s: connection age after which it closes once idle [serverSession.lifeTimeMs];
        ``None`` is forever.
    :param max_concurrent_requests: requests in flight on the server -> 503
        [maxConcurrentRequests]; ``None`` is unlimited.
    :param max_connections: open connections; more are closed on accept, and from 90 % of
        it on responses carry ``Connection: close`` [maxConnections, l5d].
    :param clear_context: error answers carry no body and no ``l5d-*`` header [clearContext].
    :param lingering_s: how long to drain input after the last response before a close.
    """

    max_initial_line: int = 4096
    max_headers: int = 8192
    max_header_count: int = 100
    max_body: int = MAX_FIXED_BODY
    header_timeout_s: float = 10.0
    body_idle_s: float = 60.0
    send_timeout_s: float = 60.0
    idle_s: float = 120.0
    life_s: float | None = None
    max_concurrent_requests: int | None = None
    max_connections: int | None = None
    clear_context: bool = False
    lingering_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_idle_s", "send_timeout_s", "idle_s", "lingering_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name}: expected seconds > 0, got {value!r}")


class ServerLoad:
    """What one server has open right now, and its running totals (shared by its
    connections; read as the server's ``pending``, ``connections``, ``connects``,
    ``sent_bytes`` and ``received_bytes``). Reactor-thread only."""

    __slots__ = ("connections", "requests", "refused_connections", "refused_requests",
                 "connects", "sent_bytes", "received_bytes")

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.refused_connections = 0
        self.refused_requests = 0
        self.connects = 0
        self.sent_bytes = 0
        self.received_bytes = 0


class ClientIo:
    """Running totals of a client's connections, shared by the pools of its endpoints
    (read as the client's ``connects``, ``sent_bytes`` and ``received_bytes``).
    Reactor-thread only."""

    __slots__ = ("connects", "sent_bytes", "received_bytes")

    def __init__(self) -> None:
        self.connects = 0
        self.sent_bytes = 0
        self.received_bytes = 0
