"""A request the server answers itself, in its turn in the connection's queue (shell helper).

The server queues a :class:`LocalAnswer` where an exchange would be: for input it
refuses (``final``: the connection closes after a lingering drain) and for the 503 of
``maxConcurrentRequests`` (the connection stays open when the request was read whole
and the client allows it). It takes the request's body events like an exchange and
discards them. Reactor-thread only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALLOW", "LocalAnswer"]

#: what a 405 (CONNECT) says l5d forwards
ALLOW = b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE"


class LocalAnswer:
    """A request answered by the server itself, in its turn in the queue.

    ``final`` answers (unparsable input) close the connection after a
    lingering drain; others (503 over ``maxConcurrentRequests``) keep it when
    the request was read completely and the client allows it.
    """

    __slots__ = ("conn", "status", "reason", "final", "keep_alive", "request_done",
                 "retryable", "retry_after_s", "head_only")

    def __init__(self, conn: Any, status: int, reason: str, *,
                 final: bool = True, keep_alive: bool = False, request_done: bool = True,
                 retryable: bool = False, retry_after_s: int | None = None,
                 head_only: bool = False) -> None:
        self.conn = conn
        self.status = status
        self.reason = reason
        self.final = final
        self.keep_alive = keep_alive
        self.request_done = request_done
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.head_only = head_only

    def start(self) -> None:
        self.conn._answer(self)

    def request_body(self, data: bytes) -> None:
        pass  # discarded

    def request_complete(self) -> None:
        self.request_done = True

    def fail(self, status: int, reason: str) -> None:
        self.request_done = False

    def connection_lost(self) -> None:
        pass
