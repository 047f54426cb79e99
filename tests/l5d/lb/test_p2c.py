"""l5d.lb.p2c: the hole trick, P2CLeastLoadedTest and P2CPeakEwmaTest (spec 1.2-1.4, 1.8)."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from typing import Any

import pytest

from l5d.lb import BUSY, CLOSED, OPEN, Node
from l5d.lb.ewma import PeakEwma
from l5d.lb.p2c import pick_least_loaded, pick_peak_ewma
from tests.l5d.lb._fakes import ListClock, Tracker, assert_even, make

N = 100  # nodes
R = 100_000  # requests
EPS = 0.0001 * R  # Finagle's tolerance on mean load


class Recording:
    """A health that logs which node's status was asked for."""

    def __init__(self, key: int, log: list[int], value: int = OPEN) -> None:
        self.key, self.log, self.value = key, log, value

    def status(self, now: float) -> int:
        self.log.append(self.key)
        return self.value


class Scripted:
    """A ``random()`` that returns the given values in turn."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def nodes(n: int, log: list[int] | None = None) -> list[Node]:
    return [Node(i, None, None if log is None else Recording(i, log)) for i in range(n)]


def draws(a: int, b: int, n: int) -> list[float]:
    """The two random() values that make the pick draw index a, then b from [0, n-1)."""
    return [(a + 0.5) / n, (b + 0.5) / (n - 1)]


class HoleTrickTests:
    """Two distinct indices, uniform over the n*(n-1) ordered pairs."""

    def test_every_draw_maps_to_a_distinct_ordered_pair(self) -> None:
        """For n = 3 the 3*2 draws (a, b) give the 6 ordered pairs once each."""
        log: list[int] = []
        vec = nodes(3, log)
        for a in range(3):
            for b in range(2):
                pick_least_loaded(vec, 3, Scripted(draws(a, b, 3)), 0.0)
        pairs = [(log[i], log[i + 1]) for i in range(0, len(log), 2)]
        assert sorted(pairs) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]

    def test_ordered_pairs_are_uniform_with_a_real_rng(self) -> None:
        """60,000 seeded picks over 3 equal nodes: each pair ~1/6, each node ~1/3."""
        log: list[int] = []
        vec = nodes(3, log)
        rng = random.Random(12345)
        n = 60_000
        won = Counter(pick_least_loaded(vec, 3, rng.random, 0.0).key for _ in range(n))
        pairs = Counter((log[i], log[i + 1]) for i in range(0, len(log), 2))
        assert set(pairs) == {(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)}
        for pair, count in pairs.items():
            assert abs(count / n - 1 / 6) < 0.006, (pair, count)
        for key, count in won.items():
            assert abs(count / n - 1 / 3) < 0.008, (key, count)

    CASES = [
        # (name, (status, pending) of the first draw, of the second, winner)
        ("less loaded second", (OPEN, 3), (OPEN, 1), 1),
        ("less loaded first", (OPEN, 1), (OPEN, 3), 0),
        ("tie goes to the first draw", (OPEN, 2), (OPEN, 2), 0),
        ("open beats busy despite load", (OPEN, 9), (BUSY, 0), 0),
        ("busy beats closed despite load", (CLOSED, 0), (BUSY, 9), 1),
        ("both closed: least loaded", (CLOSED, 4), (CLOSED, 2), 1),
    ]

    @pytest.mark.parametrize("name, first, second, winner", CASES, ids=[c[0] for c in CASES])
    def test_healthier_then_less_loaded(self, name: str, first: tuple[int, int],
                                        second: tuple[int, int], winner: int) -> None:
        """Status decides first (lower is healthier), then pending; ties to the first draw."""
        log: list[int] = []
        vec = nodes(2, log)
        for node, (status, pending) in zip(vec, (first, second)):
            node.health.value = status
            node.pending = pending
        assert pick_least_loaded(vec, 2, Scripted(draws(0, 0, 2)), 0.0) is vec[winner], name

    def test_trivial_vectors(self) -> None:
        """Empty gives None; one node or bound 1 gives the head without drawing."""
        no_random = Scripted([])
        assert pick_least_loaded([], 0, no_random, 0.0) is None
        vec = nodes(5)
        assert pick_least_loaded(vec[:1], 1, no_random, 0.0) is vec[0]
        assert pick_least_loaded(vec, 1, no_random, 0.0) is vec[0]
        assert pick_peak_ewma([], 0, no_random, 0.0) is None

    def test_bound_limits_the_draws(self) -> None:
        """With bound 2 over 5 nodes only the first two are ever drawn."""
        log: list[int] = []
        vec = nodes(5, log)
        rng = random.Random(1)
        for _ in range(2000):
            pick_least_loaded(vec, 2, rng.random, 0.0)
        assert set(log) == {0, 1}

    def test_peak_ewma_compares_ewma_loads(self) -> None:
        """The lower cost*(pending+1) wins, whatever the pending counts alone say."""
        vec = nodes(2)
        for node, (cost, pending) in zip(vec, ((0.375, 0), (0.125, 2))):
            node.ewma = PeakEwma(10.0, now=0.0)
            node.ewma.observe(cost, now=0.0)
            node.pending = pending
        # loads 0.375 vs 0.375: a tie goes to the first draw; then 0.375 vs 0.25
        assert pick_peak_ewma(vec, 2, Scripted(draws(1, 0, 2)), 0.0) is vec[1]
        assert pick_peak_ewma(vec, 2, Scripted(draws(0, 0, 2)), 0.0) is vec[0]
        vec[1].pending = 1
        assert pick_peak_ewma(vec, 2, Scripted(draws(0, 0, 2)), 0.0) is vec[1]


class P2CLeastLoadedTests:
    """Finagle P2CLeastLoadedTest: N = 100, R = 100,000, seed 12345, maxEffort 5."""

    def test_balances_evenly(self) -> None:
        """R held requests: every node's mean load within eps of the others."""
        bal, _, _ = make("p2c", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        assert_even(tracker, range(N), EPS)
        # two choices keep the spread at O(log log n); one random choice would give ~+-100
        assert max(tracker.load.values()) - min(tracker.load.values()) <= 8

    def test_balances_evenly_when_load_varies(self) -> None:
        """Starts and ends of random requests interleaved around 5 per node: still even.

        (Finagle's version keeps about one request outstanding in all, where its
        tolerance cannot fail; here the spread of the current loads shows it.)
        """
        bal, _, _ = make("p2c", N)
        tracker = Tracker(bal)
        rng = random.Random(12345)
        out = [tracker.start() for _ in range(5 * N)]
        for _ in range(R // 2):
            if rng.random() < 0.5:
                out.append(tracker.start())
            elif out:
                i = rng.randrange(len(out))
                out[i], out[-1] = out[-1], out[i]
                tracker.end(out.pop())
        assert_even(tracker, range(N), EPS)
        loads = [tracker.load.get(k, 0) for k in range(N)]
        # one random choice spreads them ~Poisson: a deviation of ~sqrt(5) = 2.2 or more
        assert statistics.pstdev(loads) < 1.7, loads

    def test_skips_a_closed_node_and_revives_it(self) -> None:
        """A Closed node gets no picks; reopened and idle it gets ~2R/N of the next R."""
        bal, healths, _ = make("p2c", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        before = tracker.total[0]
        healths[0].value = CLOSED
        tracker.hold(R)
        assert tracker.total[0] == before
        assert_even(tracker, range(1, N), EPS)

        tracker.release_key(0)
        tracker.hold(R)
        assert tracker.load[0] == 0
        healths[0].value = OPEN
        before = tracker.total[0]
        tracker.hold(R)
        assert abs((tracker.total[0] - before) - 2 * R / N) < 6 * EPS

    def test_all_closed_fails_open_and_stays_even(self) -> None:
        """Every node Closed: every pick still returns a node, evenly; each one exhausts."""
        bal, healths, _ = make("p2c", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        load0 = tracker.load[0]
        for h in healths.values():
            h.value = CLOSED
        tracker.hold(R)
        assert_even(tracker, range(N), EPS)
        assert abs(2 * load0 - tracker.load[0]) < EPS
        assert bal.stats()["max_effort_exhausted"] == R

    def test_half_closed_gets_at_most_a_tenth_of_a_percent(self) -> None:
        """Half the nodes Closed: the closed half gets <= R*0.001 picks (~0.25**5 per pick)."""
        bal, healths, _ = make("p2c", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        before = sum(tracker.total[k] for k in range(N // 2))
        for k in range(N // 2):
            healths[k].value = CLOSED
        tracker.hold(R)
        after = sum(tracker.total[k] for k in range(N // 2))
        assert after - before <= R * 0.001
        assert 0 < bal.stats()["max_effort_exhausted"] <= R * 0.001

    def test_max_effort_one_tries_once_then_fails_open(self) -> None:
        """maxEffort 1: one try, then the fail-open pick: ~((50/100)*(49/99))**2 of the picks."""
        bal, healths, _ = make("p2c", N, max_effort=1)
        for k in range(N // 2):
            healths[k].value = CLOSED
        tracker = Tracker(bal)
        tracker.hold(20_000)
        closed = sum(tracker.total.get(k, 0) for k in range(N // 2))
        assert abs(closed / 20_000 - 0.2475**2) < 0.01

    def test_dynamically_incorporates_updates(self) -> None:
        """An added node catches up with the rest; a removed one gets nothing more."""
        bal, healths, _ = make("p2c", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        bal.update([(i, f"ep{i}") for i in range(N + 1)])
        tracker.hold(R)
        assert abs(tracker.load[0] - tracker.load[N]) < EPS
        load0 = tracker.load[0]
        bal.update([(i, f"ep{i}") for i in range(1, N + 1)])
        tracker.hold(R)
        assert tracker.load[0] == load0

    def test_empty_returns_none(self) -> None:
        """No nodes: pick is None (the caller answers NoBrokersAvailable); one node: all of R."""
        bal, _, _ = make("p2c")
        assert bal.pick() is None
        bal.update([(0, "ep0")])
        tracker = Tracker(bal)
        tracker.hold(1000)
        assert tracker.total == {0: 1000}
        bal.update([])
        assert bal.pick() is None


def simulate(latencies: list[int], steps: int) -> Tracker:
    """Finagle P2CPeakEwmaTest.run: one request per tick, each held for its latency in ticks.

    decayTime 150 ticks; the virtual clock advances 1 per step; requests due at a
    step are released at that step.
    """
    clock = ListClock()
    bal, _, _ = make("ewma", clock=clock, decay_s=150.0, health=None)
    bal.update([(i, None) for i in range(len(latencies))])
    tracker = Tracker(bal)
    schedule: dict[int, list[Any]] = defaultdict(list)
    step = 0
    while step < steps or schedule:
        if step < steps:
            request = tracker.start()
            schedule[step + latencies[request[0].key]].append(request)
        for request in schedule.pop(step, ()):
            tracker.end(request)
        clock.advance(1.0)
        step += 1
    return tracker


class P2CPeakEwmaTests:
    """Finagle P2CPeakEwmaTest on a virtual clock (eps = 0.0005 R)."""

    def test_balances_evenly_across_identical_nodes(self) -> None:
        """100 nodes of latency 5: mean loads even, and request counts tighter than chance.

        (At this concurrency every mean load is ~0.5, so Finagle's tolerance cannot
        fail; one random choice per request gives a standard deviation of the counts
        of ~sqrt(1000) = 31.)
        """
        tracker = simulate([5] * N, R)
        assert_even(tracker, range(N), 0.0005 * R)
        assert statistics.pstdev(tracker.total.values()) < 24

    def test_probes_a_node_without_history_at_most_once(self) -> None:
        """A node of latency 2R next to 100 of latency 1 gets exactly one request in R steps."""
        tracker = simulate([1] * N + [2 * R], R)
        assert tracker.total[N] == 1
        assert_even(tracker, range(N), 0.0005 * R)

    def test_twice_the_latency_gets_about_half_the_requests(self) -> None:
        """A node of latency 10 next to 100 of latency 5 gets ~half their request count."""
        tracker = simulate([5] * N + [10], R)
        others = sum(tracker.total[k] for k in range(N)) / N
        assert 0.4 < tracker.total[N] / others < 0.6
        assert tracker.mean_load(0) - 2 * tracker.mean_load(N) < 0.0005 * R

    def test_rtt_is_measured_from_acquired_to_released(self) -> None:
        """The token is the start time; the node's cost becomes the elapsed time."""
        clock = ListClock(100.0)
        bal, _, _ = make("ewma", 1, clock=clock)
        node = bal.pick()
        token = bal.acquired(node)
        assert node.pending == 1
        clock.advance(0.25)
        bal.released(node, token)
        assert node.pending == 0
        assert node.ewma.cost == 0.25


class RedrawTests:
    """l5d's departure from Finagle: a mixed pair re-draws its less healthy node."""

    @pytest.mark.parametrize("pick", [pick_least_loaded, pick_peak_ewma])
    def test_a_down_node_does_not_hand_its_share_to_a_loaded_partner(self, pick) -> None:
        """Three nodes, one BUSY, one loaded (pending 5, cost high), one idle: Finagle gives
        the loaded one every pick it pairs with the BUSY one (a third); l5d almost none."""
        clock = 0.0
        vec = [Node(i, None, Recording(i, [])) for i in range(3)]
        for node in vec:
            node.ewma = PeakEwma(10.0, clock)
        vec[0].health.value = BUSY
        vec[1].pending = 5
        vec[1].ewma.observe(0.05, clock)
        vec[2].ewma.observe(0.001, clock)
        rng = random.Random(7)
        won = Counter(pick(vec, 3, rng.random, clock).key for _ in range(30_000))
        assert won[0] == 0
        # 1/3 of pairs are (0, 1); each re-draws 8 times and finds 2 unless it draws 0
        # every time: (1/2)**8 of them, ~0.13 % of picks
        assert won[1] < 30_000 * 0.004, won

    def test_two_nodes_keep_finagle_behaviour(self) -> None:
        """With two nodes there is nothing to re-draw: the healthy one wins unexamined."""
        vec = [Node(i, None, Recording(i, [])) for i in range(2)]
        vec[1].health.value = BUSY
        vec[0].pending = 100
        assert pick_least_loaded(vec, 2, Scripted(draws(1, 0, 2)), 0.0) is vec[0]
