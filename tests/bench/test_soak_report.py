"""The soak's pure parts (``bench/_soak``): how a request's outcome is classified, the
schedule, the growth judgement and the verdict. The soak itself runs in
``tests/integration/k8s/test_soak.py``."""

from __future__ import annotations

import http.client
import re
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _soak.outcome import (
    Kind,
    Outcome,
    Record,
    err_reason,
    from_line,
    of_exception,
    of_response,
    to_line,
)
from _soak.plan import EVENTS, churn_step, plan, warmup_s
from _soak.render import markdown
from _soak.report import Check, EventResult, Limits, Sample, growth, percentile, summarize

EXPECT = {"hello": re.compile(r"Hello \(\S+\) world \(\S+\)!!"),
          "world-v1": re.compile(r"world \(\S+\)!")}


class OutcomeTests:
    """A response or an error -> ok, a deliberate failure, or lost."""

    @pytest.mark.parametrize("service,status,err,body,want", [
        ("hello", 200, None, b"Hello (10.244.1.2) world (10.244.3.2)!!", Outcome(Kind.OK, 200)),
        ("world-v1", 200, None, b"world (10.244.3.2)!", Outcome(Kind.OK, 200)),
        ("world-v1", 200, None, b"Hello (10.244.1.2) world (10.244.3.2)!!",
         Outcome(Kind.LOST, 200, "200 with a wrong body")),
        ("hello", 502, "Unable+to+route+request%21", b"",
         Outcome(Kind.FAILED, 502, "502 Unable to route request!")),
        ("hello", 503, None, b"oops", Outcome(Kind.LOST, 503, "503 without l5d-err")),
        ("hello", 400, "bad", b"", Outcome(Kind.LOST, 400, "400 with l5d-err")),
        ("hello", 404, None, b"", Outcome(Kind.LOST, 404, "404")),
    ])
    def test_a_response_is_classified(self, service, status, err, body, want) -> None:
        """Only a 2xx with the service's own answer is ok; only a 5xx with l5d-err fails
        deliberately; anything else is lost."""
        assert of_response(service, status, err, body, EXPECT) == want

    @pytest.mark.parametrize("err,detail", [
        (socket.timeout("timed out"), "timeout: no response"),
        (ConnectionRefusedError(), "connection refused"),
        (ConnectionResetError(), "connection reset"),
        (http.client.RemoteDisconnected(), "connection closed without a response"),
        (http.client.IncompleteRead(b""), "response cut short"),
        (http.client.BadStatusLine("x"), "bad response (BadStatusLine)"),
    ])
    def test_no_response_is_lost(self, err, detail) -> None:
        """Every request without a complete response is lost, by what happened."""
        assert of_exception(err) == Outcome(Kind.LOST, 0, detail)

    def test_the_reason_blanks_addresses_and_numbers(self) -> None:
        """The same refusal at another address or time counts as one kind."""
        assert err_reason("connection+refused+to+10.244.1.2%3A7777%0Amore") == (
            "connection refused to ADDR")
        assert err_reason("Exceeded+10.seconds+binding+timeout") == (
            "Exceeded N.seconds binding timeout")

    def test_a_record_reads_back_from_its_line(self) -> None:
        """to_line and from_line are inverses (to the precision written)."""
        r = Record(1.5, 2.25, 3, "hello", Outcome(Kind.FAILED, 502, "502 why\tnot"))
        back = from_line(to_line(r))
        assert back == Record(1.5, 2.25, 3, "hello", Outcome(Kind.FAILED, 502, "502 why not"))


