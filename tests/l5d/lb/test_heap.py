"""l5d.lb.heap: Finagle HeapLeastLoadedTest (spec 1.6, 1.8) and the heap invariant."""

from __future__ import annotations

import random
from typing import Any

from l5d.lb import CLOSED, OPEN
from l5d.lb.heap import ZERO, HeapBalancer
from tests.l5d.lb._fakes import Tracker, make

N = 10


def ctx(n: int = N, **kwargs: Any) -> tuple[HeapBalancer, dict, Tracker]:
    bal, healths, _ = make("heap", n, **kwargs)
    return bal, healths, Tracker(bal)


def loads(tracker: Tracker, keys: Any) -> list[int]:
    return [tracker.load.get(k, 0) for k in keys]


def check_heap(bal: HeapBalancer) -> None:
    """Every node at its index, every parent no heavier than its children."""
    heap = bal._heap
    assert sorted(n.key for n in heap[1:]) == sorted(n.key for n in bal.nodes)
    for i in range(1, len(heap)):
        assert heap[i]._heap_index == i
        if i > 1:
            assert heap[i >> 1]._heap_load <= heap[i]._heap_load, (i, heap)


class HeapLeastLoadedTests:
    """Strict least loaded; down nodes below every healthy one; even spread when all are down."""

    def test_least_loaded(self) -> None:
        """N picks load every node once, N more twice; a release makes that node next."""
        bal, _, tracker = ctx()
        tracker.hold(N)
        assert loads(tracker, range(N)) == [1] * N
        tracker.hold(N)
        assert loads(tracker, range(N)) == [2] * N
        first = tracker.held.pop(0)
        tracker.end(first)
        assert bal.pick() is first[0]

    def test_picks_only_healthy_nodes(self) -> None:
        """Two nodes Closed after N picks: 2*(N-2) more leave them at 1, the rest at 3."""
        bal, healths, tracker = ctx()
        tracker.hold(N)
        healths[0].value = CLOSED
        healths[1].value = CLOSED
        tracker.hold(2 * (N - 2))
        assert loads(tracker, range(N)) == [1, 1] + [3] * (N - 2)

    def test_dynamic_groups(self) -> None:
        """A new node (load 0) takes the next two picks; once removed it gets no more."""
        bal, _, tracker = ctx()
        tracker.hold(2 * N)
        bal.update([(i, f"ep{i}") for i in range(N + 1)])
        tracker.hold(2)
        assert tracker.load[N] == 2
        bal.update([(i, f"ep{i}") for i in range(N)])
        tracker.hold(N)
        assert loads(tracker, range(N)) == [3] * N
        assert tracker.load[N] == 2

    def test_remove_a_node_before_releasing_it(self) -> None:
        """Releasing requests on a removed node changes nothing in the heap."""
        bal, _, tracker = ctx()
        tracker.hold(N)
        bal.update([(i, f"ep{i}") for i in range(N + 1)])
        tracker.hold(1)
        assert tracker.held[-1][0].key == N
        tracker.hold(N + 1)
        assert tracker.load[N] == 2
        bal.update([(i, f"ep{i}") for i in range(N)])
        heap = list(bal._heap)
        tracker.release_key(N)  # one release not idle, one idle
        check_heap(bal)
        assert bal._heap == heap
        assert bal.stats()["load"] == 2 * N

    def test_stats(self) -> None:
        """load, available and size gauges; adds and removes counters."""
        bal, _, tracker = ctx()

        def gauges() -> tuple:
            s = bal.stats()
            return s["load"], s["available"], s["size"]

        assert gauges() == (0, 10, 10)
        tracker.hold(N)
        assert gauges() == (10, 10, 10)
        tracker.hold(N)
        assert gauges() == (20, 10, 10)
        bal.update([(i, f"ep{i}") for i in range(N + 1)])
        tracker.hold(1)
        assert gauges()[1:] == (11, 11)
        assert bal.stats()["adds"] == 11
        bal.update([(i, f"ep{i}") for i in range(N)])
        tracker.hold(1)
        assert gauges()[1:] == (10, 10)
        assert (bal.stats()["adds"], bal.stats()["removes"]) == (11, 1)

    def test_balances_evenly_when_every_node_is_down(self) -> None:
        """All Closed: 100*N more picks leave every node at 101."""
        bal, healths, tracker = ctx()
        tracker.hold(N)
        for h in healths.values():
            h.value = CLOSED
        tracker.hold(100 * N)
        assert loads(tracker, range(N)) == [101] * N

    def test_spreads_sequential_requests_over_idle_nodes(self) -> None:
        """Pick, start, end, repeated over 2 idle nodes: ties are broken at random."""
        bal, _, tracker = ctx(2)
        for _ in range(1000):
            tracker.end(tracker.start())
        assert all(400 < tracker.total[k] < 600 for k in (0, 1)), tracker.total

    def test_ties_are_broken_by_the_rng(self) -> None:
        """Sequential requests over 5 idle nodes: the order depends on the seed, and
        every node is used."""
        orders = []
        for seed in (1, 2):
            bal, _, tracker = ctx(5, seed=seed)
            order = []
            for _ in range(50):
                request = tracker.start()
                order.append(request[0].key)
                tracker.end(request)
            assert set(order) == set(range(5))
            orders.append(order)
        assert orders[0] != orders[1]

    def test_recovers_a_node_that_is_open_again(self) -> None:
        """After all were down, the one reopened node takes every pick."""
        bal, healths, tracker = ctx()
        tracker.hold(N)
        for h in healths.values():
            h.value = CLOSED
        tracker.hold(100 * N)
        healths[0].value = OPEN
        for _ in range(100):
            assert bal.pick().key == 0
            tracker.hold(1)
        assert loads(tracker, range(N)) == [201] + [101] * (N - 1)

    def test_removes_a_node_that_was_down(self) -> None:
        """A down node reopened and removed at once stays out."""
        bal, healths, tracker = ctx()
        tracker.hold(N)
        healths[1].value = CLOSED
        tracker.hold(N)
        assert tracker.load[1] == 1
        healths[1].value = OPEN
        bal.update([(i, f"ep{i}") for i in range(N) if i != 1])
        tracker.hold(N)
        assert tracker.load[1] == 1
        check_heap(bal)

    def test_available_follows_health(self) -> None:
        """available counts OPEN nodes as they go down and come back."""
        bal, healths, tracker = ctx()
        tracker.hold(N)
        healths[1].value = CLOSED
        healths[2].value = CLOSED
        tracker.hold(N)
        assert (bal.stats()["size"], bal.stats()["available"]) == (N, N - 2)
        healths[1].value = OPEN
        healths[2].value = OPEN
        tracker.hold(N)
        assert (bal.stats()["size"], bal.stats()["available"]) == (N, N)

    def test_two_unhealthy_nodes(self) -> None:
        """Both down: 502 each; one back: it takes 1000; the other alone takes the next 1000."""
        bal, healths, tracker = ctx(2)
        tracker.hold(4)
        healths[0].value = CLOSED
        healths[1].value = CLOSED
        tracker.hold(1000)
        assert loads(tracker, (0, 1)) == [502, 502]
        healths[1].value = OPEN
        tracker.hold(1000)
        assert loads(tracker, (0, 1)) == [502, 1502]
        bal.update([(0, "ep0")])
        tracker.hold(1000)
        assert loads(tracker, (0, 1)) == [1502, 1502]


class HeapInvariantTests:
    """Random picks, starts, ends, health flips and updates keep the heap a heap."""

    def test_random_operations(self) -> None:
        """2,000 seeded random operations; the invariant is checked after each one."""
        rng = random.Random(1234)
        bal, healths, tracker = ctx(20)
        keys = list(range(20))
        out: list = []
        for _ in range(2000):
            op = rng.random()
            if op < 0.4:
                out.append(tracker.start())
            elif op < 0.75 and out:
                tracker.end(out.pop(rng.randrange(len(out))))
            elif op < 0.85:
                key = rng.choice(list(healths))
                healths[key].value = rng.choice((OPEN, OPEN, CLOSED))
            elif op < 0.95:
                keys = sorted(rng.sample(range(40), rng.randrange(1, 25)))
                bal.update([(k, f"ep{k}") for k in keys])
            else:
                bal.pick()
            check_heap(bal)
            for node in bal.nodes:
                down = node._heap_load >= 0
                assert node._heap_load - (2**31 - 1 if down else 0) == ZERO + node.pending
