"""l5d.telemetry.ratelimit (pure) and l5d.telemetry.limited_log (on a Clock, into logging)."""

from __future__ import annotations

import logging

import pytest
from twisted.internet.task import Clock

from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.ratelimit import OVERFLOW, Held, LogRateLimiter

LOGGER = "tests.ratelimit"


class LogRateLimiterTests:
    """One line per key per window; the rest counted and handed back when the window closes."""

    def test_first_event_passes_the_rest_of_the_window_is_held(self) -> None:
        """admit() says 0 (log, nothing held before) once, then None inside the window."""
        rl = LogRateLimiter(10.0)
        assert rl.admit("a", "e1", now=0.0) == 0
        assert [rl.admit("a", f"e{i}", now=i * 0.1) for i in range(2, 6)] == [None] * 4
        assert rl.next_due() == 10.0

    def test_keys_are_independent(self) -> None:
        """Another key has its own window."""
        rl = LogRateLimiter(10.0)
        assert rl.admit("a", 1, 0.0) == 0 and rl.admit("b", 1, 0.0) == 0
        assert rl.admit("a", 2, 1.0) is None and rl.admit("b", 2, 1.0) is None

    def test_due_hands_back_the_latest_held_event_and_the_count_at_the_window_end(self) -> None:
        """Nothing is due before the window closes; at its end the latest held event and the
        count come back, and that report opens the next window."""
        rl = LogRateLimiter(10.0)
        rl.admit("a", "first", 0.0)
        for i in range(49):
            rl.admit("a", f"held {i}", 1.0 + i * 0.01)
        assert rl.due(9.999) == []
        assert rl.due(10.0) == [Held("a", "held 48", 49)]
        assert rl.next_due() is None
        # the report was a line: the next event inside 10 s of it is held again
        assert rl.admit("a", "again", 15.0) is None
        assert rl.next_due() == 20.0

    def test_a_quiet_key_is_forgotten_and_passes_again(self) -> None:
        """A window that closed with nothing held is dropped; the next event passes."""
        rl = LogRateLimiter(10.0)
        rl.admit("a", 1, 0.0)
        assert rl.due(10.0) == [] and len(rl) == 0
        assert rl.admit("a", 2, 10.5) == 0

    def test_an_event_after_an_unreported_window_carries_its_count(self) -> None:
        """If due() was not called when the window closed, the next line carries the count."""
        rl = LogRateLimiter(10.0)
        rl.admit("a", 1, 0.0)
        rl.admit("a", 2, 1.0)
        rl.admit("a", 3, 2.0)
        assert rl.admit("a", 4, 12.0) == 2
        assert rl.next_due() is None

    def test_drain_reports_every_key_at_once(self) -> None:
        """At stop every key's held events come back, whatever its window."""
        rl = LogRateLimiter(10.0)
        for key in "ab":
            rl.admit(key, 0, 0.0)
            rl.admit(key, 1, 1.0)
        rl.admit("c", 0, 0.0)
        assert rl.drain() == [Held("a", 1, 1), Held("b", 1, 1)]
        assert len(rl) == 0

    def test_the_table_is_bounded_new_keys_overflow(self) -> None:
        """Past max_keys open windows, a new key's events are counted under OVERFLOW."""
        rl = LogRateLimiter(10.0, max_keys=3)
        for key in "abc":
            assert rl.admit(key, key, 0.0) == 0
        assert rl.admit("d", "d", 1.0) is None and rl.admit("e", "e", 2.0) is None
        assert rl.due(2.0) == [Held(OVERFLOW, "e", 2)]
        # once the old windows have closed quietly, a new key gets its own window again
        assert rl.admit("f", "f", 10.0) == 0

    def test_a_thousand_distinct_keys_cost_a_bounded_table(self) -> None:
        """A scan of random names never grows the table past max_keys + 1."""
        rl = LogRateLimiter(10.0, max_keys=100)
        passed = sum(rl.admit(f"/svc/{i}", i, 0.001 * i) == 0 for i in range(1000))
        assert passed == 100 and len(rl) == 101

    @pytest.mark.parametrize("kwargs", [dict(interval_s=0), dict(interval_s=-1),
                                        dict(max_keys=0)])
    def test_bad_parameters(self, kwargs: dict) -> None:
        """A zero window or an empty table is a mistake."""
        with pytest.raises(ValueError):
            LogRateLimiter(**kwargs)


