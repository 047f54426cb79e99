"""The balancer: endpoint-set updates that keep node state, and Finagle's pick frame (pure).

``Balancer(kind, rng=..., now=...)`` builds one of Linkerd 1.x's five
``client.loadBalancer`` kinds (``KINDS``). The constructor hands back the kind's
subclass (as ``pathlib.Path`` does), so the data-path methods ``pick``,
``acquired`` and ``released`` are plain methods of the kind, with no delegation.

Common to every kind (Finagle ``Balancer.update``): an update gets the whole new
endpoint set; a node whose key stays keeps its state and gets the new endpoint
object, a new key gets a fresh node (``adds``), a missing key drops its node
(``removes``), and only a change of membership rebuilds (``rebuilds``).

Common to every kind but ``heap`` (Finagle ``Balancer.apply``), the pick frame:
up to ``max_effort`` picks from the kind's distributor until one is ``OPEN``;
if none is, count ``max_effort_exhausted``, rebuild, and take the next pick
whatever its status (fail open: a request is never refused because every node
is ``BUSY`` or ``CLOSED``). After a pick, a distributor that reports it needs a
rebuild (a node it set aside is back) is rebuilt. With a fraction ``f`` of nodes
down p2c draws a bad pair with probability ~``f**2``, so all five tries fail
with ~``f**10`` (half down: ~0.1% of picks).

Usage on the data path, per request::

    node = balancer.pick()            # None: no endpoints at all
    token = balancer.acquired(node)   # request starts
    ...
    balancer.released(node, token)    # request ends, whatever the outcome

Mutable, reactor-thread only. No I/O; time only through ``now``, randomness
only through ``rng``.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Hashable, Sequence

from l5d.lb.node import BUSY, CLOSED, OPEN, Node

#: the stats counted over the nodes by status
_COUNTED = {"available": OPEN, "busy": BUSY, "closed": CLOSED}

KINDS = ("p2c", "ewma", "aperture", "heap", "roundRobin")

#: Finagle's ``algorithm/<type>`` gauge name per kind.
ALGORITHMS = {
    "p2c": "p2c_least_loaded",
    "ewma": "p2c_peak_ewma",
    "aperture": "aperture_least_loaded",
    "heap": "heap_least_loaded",
    "roundRobin": "round_robin",
}

_CLASSES: dict[str, type[Balancer]] = {}


class Balancer:
    """A load balancer over a changing set of endpoints.

    Stats (``stats()``) use Finagle's names under ``loadbalancer/``: gauges
    ``size``, ``available``, ``busy``, ``closed``, ``load`` (the sum of
    ``pending``, not of EWMA loads) and ``algorithm/<type>`` (1); counters as
    running totals ``adds``, ``removes``, ``updates``, ``rebuilds`` and
    ``max_effort_exhausted`` (the last two not for ``heap``, which has no
    rebuilds and no maxEffort); aperture adds ``logical_aperture``,
    ``physical_aperture`` and ``loadband/{widen,narrow,offered_load_ema}``.
    """

    kind = ""

    def __init_subclass__(cls, kind: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind:
            cls.kind = kind
            _CLASSES[kind] = cls

    def __new__(cls, kind: str = "p2c", **kwargs: Any) -> Balancer:
        if cls is Balancer:
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
            cls = _CLASSES[kind]
        return object.__new__(cls)

    def __init__(self, kind: str = "p2c", *, rng: random.Random, now: Callable[[], float],
                 max_effort: int = 5, decay_s: float = 10.0, smooth_window_s: float = 5.0,
                 low_load: float = 0.5, high_load: float = 2.0, min_aperture: int = 1,
                 health: Callable[[Hashable], Any] | None = None) -> None:
        """
        :param kind: ``p2c`` (least loaded), ``ewma`` (p2c over Peak EWMA),
            ``aperture`` (random aperture with a load band), ``heap`` (heap least
            loaded) or ``roundRobin``.
        :param rng: the source of randomness (seed it from the OS in production).
        :param now: zero-argument callable returning monotonic seconds.
        :param max_effort: picks tried for an ``OPEN`` node before failing open, >= 1.
        :param decay_s: Peak EWMA decay time (``ewma``), > 0.
        :param smooth_window_s: load band EMA window (``aperture``), >= 0.
        :param low_load: narrow the aperture at or below this load per node.
        :param high_load: widen the aperture at or above this load per node.
        :param min_aperture: the smallest aperture (``aperture``), >= 1.
        :param health: called with a new node's key, returns its status source
            (an object with ``status(now)``) or ``None``; kept for the node's life.
        :raises ValueError: naming the first invalid value.
        """
        if kind != self.kind:
            raise ValueError(f"kind must be {self.kind!r} for {type(self).__name__}, got {kind!r}")
        if not (isinstance(max_effort, int) and max_effort >= 1):
            raise ValueError(f"max_effort must be an int >= 1, got {max_effort!r}")
        if not decay_s > 0:
            raise ValueError(f"decay_s must be > 0, got {decay_s!r}")
        if not smooth_window_s >= 0:
            raise ValueError(f"smooth_window_s must be >= 0, got {smooth_window_s!r}")
        if not (isinstance(min_aperture, int) and min_aperture >= 1):
            raise ValueError(f"min_aperture must be an int >= 1, got {min_aperture!r}")
        if not 0 <= low_load:
            raise ValueError(f"low_load must be >= 0, got {low_load!r}")
        if not low_load < high_load:
            raise ValueError(
                f"high_load must be greater than low_load ({low_load!r}), got {high_load!r}")
        self._rng = rng
        self._random = rng.random
        self._now = now
        self._max_effort = max_effort
        self._decay_s = float(decay_s)
        self._smooth_window_s = float(smooth_window_s)
        self._low_load = float(low_load)
        self._high_load = float(high_load)
        self._min_aperture = min_aperture
        self._health = health
        self._nodes: tuple[Node, ...] = ()
        self._by_key: dict[Hashable, Node] = {}
        self._adds = 0
        self._removes = 0
        self._updates = 0

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The current nodes, in the order of the last update."""
        return self._nodes

    def update(self, endpoints: Sequence[tuple[Hashable, Any]]) -> None:
        """Replace the endpoint set.

        A node whose key stays keeps its state and gets the new endpoint object;
        new keys get fresh nodes, missing keys are dropped (a request still out
        on a dropped node may be released later without effect on the new set).

        :param endpoints: ``(key, endpoint)`` pairs; keys must be distinct.
        :raises ValueError: if a key appears twice (nothing is changed then).
        """
        old = self._by_key
        by_key: dict[Hashable, Any] = {}
        for key, endpoint in endpoints:
            if key in by_key:
                raise ValueError(f"endpoint keys must be distinct, got {key!r} twice")
            by_key[key] = endpoint
        self._updates += 1
        now = self._now()
        make = self._new_node
        health = self._health
        nodes = []
        added = []
        for key, endpoint in by_key.items():
            node = old.get(key)
            if node is None:
                node = make(key, endpoint, None if health is None else health(key), now)
                added.append(node)
            else:
                node.endpoint = endpoint
            nodes.append(node)
            by_key[key] = node
        removed = [node for key, node in old.items() if key not in by_key]
        self._adds += len(added)
        self._removes += len(removed)
        self._nodes = tuple(nodes)
        self._by_key = by_key
        if added or removed:
            self._membership_changed(added, removed, now)

    def pick(self) -> Node | None:
        """The node for the next request; ``None`` only when there are no nodes."""
        raise NotImplementedError

    def acquired(self, node: Node) -> Any:
        """A request starts on ``node``; returns the token for :meth:`released`.

        :param node: a node returned by :meth:`pick`.
        """
        node.pending += 1
        return None

    def released(self, node: Node, token: Any) -> None:
        """The request started by :meth:`acquired` ended (any outcome).

        :param node: the node passed to :meth:`acquired`.
        :param token: what :meth:`acquired` returned.
        """
        node.pending -= 1

    def stats(self) -> dict[str, float]:
        """Finagle's balancer stats (see the class docstring), counters as totals."""
        now = self._now()
        counts = [0, 0, 0]
        load = 0
        for node in self._nodes:
            counts[node.status(now)] += 1
            load += node.pending
        stats = {"size": float(len(self._nodes)), "available": float(counts[OPEN]),
                 "busy": float(counts[BUSY]), "closed": float(counts[CLOSED]),
                 "load": float(load)}
        stats.update(self._plain_stats())
        return stats

    def stat(self, name: str) -> float:
        """One of :meth:`stats` (0 for a name it does not have): a gauge read alone looks
        at the nodes only for what is counted over them, and only once."""
        if name == "load":
            return float(sum(node.pending for node in self._nodes))
        status = _COUNTED.get(name)
        if status is not None:
            now = self._now()
            return float(sum(node.status(now) == status for node in self._nodes))
        if name == "size":
            return float(len(self._nodes))
        return self._plain_stats().get(name, 0.0)

    def _plain_stats(self) -> dict[str, float]:
        """The stats read without looking at the nodes (kinds add theirs)."""
        return {
            "adds": float(self._adds),
            "removes": float(self._removes),
            "updates": float(self._updates),
            "algorithm/" + ALGORITHMS[self.kind]: 1.0,
        }

    def _new_node(self, key: Hashable, endpoint: Any, health: Any, now: float) -> Node:
        """A fresh node for a new key (kinds add their metric or token)."""
        return Node(key, endpoint, health)

    def _membership_changed(self, added: list[Node], removed: list[Node], now: float) -> None:
        """Nodes were added or removed by an update; ``self._nodes`` holds the new set."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r} size={len(self._nodes)}>"


class FrameBalancer(Balancer):
    """Finagle's ``Balancer`` frame: a distributor, maxEffort picks, fail open, rebuilds.

    Subclasses provide ``_pick_one(now)`` (one distributor pick, ``None`` when
    empty), ``_build(now)`` (a new distributor from ``self._nodes``) and, when
    they can need a rebuild after a pick, set ``self._watch`` and implement
    ``_needs_rebuild(now)``. ``_rebuild(now)`` rebuilds on maxEffort exhaustion
    and returns whether the distributor was replaced (p2c never replaces it).
    """

    _watch = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rebuilds = 0
        self._max_effort_exhausted = 0
        self._build(self._now())

    def pick(self) -> Node | None:
        now = self._now()
        node = self._pick_one(now)
        if node is None:
            return None
        health = node.health
        if health is not None and health.status(now) != OPEN:
            return self._pick_with_effort(now)
        if self._watch and self._needs_rebuild(now):
            self._rebuilds += 1
            self._build(now)
        return node

    def _pick_with_effort(self, now: float) -> Node:
        """The first pick was not ``OPEN``: the remaining tries, then fail open."""
        pick_one = self._pick_one
        for _ in range(self._max_effort - 1):
            node = pick_one(now)
            if node.status(now) == OPEN:
                break
        else:
            self._max_effort_exhausted += 1
            if self._rebuild(now):
                self._rebuilds += 1
                return self._pick_one(now)  # a fresh distributor: no rebuild check
            node = pick_one(now)
        if self._watch and self._needs_rebuild(now):
            self._rebuilds += 1
            self._build(now)
        return node

    def _plain_stats(self) -> dict[str, float]:
        stats = super()._plain_stats()
        stats["rebuilds"] = float(self._rebuilds)
        stats["max_effort_exhausted"] = float(self._max_effort_exhausted)
        return stats

    def _membership_changed(self, added: list[Node], removed: list[Node], now: float) -> None:
        self._rebuilds += 1
        self._build(now)

    def _rebuild(self, now: float) -> bool:
        self._build(now)
        return True

    def _pick_one(self, now: float) -> Node | None:
        raise NotImplementedError

    def _build(self, now: float) -> None:
        raise NotImplementedError

    def _needs_rebuild(self, now: float) -> bool:
        return False
