"""l5d.lb.roundrobin: Finagle RoundRobinBalancerTest (spec 1.7, 1.8)."""

from __future__ import annotations

from l5d.lb import CLOSED, OPEN
from tests.l5d.lb._fakes import Tracker, make

N = 100
R = 100_000


class RoundRobinTests:
    """Rotation over OPEN nodes; Closed nodes skipped until they reopen."""

    def test_balances_evenly(self) -> None:
        """R picks over N nodes: exactly R/N each, in update order."""
        bal, _, _ = make("roundRobin", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        assert set(tracker.total.values()) == {R // N}
        assert [bal.pick().key for _ in range(3)] == [0, 1, 2]

    def test_a_closed_node_gets_nothing_more(self) -> None:
        """After node 0 turns Closed every pick is OPEN and node 0's count stays."""
        bal, healths, _ = make("roundRobin", N)
        tracker = Tracker(bal)
        tracker.hold(R)
        assert tracker.total[0] > 0
        healths[0].value = CLOSED
        before = tracker.total[0]
        for _ in range(R):
            assert bal.pick().status(0.0) == OPEN
        tracker.hold(R)
        assert tracker.total[0] == before
        assert bal.stats()["max_effort_exhausted"] == 0

    def test_a_reopened_node_gets_requests_again(self) -> None:
        """Closed then Open again: node 0 is back in the rotation."""
        bal, healths, _ = make("roundRobin", N)
        tracker = Tracker(bal)
        healths[0].value = CLOSED
        tracker.hold(R)
        assert 0 not in tracker.total
        healths[0].value = OPEN
        tracker.hold(R)
        assert tracker.total[0] > 0.9 * R / N

    def test_empty_and_single(self) -> None:
        """Empty gives None; a single node gets all R; empty again gives None."""
        bal, _, _ = make("roundRobin")
        assert bal.pick() is None
        bal.update([(0, "ep0")])
        tracker = Tracker(bal)
        tracker.hold(R)
        assert tracker.total == {0: R}
        bal.update([])
        assert bal.pick() is None

    def test_all_down_still_rotates(self) -> None:
        """Every node Closed: requests still go out, spread over all nodes (fail open)."""
        bal, healths, _ = make("roundRobin", 4)
        for h in healths.values():
            h.value = CLOSED
        tracker = Tracker(bal)
        tracker.hold(400)
        assert sorted(tracker.total.values()) == [100] * 4
        assert bal.stats()["max_effort_exhausted"] == 400

    def test_rebuilds_when_a_picked_node_is_down(self) -> None:
        """A pick landing on a node that went down since the build rebuilds once."""
        bal, healths, _ = make("roundRobin", 3)
        assert bal.stats()["rebuilds"] == 1
        healths[1].value = CLOSED
        keys = [bal.pick().key for _ in range(6)]
        assert 1 not in keys
        assert bal.stats()["rebuilds"] == 2
