"""l5d.lb.aperture: Finagle ApertureTest and LoadBandTest, with Linkerd's defaults (spec 1.5)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from l5d.lb import BUSY, CLOSED, OPEN
from l5d.lb.aperture import ApertureBalancer, aperture_order
from tests.l5d.lb._fakes import Tracker, make


def picks(bal: ApertureBalancer, n: int) -> Counter:
    """Keys of n picks, with no request started (so the load band stays put)."""
    return Counter(bal.pick().key for _ in range(n))


class ApertureTests:
    """The aperture bounds where picks go; adjust stays within [min, max]."""

    def test_balances_only_within_the_aperture(self) -> None:
        """Initial aperture 1: one node; adjust(+1): two; adjust(-1): one again."""
        bal, _, _ = make("aperture", 10)
        assert bal.stats()["logical_aperture"] == 1
        assert len(picks(bal, 100)) == 1
        bal.adjust(1)
        assert len(picks(bal, 100)) == 2
        bal.adjust(-1)
        assert len(picks(bal, 100)) == 1

    def test_does_not_operate_outside_the_range(self) -> None:
        """adjust(+10000) reaches all 10 nodes; adjust(-100000) comes back to 1."""
        bal, _, _ = make("aperture", 10)
        bal.adjust(10_000)
        assert bal.logical_aperture == 10
        assert len(picks(bal, 1000)) == 10
        bal.adjust(-100_000)
        assert bal.logical_aperture == 1
        assert len(picks(bal, 1000)) == 1

    CASES = [
        # (name, min_aperture, nodes, aperture after update, after adjust(+100))
        ("min above size", 100, 99, 99, 99),
        ("min below size", 100, 101, 100, 101),
        ("default min", 1, 10, 1, 10),
    ]

    @pytest.mark.parametrize("name, minimum, n, initial, widened", CASES, ids=[c[0] for c in CASES])
    def test_min_aperture_is_clamped_to_the_size(
            self, name: str, minimum: int, n: int, initial: int, widened: int) -> None:
        """min = min(minAperture, size), max = size."""
        bal, _, _ = make("aperture", n, min_aperture=minimum)
        assert bal.logical_aperture == initial, name
        assert len(picks(bal, 2000)) == initial, name
        bal.adjust(100)
        assert bal.logical_aperture == widened, name

    def test_min_aperture_and_closed_nodes(self) -> None:
        """minAperture 4: 4 nodes get traffic; with 8 of 10 Closed only the 2 Open ones do."""
        bal, healths, _ = make("aperture", 10, min_aperture=4)
        bal.adjust(-100)
        assert len(picks(bal, 1000)) == 4
        for k in range(8):
            healths[k].value = CLOSED
        bal.update([(i, f"ep{i}") for i in range(10)])
        assert set(picks(bal, 1000)) == {8, 9}

    def test_all_closed_sends_everything_to_the_head(self) -> None:
        """All Closed: aperture stays 1, one node gets all; a reopened node then gets all."""
        bal, healths, _ = make("aperture", 10)
        for h in healths.values():
            h.value = CLOSED
        assert len(picks(bal, 1000)) == 1
        assert bal.logical_aperture == 1
        assert bal.stats()["max_effort_exhausted"] == 1000
        healths[3].value = OPEN
        assert picks(bal, 1000) == {3: 1000}

    @pytest.mark.parametrize("status", [CLOSED, BUSY])
    def test_avoids_unavailable_nodes_in_the_aperture(self, status: int) -> None:
        """Aperture 4 with 2 of its nodes unavailable: those get no more picks."""
        bal, healths, _ = make("aperture", 10)
        bal.adjust(3)
        seen = picks(bal, 100)
        assert len(seen) == 4
        down = sorted(seen)[:2]
        for k in down:
            healths[k].value = status
        after = picks(bal, 100)
        assert not set(after) & set(down)
        # only a pair of two down nodes five picks running exhausts maxEffort (~1e-4 a pick);
        # the rebuild that follows sets them aside
        assert bal.stats()["max_effort_exhausted"] <= 1

    def test_a_busy_node_coming_back_triggers_a_rebuild(self) -> None:
        """A node BUSY at build time is set aside; when it is OPEN again the next pick rebuilds."""
        bal, healths, _ = make("aperture", 5)
        head = bal.pick()
        healths[head.key].value = BUSY
        bal.update([(i, f"ep{i}") for i in range(6)])  # a rebuild that sees it BUSY
        assert bal.stats()["rebuilds"] == 2
        assert bal.pick() is not head
        assert bal.stats()["rebuilds"] == 2
        healths[head.key].value = OPEN
        bal.pick()
        assert bal.stats()["rebuilds"] == 3
        assert picks(bal, 100) == {head.key: 100}

    def test_order_is_by_token_then_status(self) -> None:
        """Tokens come from the rng and stay across updates; the vector is token-sorted,
        stably partitioned OPEN, BUSY, CLOSED."""
        bal, healths, _ = make("aperture", 6)
        tokens = {n.key: n.token for n in bal.nodes}
        assert len(set(tokens.values())) == 6
        assert all(0 <= t < 2**32 for t in tokens.values())
        bal.update([(i, f"ep{i}") for i in range(8)])
        assert {n.key: n.token for n in bal.nodes if n.key < 6} == tokens
        by_token = sorted(bal.nodes, key=lambda n: n.token)
        vec, busy = aperture_order(bal.nodes, 0.0)
        assert vec == tuple(by_token) and busy == ()
        healths[by_token[0].key].value = CLOSED
        healths[by_token[1].key].value = BUSY
        vec, busy = aperture_order(bal.nodes, 0.0)
        assert vec == tuple(by_token[2:]) + (by_token[1], by_token[0])
        assert busy == (by_token[1],)

    def test_rebuild_resets_the_aperture(self) -> None:
        """A membership change rebuilds with the initial aperture 1, clamped to the minimum."""
        for minimum, widened, expected in ((1, 6, 1), (3, 8, 3)):
            bal, _, _ = make("aperture", 10, min_aperture=minimum)
            bal.adjust(5)
            assert bal.logical_aperture == widened
            bal.update([(i, f"ep{i}") for i in range(11)])
            assert bal.logical_aperture == expected

    def test_empty_has_aperture_zero(self) -> None:
        """No nodes: logical aperture 0 and pick None; requests ending then change nothing."""
        bal, _, _ = make("aperture", 2, smooth_window_s=0.0)
        node = bal.pick()
        bal.acquired(node)
        bal.update([])
        assert bal.stats()["logical_aperture"] == 0
        assert bal.pick() is None
        bal.released(node, None)
        assert bal.stats()["logical_aperture"] == 0


class LoadBandTests:
    """The load band widens at avg >= high and narrows at avg <= low, one step per event."""

    def test_linkerd_defaults_step_by_step(self) -> None:
        """low 0.5, high 2.0, window 0, 10 nodes: 1 -> (2 out) 2 -> (1 out) 1."""
        bal, _, _ = make("aperture", 10, smooth_window_s=0.0)
        assert bal.logical_aperture == 1
        first = bal.pick()
        bal.acquired(first)  # avg 1.0: no change
        assert bal.logical_aperture == 1
        second = bal.pick()
        bal.acquired(second)  # avg 2.0 >= 2.0: widen
        assert bal.logical_aperture == 2
        bal.released(first, None)  # avg 1/2 = 0.5 <= 0.5: narrow
        assert bal.logical_aperture == 1
        stats = bal.stats()
        assert (stats["loadband/widen"], stats["loadband/narrow"]) == (1, 1)
        assert stats["loadband/offered_load_ema"] == 1.0

    def test_aperture_tracks_concurrency(self) -> None:
        """Finagle LoadBandTest (0.875/1.125, window 0): c outstanding -> aperture c/1.125 +- 1."""
        n = 40
        bal, _, _ = make("aperture", n, smooth_window_s=0.0, low_load=0.875, high_load=1.125)
        start = int(1.125 + 1)
        for c in list(range(start, n + 1)) + list(range(n - 1, start - 1, -1)):
            outstanding = []
            for _ in range(101):
                tracker = Tracker(bal)
                outstanding = [tracker.start() for _ in range(c)]
                aperture = bal.logical_aperture
                loads = [load for load in tracker.load.values() if load]
                for request in outstanding:
                    tracker.end(request)
            assert abs(c / 1.125 - aperture) <= 1, (c, aperture)
            assert abs(sum(loads) / len(loads) - 1.125) <= 1, c
        assert all(node.pending == 0 for node in bal.nodes)

    def test_smoothing_window_lags_the_offered_load(self) -> None:
        """Window 5 s: two outstanding one window apart average 2 - 1/e < 2, no widening;
        much later three outstanding weigh fully and widen."""
        bal, _, clock = make("aperture", 10, smooth_window_s=5.0)
        bal.acquired(bal.pick())
        clock.advance(5.0)
        bal.acquired(bal.pick())
        assert bal.stats()["loadband/offered_load_ema"] == pytest.approx(2 - math.exp(-1))
        assert bal.logical_aperture == 1
        clock.advance(100.0)
        bal.acquired(bal.pick())
        assert bal.logical_aperture == 2

    def test_window_zero_would_have_widened(self) -> None:
        """The same two requests with window 0 widen at once (the control for the test above)."""
        bal, _, clock = make("aperture", 10, smooth_window_s=0.0)
        bal.acquired(bal.pick())
        clock.advance(5.0)
        bal.acquired(bal.pick())
        assert bal.logical_aperture == 2
