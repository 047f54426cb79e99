"""l5d.telemetry.access_log: buffering on the reactor, one batch at a time to the file.

The flush timer runs on a task.Clock; the file's calls run at once (``run_now``), or are
held by :class:`HeldRunner` until the test lets them go (a slow disk), or run in a real
:class:`ThreadRunner` thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from l5d.config.access_log import AccessLogConfig
from l5d.telemetry.access_file import AccessLogFile
from l5d.telemetry.access_log import STOP_TIMEOUT_S, AccessLogWriter, ThreadRunner, run_now
from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.record import RequestRecord


def rec(i: int) -> RequestRecord:
    return RequestRecord(router="http", started=1_700_000_000.0, duration_us=1000, method="GET",
                         uri=f"/r/{i}", version="1.1", host="svc", source="127.0.0.1:1",
                         status=200, ok=True)


def uris(path: Path) -> list[str]:
    return [line.split('"')[1].split()[1] for line in path.read_text().splitlines()]


class HeldRunner:
    """Runs each call only when the test says (a disk that takes its time)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], defer.Deferred]] = []

    def __call__(self, call: Callable[[], Any]) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.jobs.append((call, d))
        return d

    def release(self) -> None:
        call, d = self.jobs.pop(0)
        try:
            result = call()
        except Exception as err:
            d.errback(err)
        else:
            d.callback(result)


def writer(tmp_path: Path, clock: Clock, run=run_now, **kw) -> AccessLogWriter:
    config = AccessLogConfig(str(tmp_path / "access.log"))
    w = AccessLogWriter(config, "http", clock, run,
                        RateLimitedLog(logging.getLogger("l5d.access_log"), clock, clock.seconds),
                        **kw)
    w.start()
    return w


class BufferTests:
    def test_lines_leave_on_the_timer_not_per_request(self, tmp_path: Path) -> None:
        """Nothing is written until flush_interval_s after the first line; then all at once."""
        clock = Clock()
        w = writer(tmp_path, clock, flush_interval_s=0.1)
        for i in range(3):
            w.record(rec(i))
        path = tmp_path / "access.log"
        assert path.read_text() == ""
        clock.advance(0.099)
        assert path.read_text() == ""
        clock.advance(0.001)
        assert uris(path) == ["/r/0", "/r/1", "/r/2"] and w.written == 3
        assert not clock.getDelayedCalls()  # idle: no timer left

    def test_a_full_batch_leaves_at_once(self, tmp_path: Path) -> None:
        """batch_lines waiting: written without waiting for the timer."""
        clock = Clock()
        w = writer(tmp_path, clock, batch_lines=4)
        for i in range(4):
            w.record(rec(i))
        assert len(uris(tmp_path / "access.log")) == 4

    def test_one_batch_at_a_time_in_order(self, tmp_path: Path) -> None:
        """While a batch is being written, new lines wait; they follow it, in order."""
        clock, run = Clock(), HeldRunner()
        w = writer(tmp_path, clock, run, batch_lines=2)
        for i in range(7):
            w.record(rec(i))
        assert len(run.jobs) == 1  # lines 0, 1; the other five wait
        run.release()
        assert len(run.jobs) == 1  # the five waiting (a full batch) left at once
        run.release()
        assert uris(tmp_path / "access.log") == [f"/r/{i}" for i in range(7)]
        assert not run.jobs

    def test_a_slow_disk_drops_past_the_bound_and_says_how_many(self, tmp_path: Path,
                                                                caplog) -> None:
        """Past max_pending waiting lines, lines are dropped and counted; a warning gives the
        count once the writer catches up; the rest arrive in order."""
        caplog.set_level(logging.WARNING, "l5d.access_log")
        clock, run = Clock(), HeldRunner()
        w = writer(tmp_path, clock, run, batch_lines=1, max_pending=3)
        for i in range(10):  # 0 goes; 1, 2, 3 wait; 4..9 are dropped
            w.record(rec(i))
        assert w.dropped == 6
        run.release()
        run.release()
        assert uris(tmp_path / "access.log") == ["/r/0", "/r/1", "/r/2", "/r/3"]
        assert [r.getMessage() for r in caplog.records] == [
            "rt/http: access log %s: 6 lines dropped (3 waiting: the disk is slower than the "
            "requests)" % (tmp_path / "access.log")]

    def test_a_refused_write_is_counted_and_the_next_batch_tries_again(
            self, tmp_path: Path, caplog) -> None:
        """A failing write loses its batch (counted, warned); the next one reopens and
        succeeds."""
        caplog.set_level(logging.WARNING, "l5d.access_log")
        clock = Clock()
        w = writer(tmp_path, clock)
        real_write = w.file.write
        calls = []

        def failing(lines, reopen=False):
            calls.append(len(lines))
            if len(calls) == 1:
                w.file.close()
                raise OSError(28, "No space left on device")
            return real_write(lines, reopen)

        w.file.write = failing  # type: ignore[method-assign]
        w.record(rec(0))
        clock.advance(0.1)
        w.record(rec(1))
        clock.advance(0.1)
        assert (w.lost, w.written) == (1, 1)
        assert uris(tmp_path / "access.log") == ["/r/1"]
        assert "1 lines lost: [Errno 28] No space left on device" in caplog.records[0].getMessage()