class PlanTests:
    """The schedule of the one-off events and of the churn."""

    @pytest.mark.parametrize("duration", [30, 60, 119, 600])
    def test_every_event_runs_in_order_within_the_run(self, duration: float) -> None:
        """Each event at least once, in EVENTS order, between 10 % and 80 % of the run."""
        p = plan(duration)
        assert [e.name for e in p[:len(EVENTS)]] == list(EVENTS)
        assert p[0].at_s == pytest.approx(0.1 * duration)
        assert p[-1].at_s == pytest.approx(0.8 * duration)
        assert [e.at_s for e in p] == sorted(e.at_s for e in p)

    def test_a_ten_minute_run_has_five_rounds(self) -> None:
        """A round every two minutes."""
        assert {e.round for e in plan(600)} == {1, 2, 3, 4, 5}
        assert len(plan(600)) == 5 * len(EVENTS)

    @pytest.mark.parametrize("duration", [0, -1, 600.5])
    def test_a_duration_out_of_bounds_is_refused(self, duration: float) -> None:
        """At most ten minutes."""
        with pytest.raises(ValueError, match="duration_s"):
            plan(duration)

    def test_the_churn_always_keeps_a_pod_and_changes_every_step(self) -> None:
        """node-3 keeps at least one pod, and no two steps in a row are the same."""
        steps = [churn_step(k) for k in range(20)]
        assert all(s[3] >= 1 for s in steps)
        assert all(a != b for a, b in zip(steps, steps[1:]))

    def test_the_warmup_is_a_quarter_up_to_a_minute(self) -> None:
        assert (warmup_s(60), warmup_s(240), warmup_s(600)) == (15, 60, 60)


def _samples(label: str, pid: int, rss: list[int], fds: list[int], t0: float = 0) -> list:
    return [Sample(t0 + 2 * i, label, pid, r, f) for i, (r, f) in enumerate(zip(rss, fds))]


class GrowthTests:
    """A process grows when the median of its last third is above the first third's by
    more than both the relative and the absolute bound."""

    LIMITS = Limits(rss_pct=10, rss_kib=4096, fds_pct=25, fds=10)

    @pytest.mark.parametrize("last,grew", [(60000 + 6000, False), (60000 + 6001, True)])
    def test_rss_just_below_and_above_the_bound(self, last: int, grew: bool) -> None:
        """10 % of 60,000 KiB is 6,000 KiB (above the 4 MiB floor)."""
        [g] = growth(_samples("l5d", 1, [60000] * 3 + [last] * 3, [50] * 6), 0, self.LIMITS)
        assert (g.judged, g.rss_grew, g.fds_grew) == (True, grew, False)

    @pytest.mark.parametrize("last,grew", [(20, False), (21, True)])
    def test_fds_use_the_absolute_floor_when_it_is_larger(self, last: int, grew: bool) -> None:
        """25 % of 10 fds is less than the floor of 10."""
        [g] = growth(_samples("l5d", 1, [100] * 6, [10] * 3 + [last] * 3), 0, self.LIMITS)
        assert g.fds_grew is grew

    def test_samples_in_the_warmup_and_short_lives_are_not_judged(self) -> None:
        """The warm-up's samples are left out; a restarted process is a new series, and
        one with fewer than three samples is not judged."""
        before = _samples("api", 1, [100, 200, 300, 300, 300], [1] * 5)
        after = _samples("api", 2, [900, 900], [1, 1], t0=10)
        by_pid = {g.pid: g for g in growth(before + after, 4, self.LIMITS)}
        assert by_pid[1].samples == 3 and not by_pid[1].rss_grew
        assert not by_pid[2].judged and not by_pid[2].rss_grew

    def test_a_process_started_during_the_run_gets_its_own_warmup(self) -> None:
        """A worker restarted at 20 s grows while it starts (its imports), then stays: it
        is judged on what comes after its own warm-up, as the others are on theirs."""
        old = _samples("w", 1, [40000] * 20, [10] * 20)
        new = _samples("w", 2, [20000, 30000, 40000, 41000, 41000, 41000, 41000, 41000,
                                41000, 41000, 41000, 41000], [4, 10, 15] + [15] * 9, t0=20)
        by_pid = {g.pid: g for g in growth(old + new, 4, self.LIMITS)}
        assert by_pid[2].judged and not by_pid[2].rss_grew and not by_pid[2].fds_grew
        assert by_pid[2].rss_first_kib >= 40000

    def test_percentile_is_nearest_rank(self) -> None:
        values = list(range(1, 101))
        assert (percentile(values, 50), percentile(values, 99), percentile([], 50)) == (
            50, 99, None)


def _event(name: str, status: str = "done", start: float = 10) -> EventResult:
    return EventResult(name, 1, start, start, start + 1, status)


