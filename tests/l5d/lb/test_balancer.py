"""l5d.lb.balancer: kinds, validation, updates that keep node state, the pick frame, stats."""

from __future__ import annotations

import random
from typing import Any

import pytest

import l5d.lb as lb
from l5d.lb import BUSY, CLOSED, KINDS, OPEN, Balancer, Node, PeakEwma
from l5d.lb.aperture import ApertureBalancer
from l5d.lb.heap import HeapBalancer
from l5d.lb.p2c import P2CBalancer, PeakEwmaBalancer
from l5d.lb.roundrobin import RoundRobinBalancer
from tests.l5d.lb._fakes import ListClock, Tracker, make

FRAME_KINDS = ("p2c", "ewma", "aperture", "roundRobin")


def endpoints(*keys: Any, tag: str = "ep") -> list[tuple[Any, str]]:
    return [(k, f"{tag}{k}") for k in keys]


class KindTests:
    """Balancer(kind) hands back the kind's subclass; the package exports the interface."""

    CASES = [
        ("p2c", P2CBalancer),
        ("ewma", PeakEwmaBalancer),
        ("aperture", ApertureBalancer),
        ("heap", HeapBalancer),
        ("roundRobin", RoundRobinBalancer),
    ]

    @pytest.mark.parametrize("kind, cls", CASES, ids=[c[0] for c in CASES])
    def test_kind_selects_the_class(self, kind: str, cls: type) -> None:
        """Each Linkerd kind id gives its class, still a Balancer."""
        bal = Balancer(kind, rng=random.Random(1), now=ListClock())
        assert type(bal) is cls
        assert isinstance(bal, Balancer)
        assert bal.kind == kind

    def test_default_kind_is_p2c(self) -> None:
        """Linkerd's default balancer is p2c."""
        assert type(Balancer(rng=random.Random(1), now=ListClock())) is P2CBalancer

    def test_exports(self) -> None:
        """The package exports the public names and the status order."""
        assert set(lb.__all__) == {"OPEN", "BUSY", "CLOSED", "Balancer", "Node", "PeakEwma",
                                   "KINDS"}
        assert KINDS == ("p2c", "ewma", "aperture", "heap", "roundRobin")
        assert (OPEN, BUSY, CLOSED) == (0, 1, 2)
        assert lb.PeakEwma is PeakEwma

    INVALID = [
        ({"kind": "leastLoaded"}, "kind must be one of .*'leastLoaded'"),
        ({"max_effort": 0}, "max_effort must be an int >= 1, got 0"),
        ({"max_effort": 2.5}, "max_effort must be an int >= 1, got 2.5"),
        ({"decay_s": 0.0}, "decay_s must be > 0, got 0.0"),
        ({"decay_s": -1}, "decay_s must be > 0, got -1"),
        ({"min_aperture": 0}, "min_aperture must be an int >= 1, got 0"),
        ({"low_load": -0.1}, "low_load must be >= 0, got -0.1"),
        ({"low_load": 2.0, "high_load": 2.0},
         r"high_load must be greater than low_load \(2.0\), got 2.0"),
        ({"low_load": 1.0, "high_load": 0.5},
         r"high_load must be greater than low_load \(1.0\), got 0.5"),
        ({"smooth_window_s": -1.0}, "smooth_window_s must be >= 0, got -1.0"),
    ]

    @pytest.mark.parametrize("kwargs, message", INVALID, ids=[m[:24] for _, m in INVALID])
    @pytest.mark.parametrize("kind", KINDS)
    def test_invalid_parameters_name_the_value(self, kind: str, kwargs: dict, message: str) -> None:
        """Every kind validates every parameter, with the bad value in the message."""
        kwargs = {"kind": kind, **kwargs}
        with pytest.raises(ValueError, match=message):
            Balancer(rng=random.Random(1), now=ListClock(), **kwargs)

    def test_valid_edges_are_accepted(self) -> None:
        """low_load 0, smooth window 0, maxEffort 1 and minAperture 1 are allowed."""
        Balancer("aperture", rng=random.Random(1), now=ListClock(), low_load=0.0,
                 high_load=0.1, smooth_window_s=0.0, max_effort=1, min_aperture=1)


