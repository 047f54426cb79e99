"""Kind ``roundRobin``: each pick takes the next node in turn (pure).

Finagle ``roundrobin/RoundRobinBalancer.scala``. At build time the nodes are
split into ``up`` (``OPEN``) and ``down``; picks rotate over ``up``, or over
``down`` when nothing is up (send somewhere rather than nowhere). A pick that
lands on a node no longer ``OPEN``, or a ``down`` node turning ``OPEN``, asks
for a rebuild, which partitions again. Load is not looked at.

One deliberate difference: Finagle's rebuild restarts the rotation at 0, so
while every node is down (each pick exhausts maxEffort, rebuilds and takes the
next node whatever its status) every request goes to the first node. Here the
fail-open picks after such rebuilds follow a rotation of their own, so those
requests spread evenly over all nodes, as p2c spreads them.

Mutable, reactor-thread only.
"""

from __future__ import annotations

from l5d.lb.balancer import FrameBalancer
from l5d.lb.node import OPEN, Node


class RoundRobinBalancer(FrameBalancer, kind="roundRobin"):
    """Kind ``roundRobin``: rotation over the nodes that were ``OPEN`` at build time."""

    _counter = 0
    _spill = 0  # rotation of the fail-open picks that follow a maxEffort rebuild

    def _build(self, now: float) -> None:
        up: list[Node] = []
        down: list[Node] = []
        for node in self._nodes:
            (up if node.status(now) == OPEN else down).append(node)
        self._selections = tuple(up or down)
        self._down = tuple(down)
        self._saw_down = False
        self._watch = bool(down)

    def _rebuild(self, now: float) -> bool:
        self._build(now)
        self._counter = self._spill
        self._spill += 1
        return True

    def _pick_one(self, now: float) -> Node | None:
        selections = self._selections
        if not selections:
            return None
        i = self._counter
        self._counter = i + 1
        node = selections[i % len(selections)]
        health = node.health
        if health is not None and health.status(now) != OPEN:
            self._saw_down = True
            self._watch = True
        return node

    def _needs_rebuild(self, now: float) -> bool:
        if self._saw_down:
            return True
        for node in self._down:
            if node.status(now) == OPEN:
                return True
        return False