class StopTests:
    def test_stop_writes_what_waits_then_closes(self, tmp_path: Path) -> None:
        """Lines still in the buffer at stop are written before the file closes."""
        clock = Clock()
        w = writer(tmp_path, clock)
        w.record(rec(0))
        w.record(rec(1))
        done = w.stop()
        assert done.called and not w.file.is_open
        assert uris(tmp_path / "access.log") == ["/r/0", "/r/1"]
        assert not clock.getDelayedCalls()
        w.record(rec(2))
        assert w.dropped == 1  # after stop nothing more is taken

    def test_stop_waits_for_the_batch_in_flight(self, tmp_path: Path) -> None:
        """A batch being written, and what arrived meanwhile, both land before stop fires."""
        clock, run = Clock(), HeldRunner()
        w = writer(tmp_path, clock, run, batch_lines=1)
        w.record(rec(0))
        w.record(rec(1))
        done = w.stop()
        second = w.stop()
        while run.jobs:
            assert not done.called
            run.release()
        assert done.called and second.called
        assert uris(tmp_path / "access.log") == ["/r/0", "/r/1"]

    def test_a_disk_that_never_answers_does_not_hold_stop_forever(self, tmp_path: Path,
                                                                  caplog) -> None:
        """After STOP_TIMEOUT_S stop gives up, saying how many lines are lost."""
        caplog.set_level(logging.WARNING, "l5d.access_log")
        clock, run = Clock(), HeldRunner()
        w = writer(tmp_path, clock, run, batch_lines=1)
        w.record(rec(0))
        w.record(rec(1))
        done = w.stop()
        clock.advance(STOP_TIMEOUT_S - 0.01)
        assert not done.called
        clock.advance(0.01)
        assert done.called
        assert "still writing after 5 s at stop; 1 lines waiting are lost" in \
            caplog.records[-1].getMessage()

    def test_reopen_now_when_idle(self, tmp_path: Path) -> None:
        """reopen() (SIGHUP) reopens the path at once when nothing is being written."""
        clock = Clock()
        w = writer(tmp_path, clock)
        w.record(rec(0))
        clock.advance(0.1)
        os.rename(tmp_path / "access.log", tmp_path / "access.log.1")
        w.reopen()
        assert (tmp_path / "access.log").exists()
        w.record(rec(1))
        clock.advance(0.1)
        assert uris(tmp_path / "access.log") == ["/r/1"]
        assert uris(tmp_path / "access.log.1") == ["/r/0"]

    def test_start_names_the_router_and_the_path(self, tmp_path: Path) -> None:
        """A file that cannot be opened fails start with a message saying which."""
        (tmp_path / "access.log").mkdir()
        with pytest.raises(OSError, match=r"rt/http: cannot open the access log .*access.log"):
            writer(tmp_path, Clock())


class ThreadReactor(Clock):
    """A Clock whose callFromThread queues the call for the test thread to run."""

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: queue.SimpleQueue = queue.SimpleQueue()

    def callFromThread(self, f, *args) -> None:
        self.from_threads.put((f, args))

    def run_until(self, d: defer.Deferred) -> None:
        while not d.called:
            f, args = self.from_threads.get(timeout=30)
            f(*args)


class ThreadTests:
    """The real writer thread, and logrotate moving the file under it."""

    def test_calls_run_in_order_off_the_calling_thread(self) -> None:
        """Results come back through callFromThread, in submission order."""
        reactor = ThreadReactor()
        runner = ThreadRunner(reactor, "test-writer")
        seen: list[tuple[int, bool]] = []
        main = threading.get_ident()
        ds = [runner(lambda i=i: seen.append((i, threading.get_ident() != main)) or i)
              for i in range(20)]
        results: list[int] = []
        for d in ds:
            d.addCallback(results.append)
        reactor.run_until(ds[-1])
        runner.stop()
        assert seen == [(i, True) for i in range(20)] and results == list(range(20))

    def test_an_exception_comes_back_as_a_failure(self) -> None:
        """A call that raises fails its Deferred on the reactor thread."""
        reactor = ThreadReactor()
        runner = ThreadRunner(reactor, "test-writer")
        d = runner(lambda: 1 / 0)
        errors: list = []
        d.addErrback(errors.append)
        reactor.run_until(d)
        runner.stop()
        assert errors[0].check(ZeroDivisionError)

    def test_renamed_under_a_running_writer_more_lines_go_to_the_new_file(
            self, tmp_path: Path) -> None:
        """mv access.log access.log.1 while the writer thread runs: the lines written before
        the writer's next check land in the old file, later ones in a new access.log, and
        every line is in exactly one of them."""
        reactor = ThreadReactor()
        runner = ThreadRunner(reactor, "test-writer")
        mono = [0.0]
        config = AccessLogConfig(str(tmp_path / "access.log"))
        w = AccessLogWriter(config, "http", reactor, runner,
                            RateLimitedLog(logging.getLogger("l5d.access_log"), reactor,
                                           reactor.seconds),
                            file=AccessLogFile(config, now=lambda: mono[0]), batch_lines=10)
        w.start()
        for i in range(30):
            w.record(rec(i))
        os.rename(tmp_path / "access.log", tmp_path / "access.log.1")
        mono[0] = 2.0  # the writer's next check sees the move
        for i in range(30, 60):
            w.record(rec(i))
        reactor.run_until(w.stop())
        runner.stop()
        old, new = uris(tmp_path / "access.log.1"), uris(tmp_path / "access.log")
        assert old + new == [f"/r/{i}" for i in range(60)]
        assert new and w.file.reopened == 1 and w.written == 60
