"""Fakes for the l5d.lb tests: a settable health, a list clock, a load tracker."""

from __future__ import annotations

import random
from typing import Any, Hashable

from l5d.lb import OPEN, Balancer, Node


class Health:
    """A status source the test sets by hand (what failure accrual would report)."""

    def __init__(self, value: int = OPEN) -> None:
        self.value = value

    def status(self, now: float) -> int:
        return self.value


class ListClock:
    """Monotonic seconds the test moves by hand; ``clock()`` reads it."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


class Tracker:
    """Drives a balancer the way Finagle's P2C tests drive theirs.

    Per key: ``load`` (held requests), ``total`` (requests started) and Finagle's
    ``meanLoad`` (the mean of the node's load sampled after every start and end).
    """

    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.load: dict[Hashable, int] = {}
        self.total: dict[Hashable, int] = {}
        self._sum: dict[Hashable, int] = {}
        self._count: dict[Hashable, int] = {}
        self.held: list[tuple[Node, Any]] = []

    def _sample(self, key: Hashable) -> None:
        self._sum[key] = self._sum.get(key, 0) + self.load[key]
        self._count[key] = self._count.get(key, 0) + 1

    def start(self) -> tuple[Node, Any]:
        """pick + acquired; the request is returned (not held)."""
        node = self.balancer.pick()
        assert node is not None
        token = self.balancer.acquired(node)
        key = node.key
        self.load[key] = self.load.get(key, 0) + 1
        self.total[key] = self.total.get(key, 0) + 1
        self._sample(key)
        return node, token

    def end(self, request: tuple[Node, Any]) -> None:
        node, token = request
        self.balancer.released(node, token)
        self.load[node.key] -= 1
        self._sample(node.key)

    def hold(self, n: int) -> None:
        """Start ``n`` requests and keep them outstanding."""
        for _ in range(n):
            self.held.append(self.start())

    def release_key(self, key: Hashable) -> None:
        """End every held request on ``key``."""
        keep = []
        for request in self.held:
            if request[0].key == key:
                self.end(request)
            else:
                keep.append(request)
        self.held = keep

    def mean_load(self, key: Hashable) -> float:
        count = self._count.get(key, 0)
        return self._sum[key] / count if count else 0.0


def make(kind: str, n: int = 0, *, seed: int = 12345, clock: ListClock | None = None,
         **kwargs: Any) -> tuple[Balancer, dict[int, Health], ListClock]:
    """A balancer of ``kind`` over keys ``0..n-1``, each with a settable Health."""
    clock = clock or ListClock()
    healths: dict[int, Health] = {}

    def health(key: Hashable) -> Health:
        h = healths[key] = Health()  # type: ignore[index]
        return h

    kwargs.setdefault("health", health)
    bal = Balancer(kind, rng=random.Random(seed), now=clock, **kwargs)
    if n:
        bal.update([(i, f"ep{i}") for i in range(n)])
    return bal, healths, clock


def assert_even(tracker: Tracker, keys: Any, eps: float) -> None:
    """Finagle's ``assertEven``: every mean load within ``eps`` of the first's."""
    keys = list(keys)
    first = tracker.mean_load(keys[0])
    for key in keys:
        ml = tracker.mean_load(key)
        assert abs(ml - first) < eps, f"key {key}: mean load {ml} vs {first} (eps {eps})"
