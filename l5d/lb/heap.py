"""Kind ``heap``: a strictly least-loaded balancer over a binary min-heap (pure).

Finagle ``heap/HeapLeastLoaded.scala``. Unlike the other kinds it is not built
on the pick frame: there is no maxEffort, no rebuild and no
``max_effort_exhausted``.

- The heap is 1-indexed and keyed by an int load that starts at
  ``ZERO = -(2**31) + 1`` and moves by one per request start and end.
- A pick looks at the root. If it is ``OPEN`` it is the answer; if not, it is
  marked down (``PENALTY = 2**31 - 1`` added, which makes its load ``>= 0``,
  above every node not marked down), sifted down, and the new root is looked
  at. A root with load ``>= 0`` means every node is marked down: it is used
  anyway (least loaded among the down nodes, so load still spreads evenly).
- Before that, each pick revives marked nodes that are ``OPEN`` again
  (``PENALTY`` taken off, sifted up) and forgets removed ones.
- When a release leaves a node idle (load ``ZERO``) it is moved to a random
  place among the equally idle, so ties do not always go to the same node.
- Updates work by set difference: a removed node leaves the heap (index -1)
  and a later release on it changes nothing; new nodes enter at ``ZERO``.

Finagle takes a node out (on removal, and on an idle release) by moving the
last one into its place and only sifting that one down; here it is sifted up or
down as needed, which keeps the heap invariant when the moved node comes from
another subtree (a random sequence of operations breaks Finagle's version).

Mutable, reactor-thread only.
"""

from __future__ import annotations

from typing import Any

from l5d.lb.balancer import Balancer
from l5d.lb.node import OPEN, Node

ZERO = -(2**31) + 1
PENALTY = 2**31 - 1


class HeapBalancer(Balancer, kind="heap"):
    """Kind ``heap``: always the least loaded ``OPEN`` node (ties broken at random)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heap: list[Any] = [None]  # 1-indexed: heap[i]._heap_index == i
        self._down: list[Node] = []  # nodes marked down, to revive

    def pick(self) -> Node | None:
        heap = self._heap
        size = len(heap) - 1
        if not size:
            return None
        now = self._now()
        if self._down:
            self._revive(now)
        while True:
            node = heap[1]
            if node._heap_load >= 0:  # every node is marked down
                return node
            health = node.health
            if health is None or health.status(now) == OPEN:
                return node
            node._heap_load += PENALTY
            self._down.append(node)
            self._fix_down(1, size)

    def acquired(self, node: Node) -> None:
        node.pending += 1
        node._heap_load += 1
        i = node._heap_index
        if i > 0:
            self._fix_down(i, len(self._heap) - 1)

    def released(self, node: Node, token: Any) -> None:
        node.pending -= 1
        load = node._heap_load - 1
        node._heap_load = load
        i = node._heap_index
        if i <= 0:  # removed by an update meanwhile
            return
        size = len(self._heap) - 1
        if load == ZERO and size > 1:
            # idle again, so <= every node: move it to a random slot to break ties
            self._detach(i, size)
            j = int(self._random() * size) + 1
            self._swap(j, size)
            self._fix_up(j)
            self._fix_up(size)
        else:
            self._fix_up(i)

    def _revive(self, now: float) -> None:
        """Forget removed nodes among the marked ones; unmark those ``OPEN`` again."""
        keep = []
        for node in self._down:
            if node._heap_index < 0:
                continue
            if node.status(now) == OPEN:
                node._heap_load -= PENALTY
                self._fix_up(node._heap_index)
            else:
                keep.append(node)
        self._down = keep

    def _membership_changed(self, added: list[Node], removed: list[Node], now: float) -> None:
        heap = self._heap
        for node in removed:
            last = len(heap) - 1
            self._detach(node._heap_index, last)
            heap.pop()
            node._heap_index = -1
        for node in added:
            node._heap_load = ZERO
            heap.append(node)
            node._heap_index = len(heap) - 1
            self._fix_up(node._heap_index)

    def _detach(self, i: int, last: int) -> None:
        """Move ``heap[i]`` to ``heap[last]`` and restore the heap over ``heap[1..last-1]``.

        The node moved into ``i`` may belong above or below it (it comes from
        another subtree), so it is sifted both ways; Finagle only sifts down.
        """
        if i == last:
            return
        self._swap(i, last)
        moved = self._heap[i]
        self._fix_down(i, last - 1)
        self._fix_up(moved._heap_index)

    def _swap(self, i: int, j: int) -> None:
        heap = self._heap
        a = heap[j]
        b = heap[i]
        heap[i] = a
        heap[j] = b
        a._heap_index = i
        b._heap_index = j

    def _fix_up(self, i: int) -> None:
        heap = self._heap
        node = heap[i]
        load = node._heap_load
        while i > 1:
            parent = heap[i >> 1]
            if load >= parent._heap_load:
                break
            heap[i] = parent
            parent._heap_index = i
            i >>= 1
        heap[i] = node
        node._heap_index = i

    def _fix_down(self, i: int, last: int) -> None:
        """Sift ``heap[i]`` down within ``heap[1..last]``."""
        heap = self._heap
        node = heap[i]
        load = node._heap_load
        while True:
            m = i << 1
            if m > last:
                break
            child = heap[m]
            if m < last and heap[m + 1]._heap_load <= child._heap_load:
                m += 1
                child = heap[m]
            if child._heap_load >= load:
                break
            heap[i] = child
            child._heap_index = i
            i = m
        heap[i] = node
        node._heap_index = i
