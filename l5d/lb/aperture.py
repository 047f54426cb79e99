"""Kind ``aperture``: random aperture with a load band, least loaded (pure).

Finagle's ``ApertureLeastLoaded`` as Linkerd 1.x builds it: no process
coordinate, so the *random* aperture (``aperture/RandomAperture.scala``).

- Every node draws a random 32-bit ``token`` when it is created and keeps it
  across updates. The distributor orders the nodes by token (a per-process
  random but stable order), then stably by status: ``OPEN`` first, then
  ``BUSY``, then ``CLOSED``.
- The aperture is the first ``logical_aperture`` nodes of that order; a pick is
  P2C least loaded (:func:`l5d.lb.p2c.pick_least_loaded`) within it. Its bounds
  are ``min = min(min_aperture, size)`` and ``max = size``.
- Every rebuild (membership change, maxEffort exhaustion, or a node that was
  ``BUSY`` at build time turning ``OPEN``) re-sorts and resets the aperture to
  its initial 1 (clamped into the bounds); the load band regrows it.
- Load band (``aperture/LoadBand.scala``): each request start and end updates
  ``total`` (requests outstanding across the balancer) and its EMA over
  ``smooth_window_s``; with ``avg = ema / logical_aperture`` the aperture widens
  by one when ``avg >= high_load`` and narrows by one when ``avg <= low_load``.
  Linkerd's defaults are 5 s, 0.5 and 2.0 (Finagle's own are 15 s, 0.875, 1.125).

Not done here: Finagle's idle expiry of sessions outside the aperture and eager
connections, which are connection-pool (I/O) matters.

Mutable, reactor-thread only.
"""

from __future__ import annotations

from typing import Any, Hashable

from l5d.lb.balancer import FrameBalancer
from l5d.lb.ewma import Ema
from l5d.lb.node import BUSY, OPEN, Node
from l5d.lb.p2c import pick_least_loaded


def _token(node: Node) -> int:
    return node.token


def aperture_order(nodes: tuple[Node, ...],
                   now: float) -> tuple[tuple[Node, ...], tuple[Node, ...]]:
    """The random aperture order and the nodes set aside as ``BUSY``.

    :param nodes: the nodes, in any order.
    :param now: monotonic seconds, for the nodes' status.
    :returns: ``(vector, busy)``: nodes by token, stably partitioned OPEN, BUSY,
        CLOSED; and the BUSY ones.
    """
    up: list[Node] = []
    busy: list[Node] = []
    closed: list[Node] = []
    for node in sorted(nodes, key=_token):
        status = node.status(now)
        if status == OPEN:
            up.append(node)
        elif status == BUSY:
            busy.append(node)
        else:
            closed.append(node)
    return tuple(up + busy + closed), tuple(busy)


class ApertureBalancer(FrameBalancer, kind="aperture"):
    """Kind ``aperture``: P2C least loaded within a load-controlled aperture."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ema = Ema(self._smooth_window_s)
        self._total = 0
        self._widen = 0
        self._narrow = 0

    @property
    def logical_aperture(self) -> int:
        """How many nodes, from the head of the aperture order, picks choose from."""
        return self._aperture

    def adjust(self, n: int) -> None:
        """Move the aperture by ``n`` nodes, within ``[min, max]`` (Finagle ``adjust``).

        :param n: nodes to add (negative: to remove).
        """
        self._aperture = max(self._min, min(self._max, self._aperture + n))

    def acquired(self, node: Node) -> None:
        node.pending += 1
        self._total += 1
        self._band()

    def released(self, node: Node, token: Any) -> None:
        # the total is balancer-wide: a node removed meanwhile still ends its request
        node.pending -= 1
        self._total -= 1
        self._band()

    def _plain_stats(self) -> dict[str, float]:
        stats = super()._plain_stats()
        stats["logical_aperture"] = float(self._aperture)
        stats["physical_aperture"] = float(self._aperture)
        stats["loadband/widen"] = float(self._widen)
        stats["loadband/narrow"] = float(self._narrow)
        stats["loadband/offered_load_ema"] = self._ema.last
        return stats

    def _band(self) -> None:
        """The load band controller: at most one step per request event."""
        ema = self._ema.update(self._now(), self._total)
        aperture = self._aperture
        if aperture == 0:  # no nodes (Finagle divides by zero and does nothing)
            return
        avg = ema / aperture
        if avg >= self._high_load and aperture < self._max:
            self._aperture = aperture + 1
            self._widen += 1
        elif avg <= self._low_load and aperture > self._min:
            self._aperture = aperture - 1
            self._narrow += 1

    def _new_node(self, key: Hashable, endpoint: Any, health: Any, now: float) -> Node:
        node = Node(key, endpoint, health)
        node.token = self._rng.getrandbits(32)
        return node

    def _build(self, now: float) -> None:
        vec, busy = aperture_order(self._nodes, now)
        self._vec = vec
        self._busy = busy
        self._watch = bool(busy)
        self._max = len(vec)
        self._min = min(self._min_aperture, len(vec))
        self._aperture = max(self._min, min(self._max, 1))

    def _pick_one(self, now: float) -> Node | None:
        return pick_least_loaded(self._vec, self._aperture, self._random, now)

    def _needs_rebuild(self, now: float) -> bool:
        for node in self._busy:
            if node.status(now) == OPEN:
                return True
        return False
