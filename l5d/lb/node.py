"""Balancer nodes and their status values (pure).

A :class:`Node` stands for one endpoint inside a balancer, the way Finagle's
``NodeT`` wraps one ``EndpointFactory``. The node is *kept across updates*: as
long as its key stays in the endpoint set it keeps its outstanding count, its
Peak EWMA history, its aperture token and its health object, and only its
``endpoint`` is replaced.

Status values are Finagle's ``Status`` as small ints, ordered so that a lower
value is healthier: ``OPEN`` (usable) < ``BUSY`` (temporarily unusable, e.g.
failure accrual marked it dead) < ``CLOSED`` (gone). ``best(a, b)`` is therefore
``min`` and ``worst(a, b)`` is ``max``. They are plain ints rather than an
``enum.Enum`` because they are compared twice per pick on the data path.

Mutable, reactor-thread only.
"""

from __future__ import annotations

from typing import Any, Hashable

OPEN = 0
BUSY = 1
CLOSED = 2

_NAMES = {OPEN: "OPEN", BUSY: "BUSY", CLOSED: "CLOSED"}


def status_name(status: int) -> str:
    """The name of a status value, for reprs and messages.

    :param status: ``OPEN``, ``BUSY`` or ``CLOSED``.
    """
    return _NAMES.get(status, f"status({status!r})")


class Node:
    """One endpoint as the balancer sees it.

    :ivar key: the endpoint's identity across updates, e.g. ``("10.0.0.1", 8080)``.
    :ivar endpoint: the caller's object for the endpoint (its connection pool);
        opaque to the balancer, replaced by each update that keeps ``key``.
    :ivar pending: requests started on this node (``acquired``) and not yet
        ``released``.
    :ivar health: an object whose ``status(now)`` returns ``OPEN``, ``BUSY`` or
        ``CLOSED`` (failure accrual, say), or ``None`` for always ``OPEN``.
    :ivar ewma: the node's :class:`~l5d.lb.ewma.PeakEwma` (kind ``ewma`` only).
    :ivar token: a random 32-bit int fixing the node's place in the aperture
        order (kind ``aperture`` only).
    """

    __slots__ = ("key", "endpoint", "pending", "health", "ewma", "token",
                 "_heap_index", "_heap_load")

    def __init__(self, key: Hashable, endpoint: Any, health: Any = None) -> None:
        """
        :param key: the endpoint's identity across updates.
        :param endpoint: the caller's object for the endpoint.
        :param health: a status source, or ``None`` for always ``OPEN``.
        """
        self.key = key
        self.endpoint = endpoint
        self.pending = 0
        self.health = health
        self.ewma: Any = None
        self.token = 0
        # heap kind only: position in the 1-indexed heap (-1 once removed) and its key
        self._heap_index = 0
        self._heap_load = 0

    def status(self, now: float) -> int:
        """The node's status at ``now``: its health's, or ``OPEN`` without one.

        :param now: monotonic seconds.
        """
        health = self.health
        return OPEN if health is None else health.status(now)

    def __repr__(self) -> str:
        return f"Node({self.key!r}, pending={self.pending})"