class SummaryTests:
    """The verdict: what makes a soak fail."""

    PARAMS = {"duration_s": 60, "warmup_s": 15}
    EVENTS_DONE = [_event(n) for n in EVENTS[:-1]] + [
        _event("worker-kill", "skipped: l5d runs one process")]

    def _summary(self, records=(), events=None, checks=(), churn=None, samples=()):
        records = list(records) or [Record(1, 5, 1, "hello", Outcome(Kind.OK, 200))]
        return summarize(records, list(samples), self.EVENTS_DONE if events is None else events,
                         list(checks), {"writes": 50} if churn is None else churn, self.PARAMS)

    def test_connections_moving_between_workers_are_not_growth(self) -> None:
        """A killed worker's clients land on the other: its fds rise, the node's do not;
        a node whose workers' fds all rise grew; the cluster's own processes are notes."""
        moved = (_samples("l5d node-1 worker 1", 11, [40000] * 30, [40] * 15 + [60] * 15)
                 + _samples("l5d node-1 worker 2", 12, [40000] * 30, [40] * 15 + [20] * 15)
                 + _samples("etcd", 13, [40000] * 15 + [60000] * 15, [5] * 30))
        s = self._summary(samples=moved)
        assert s["passed"], s["problems"]
        assert s["notes"] == ["etcd (pid 13) RSS grew: 39.1 -> 58.6 MiB"]
        both = (_samples("l5d node-1 worker 1", 11, [40000] * 30, [40] * 15 + [60] * 15)
                + _samples("l5d node-1 worker 2", 12, [40000] * 30, [40] * 15 + [60] * 15))
        assert self._summary(samples=both)["problems"] == [
            "l5d node-1 workers (pid 0) open fds grew: 80.0 -> 120.0"]

    def test_a_clean_run_passes_with_the_worker_kill_skipped(self) -> None:
        s = self._summary()
        assert (s["passed"], s["problems"]) == (True, [])
        assert "# Soak: PASSED" in markdown(s)

    def test_deliberate_failures_pass_and_are_counted_by_kind(self) -> None:
        """They are counted by kind, and by the event that started at most 15 s before."""
        failed = [Record(t, 5, 2, "hello", Outcome(Kind.FAILED, 502, "502 no endpoints"))
                  for t in (5, 12, 25, 40)]
        events = [_event("dtab-save", start=1), _event("pod-kill", start=10),
                  _event("apiserver-restart", start=10.5), *[
                      _event(n, start=30) for n in EVENTS[3:]]]
        s = self._summary(failed, events=events)
        assert s["passed"]
        assert s["requests"]["failed_by_kind"] == {"502 no endpoints": 4}
        assert s["near_events"] == {
            "dtab-save": {"failed: 502 no endpoints": 1},          # 5 s
            "apiserver-restart": {"failed: 502 no endpoints": 2},  # 12 and 25 s
            "worker-kill": {"failed: 502 no endpoints": 1}}        # 40 s: the last at 30 s

    @pytest.mark.parametrize("change,problem", [
        ({"records": [Record(1, 5, 1, "hello", Outcome(Kind.LOST, 0, "connection reset"))]},
         "1 requests lost: 1 connection reset"),
        ({"events": [_event(n) for n in EVENTS[:-1]]}, "events never run: worker-kill"),
        ({"events": [_event(n) for n in EVENTS[:-1]] + [_event("worker-kill", "failed")]},
         "event worker-kill (round 1) failed: "),
        ({"events": [_event(n, "skipped: why") for n in EVENTS]},
         "event dtab-save (round 1) skipped: why: "),
        ({"churn": {"writes": 0}}, "the Endpoints churn wrote nothing"),
        ({"checks": [Check("namers", False, "behind")]}, "check namers failed: behind"),
        ({"samples": _samples("l5d node-1", 7, [50000] * 10 + [60000] * 10, [40] * 20, 16)},
         "l5d node-1 (pid 7) RSS grew: 48.8 -> 58.6 MiB"),
    ])
    def test_what_fails_a_soak(self, change: dict, problem: str) -> None:
        s = self._summary(**change)
        assert not s["passed"]
        assert problem in s["problems"], s["problems"]


@pytest.mark.parametrize("module", ["_soak.outcome", "_soak.plan", "_soak.report"])
def test_the_docstring_examples_hold(module: str) -> None:
    """The examples in the pure modules' docstrings are right."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