class UpdateTests:
    """update: staying keys keep their node and state; counters; releases after removal."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_staying_keys_keep_their_state_and_get_the_new_endpoint(self, kind: str) -> None:
        """pending, EWMA metric, aperture token and health survive; the endpoint is replaced."""
        bal, healths, clock = make(kind, 3)
        a, b, c = bal.nodes
        token = bal.acquired(b)
        ewma, aperture_token, health = b.ewma, b.token, b.health
        bal.update(endpoints(2, 1, 3, tag="new"))
        assert [n.key for n in bal.nodes] == [2, 1, 3]
        assert bal.nodes[1] is b
        assert bal.nodes[0] is c
        assert b.pending == 1
        assert (b.ewma, b.token, b.health) == (ewma, aperture_token, health)
        assert [n.endpoint for n in bal.nodes] == ["new2", "new1", "new3"]
        assert bal.nodes[2] is not a
        assert bal.nodes[2].pending == 0
        bal.released(b, token)
        assert b.pending == 0

    @pytest.mark.parametrize("kind", KINDS)
    def test_counters(self, kind: str) -> None:
        """updates counts calls; adds/removes count nodes; rebuilds only on membership change."""
        bal, _, _ = make(kind)
        steps = [
            # (keys, adds, removes, updates, rebuilds)
            ((0, 1, 2), 3, 0, 1, 1),
            ((0, 1, 2), 3, 0, 2, 1),  # same set: no rebuild
            ((2, 1, 0), 3, 0, 3, 1),  # reordered: no rebuild
            ((1, 2, 3, 4), 5, 1, 4, 2),
            ((), 5, 5, 5, 3),
        ]
        for keys, adds, removes, updates, rebuilds in steps:
            bal.update(endpoints(*keys))
            stats = bal.stats()
            assert (stats["adds"], stats["removes"], stats["updates"]) == (adds, removes, updates)
            assert stats["size"] == len(keys)
            if kind != "heap":
                assert stats["rebuilds"] == rebuilds, keys

    @pytest.mark.parametrize("kind", KINDS)
    def test_duplicate_keys_are_rejected_without_change(self, kind: str) -> None:
        """A key twice is a ValueError naming it, and the balancer is left as it was."""
        bal, _, _ = make(kind, 2)
        before = bal.nodes
        with pytest.raises(ValueError, match="distinct, got 7 twice"):
            bal.update([(7, "a"), (0, "b"), (7, "c")])
        assert bal.nodes == before
        assert [n.endpoint for n in bal.nodes] == ["ep0", "ep1"]
        assert bal.stats()["updates"] == 1

    @pytest.mark.parametrize("kind", KINDS)
    def test_release_after_removal_is_harmless(self, kind: str) -> None:
        """A request out on a removed node ends without error and without touching the new set."""
        bal, _, clock = make(kind, 4)
        tracker = Tracker(bal)
        requests = [tracker.start() for _ in range(8)]
        gone = requests[0][0]
        bal.update(endpoints(*(k for k in range(4) if k != gone.key), 9))
        assert gone not in bal.nodes
        pending = {n.key: n.pending for n in bal.nodes}
        load = bal.stats()["load"]
        clock.advance(0.5)
        for request in requests:
            if request[0] is gone:
                tracker.end(request)
        assert gone.pending == 0
        assert {n.key: n.pending for n in bal.nodes} == pending
        assert bal.stats()["load"] == load
        for _ in range(50):  # the new set still works, and never yields the removed node
            node = bal.pick()
            assert node is not gone and node in bal.nodes
            bal.released(node, bal.acquired(node))
        bal.update(endpoints(*(n.key for n in bal.nodes), gone.key))
        assert bal.nodes[-1] is not gone and bal.nodes[-1].pending == 0

    def test_health_factory_is_called_once_per_new_node(self) -> None:
        """health(key) gives the node's status source when the key first appears."""
        calls: list[Any] = []

        def health(key: Any) -> None:
            calls.append(key)
            return None

        bal = Balancer("p2c", rng=random.Random(1), now=ListClock(), health=health)
        bal.update(endpoints(1, 2))
        bal.update(endpoints(2, 3))
        assert calls == [1, 2, 3]
        assert all(n.health is None and n.status(0.0) == OPEN for n in bal.nodes)