class RateLimitedLogTests:
    """The shell: logging records written now, or by a timer at the window's end."""

    def _log(self, **kw) -> tuple[RateLimitedLog, Clock]:
        clock = Clock()
        return RateLimitedLog(logging.getLogger(LOGGER), clock, clock.seconds, **kw), clock

    def _lines(self, caplog) -> list[tuple[str, str]]:
        return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]

    def test_a_burst_is_one_line_then_the_count_when_the_window_closes(self, caplog) -> None:
        """50 events in a second: one line at once, one line with (49 more suppressed) when
        the 10 s window closes, nothing in between."""
        caplog.set_level(logging.INFO, LOGGER)
        log, clock = self._log()
        for i in range(50):
            log.warning("/svc/x", "no route to %s (try %d)", "/svc/x", i)
            clock.advance(0.02)
        assert self._lines(caplog) == [("WARNING", "no route to /svc/x (try 0)")]
        clock.advance(8.99)
        assert len(self._lines(caplog)) == 1
        clock.advance(0.01)
        assert self._lines(caplog)[1:] == [
            ("WARNING", "no route to /svc/x (try 49) (49 more suppressed)")]
        assert not clock.getDelayedCalls()

    def test_at_most_one_line_per_key_per_window(self, caplog) -> None:
        """A steady event every 0.5 s for a minute gives a line at 0, 10, ... 60 s, and every
        event is either a line or counted in one."""
        caplog.set_level(logging.INFO, LOGGER)
        log, clock = self._log()
        seen = []
        for i in range(120):
            log.warning("k", "event %d", i)
            clock.advance(0.5)
            seen.append(len(self._lines(caplog)))
        lines = self._lines(caplog)
        assert [seen.index(n) * 0.5 + 0.5 for n in range(1, 8)] == [
            0.5, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        assert lines[0] == ("WARNING", "event 0")
        counts = [int(text.rsplit("(", 1)[1].split()[0]) for _, text in lines[1:]]
        assert counts == [19, 20, 20, 20, 20, 20] and 1 + sum(counts) == 120

    def test_flush_writes_what_is_held_and_stops_the_timer(self, caplog) -> None:
        """At stop nothing held is lost and no timer is left."""
        caplog.set_level(logging.INFO, LOGGER)
        log, clock = self._log()
        log.warning("a", "a %d", 1)
        log.warning("a", "a %d", 2)
        log.info("b", "b")
        log.flush()
        assert self._lines(caplog) == [("WARNING", "a 1"), ("INFO", "b"),
                                       ("WARNING", "a 2 (1 more suppressed)")]
        assert not clock.getDelayedCalls()

    def test_nothing_is_formatted_or_counted_below_the_level(self, caplog) -> None:
        """A disabled level costs a check, not a window."""
        caplog.set_level(logging.WARNING, LOGGER)
        log, clock = self._log()
        log.info("a", "quiet %s", object())
        assert len(log.limiter) == 0 and not clock.getDelayedCalls()

    def test_overflow_says_so(self, caplog) -> None:
        """Events of keys past the table's bound come out as one counted line."""
        caplog.set_level(logging.INFO, LOGGER)
        log, clock = self._log(max_keys=2)
        for name in ("a", "b", "c", "d"):
            log.warning(name, "no route to %s", name)
        clock.advance(0)
        assert self._lines(caplog) == [
            ("WARNING", "no route to a"), ("WARNING", "no route to b"),
            ("WARNING", "too many distinct log lines; the latest: no route to d "
                        "(2 more suppressed)")]