class PickFrameTests:
    """maxEffort, fail open, and BUSY avoided, for the kinds built on the frame."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_empty_gives_none(self, kind: str) -> None:
        """No nodes (never, or after an update to nothing): pick is None."""
        bal, _, _ = make(kind)
        assert bal.pick() is None
        bal.update(endpoints(1))
        assert bal.pick().key == 1
        bal.update([])
        assert bal.pick() is None

    @pytest.mark.parametrize("status", [BUSY, CLOSED])
    @pytest.mark.parametrize("kind", KINDS)
    def test_all_unavailable_fails_open(self, kind: str, status: int) -> None:
        """Every node BUSY or CLOSED: picks still return nodes; the frame counts exhaustion."""
        bal, healths, _ = make(kind, 4)
        for h in healths.values():
            h.value = status
        tracker = Tracker(bal)
        tracker.hold(40)
        assert sum(tracker.total.values()) == 40
        if kind != "heap":
            assert bal.stats()["max_effort_exhausted"] == 40
            # p2c's distributor never changes; the others rebuild on every exhaustion
            rebuilds = 1 if kind in ("p2c", "ewma") else 1 + 40
            assert bal.stats()["rebuilds"] == rebuilds

    @pytest.mark.parametrize("kind", KINDS)
    def test_a_busy_node_is_avoided(self, kind: str) -> None:
        """One BUSY node among four gets nothing while the others are OPEN."""
        bal, healths, _ = make(kind, 4, min_aperture=4)
        healths[2].value = BUSY
        tracker = Tracker(bal)
        tracker.hold(400)
        assert 2 not in tracker.total
        assert len(tracker.total) == 3
        if kind != "heap":
            assert bal.stats()["max_effort_exhausted"] == 0

    def test_max_effort_tries_then_rebuilds_and_picks_once_more(self) -> None:
        """All CLOSED: one pick draws maxEffort tries + 1 fail-open pick (2 random each)."""
        calls = []

        class CountingRandom(random.Random):
            def random(self) -> float:
                calls.append(1)
                return super().random()

        for max_effort in (1, 3, 5):
            calls.clear()
            bal = Balancer("p2c", rng=CountingRandom(1), now=ListClock(), max_effort=max_effort,
                           health=lambda key: _Closed())
            bal.update(endpoints(1, 2, 3))
            bal.pick()
            assert len(calls) == 2 * (max_effort + 1), max_effort


class _Closed:
    def status(self, now: float) -> int:
        return CLOSED


class StatsTests:
    """stats(): Finagle's names and values (P2CLeastLoadedTest "Stats")."""

    def test_p2c_stats_vector(self) -> None:
        """Empty; one node; two; node 0 Closed; R held requests all on node 1; released."""
        bal, healths, _ = make("p2c")
        keys = ("size", "available", "load", "adds", "removes")
        assert [bal.stats()[k] for k in keys] == [0, 0, 0, 0, 0]
        bal.update(endpoints(0))
        assert [bal.stats()[k] for k in keys] == [1, 1, 0, 1, 0]
        bal.update(endpoints(1, 0))
        assert [bal.stats()[k] for k in keys] == [2, 2, 0, 2, 0]
        healths[0].value = CLOSED
        assert bal.stats()["available"] == 1
        assert bal.stats()["closed"] == 1
        tracker = Tracker(bal)
        tracker.hold(10_000)
        assert bal.stats()["load"] == 10_000
        assert tracker.total == {1: 10_000}
        for request in tracker.held:
            tracker.end(request)
        assert bal.stats()["load"] == 0

    def test_status_gauges(self) -> None:
        """available, busy and closed count the nodes' statuses now."""
        bal, healths, _ = make("p2c", 6)
        healths[0].value = BUSY
        healths[1].value = CLOSED
        healths[2].value = CLOSED
        stats = bal.stats()
        assert (stats["available"], stats["busy"], stats["closed"]) == (3, 1, 2)

    COMMON = {"size", "available", "busy", "closed", "load", "adds", "removes", "updates"}
    FRAME = COMMON | {"rebuilds", "max_effort_exhausted"}
    KEYS = [
        ("p2c", FRAME | {"algorithm/p2c_least_loaded"}),
        ("ewma", FRAME | {"algorithm/p2c_peak_ewma"}),
        ("aperture", FRAME | {"algorithm/aperture_least_loaded", "logical_aperture",
                              "physical_aperture", "loadband/widen", "loadband/narrow",
                              "loadband/offered_load_ema"}),
        ("heap", COMMON | {"algorithm/heap_least_loaded"}),
        ("roundRobin", FRAME | {"algorithm/round_robin"}),
    ]

    @pytest.mark.parametrize("kind, keys", KEYS, ids=[k[0] for k in KEYS])
    def test_keys_per_kind(self, kind: str, keys: set[str]) -> None:
        """Each kind reports its Finagle stats, empty or not, all as floats."""
        for n in (0, 3):
            stats = make(kind, n)[0].stats()
            assert set(stats) == keys
            assert all(type(v) is float for v in stats.values())
            assert stats["algorithm/" + next(k for k in keys if k.startswith("algorithm/"))
                         .split("/")[1]] == 1.0


    @pytest.mark.parametrize("kind, keys", KEYS, ids=[k[0] for k in KEYS])
    def test_stat_reads_one_value_as_stats_does(self, kind: str, keys: set[str]) -> None:
        """stat(name), what each gauge reads, is stats()[name] (0 for an unknown name),
        with nodes of every status and requests held."""
        bal, healths, _ = make(kind, 6)
        healths[0].value = BUSY
        healths[1].value = CLOSED
        Tracker(bal).hold(7)
        stats = bal.stats()
        assert {name: bal.stat(name) for name in keys} == stats
        assert all(type(bal.stat(name)) is float for name in keys)
        assert stats["load"] == 7 and (stats["busy"], stats["closed"]) == (1, 1)
        assert bal.stat("no/such") == 0.0


class NodeTests:
    """Node: status from its health, OPEN without one."""

    def test_status(self) -> None:
        """No health is OPEN; a health's status is passed through with now."""
        seen = []

        class H:
            def status(self, now: float) -> int:
                seen.append(now)
                return BUSY

        assert Node("k", None).status(1.0) == OPEN
        assert Node("k", None, H()).status(2.5) == BUSY
        assert seen == [2.5]
        assert repr(Node(("10.0.0.1", 80), None)) == "Node(('10.0.0.1', 80), pending=0)"
