"""A router's ``httpAccessLog`` at run time (Twisted shell).

:meth:`AccessLogWriter.record` is one of the router's request sinks: on the reactor it
formats the record's line (:class:`~l5d.telemetry.access_line.LineFormat`) and appends it
to a buffer; nothing else happens per request. The buffer goes to the file
(:class:`~l5d.telemetry.access_file.AccessLogFile`) a batch at a time, in a writer thread,
so a slow disk never holds up the reactor:

* a batch leaves ``flush_interval_s`` after the first line entered an empty buffer, or
  at once when ``batch_lines`` lines are waiting; one batch is written at a time, in
  order, and what arrives meanwhile leaves when it is done;
* the buffer is bounded: past ``max_pending`` lines waiting (the disk is slower than the
  requests), lines are dropped and counted, and a rate-limited warning says how many;
* a batch the file refuses (disk full, permissions) is counted as lost, with a
  rate-limited warning; the next batch tries again (reopening the file);
* :meth:`AccessLogWriter.stop` writes what is waiting, then closes the file.

Reactor-thread only, except the file, which only the writer thread touches.
"""

from __future__ import annotations

import logging
import queue
import threading
from functools import partial
from typing import Any, Callable

from twisted.internet import defer
from twisted.python.failure import Failure

from l5d.config.access_log import AccessLogConfig
from l5d.telemetry.access_file import AccessLogFile
from l5d.telemetry.access_line import LineFormat
from l5d.telemetry.limited_log import RateLimitedLog
from l5d.telemetry.record import RequestRecord

__all__ = ["AccessLogWriter", "ThreadRunner", "run_now"]

FLUSH_INTERVAL_S = 0.1
BATCH_LINES = 1024
MAX_PENDING_LINES = 65536
STOP_TIMEOUT_S = 5.0

log = logging.getLogger("l5d.access_log")

#: runs a blocking call somewhere and returns a Deferred of its result
Run = Callable[[Callable[[], Any]], "defer.Deferred[Any]"]


def run_now(call: Callable[[], Any]) -> "defer.Deferred[Any]":
    """A :data:`Run` that calls at once, on the caller's thread (tests, no threads)."""
    return defer.maybeDeferred(call)


class ThreadRunner:
    """A :data:`Run` over one daemon thread: calls run one at a time, in order, and their
    results come back on the reactor thread (``callFromThread``)."""

    def __init__(self, reactor: Any, name: str) -> None:
        self._reactor = reactor
        self._name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def __call__(self, call: Callable[[], Any]) -> "defer.Deferred[Any]":
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        d: defer.Deferred[Any] = defer.Deferred()
        self._jobs.put((call, d))
        return d

    def stop(self) -> None:
        """End the thread after the calls already queued."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call, d = job
            try:
                result = call()
            except BaseException:
                self._reactor.callFromThread(d.errback, Failure())
            else:
                self._reactor.callFromThread(d.callback, result)


class AccessLogWriter:
    """The access log of router ``label``.

    :param reactor: ``IReactorTime`` for the flush timer.
    :param run: where the file's blocking calls run (:class:`ThreadRunner` in production,
        :func:`run_now` in tests).
    :param warn: the rate-limited log for dropped and lost lines.
    """

    def __init__(self, config: AccessLogConfig, label: str, reactor: Any, run: Run,
                 warn: RateLimitedLog, *, file: AccessLogFile | None = None,
                 flush_interval_s: float = FLUSH_INTERVAL_S, batch_lines: int = BATCH_LINES,
                 max_pending: int = MAX_PENDING_LINES) -> None:
        self.config = config
        self.label = label
        self.file = file if file is not None else AccessLogFile(config)
        self._reactor = reactor
        self._run = run
        self._warn = warn
        self.flush_interval_s = flush_interval_s
        self.batch_lines = batch_lines
        self.max_pending = max_pending
        self._format = LineFormat()
        self._pending: list[str] = []
        self._busy = False
        self._timer: Any = None
        self._reopen = False
        self._stopping: list[defer.Deferred[None]] | None = None  # stop()'s waiters
        self._stopped = False
        self._give_up: Any = None
        self._closed = False
        #: lines written, dropped (buffer full, or after stop) and lost (the file refused them)
        self.written = 0
        self.dropped = 0
        self.lost = 0
        self._dropped_told = 0

    @property
    def path(self) -> str:
        return self.config.path

    def start(self) -> None:
        """Open the file now (on the reactor, once). :raises OSError: it cannot be opened."""
        try:
            self.file.open()
        except OSError as err:
            raise OSError(err.errno, f"rt/{self.label}: cannot open the access log "
                                     f"{self.path}: {err.strerror or err}") from None

    def record(self, r: RequestRecord) -> None:
        """A request sink: buffer the record's line."""
        pending = self._pending
        if len(pending) >= self.max_pending or self._closed:
            self.dropped += 1
            return
        pending.append(self._format(r))
        if self._busy:
            return
        if len(pending) >= self.batch_lines:
            self._submit()
        elif self._timer is None:
            self._timer = self._reactor.callLater(self.flush_interval_s, self._on_timer)

    def reopen(self) -> None:
        """Reopen the file at its path before the next write (SIGHUP); now if idle."""
        self._reopen = True
        if not self._busy and not self._closed:
            self._submit()

    def stop(self) -> "defer.Deferred[None]":
        """Write what is waiting, then close the file (waiting at most ``STOP_TIMEOUT_S``
        for the disk)."""
        d: defer.Deferred[None] = defer.Deferred()
        if self._stopped:
            d.callback(None)
            return d
        first = self._stopping is None
        self._stopping = (self._stopping or []) + [d]
        if first:
            self._cancel_timer()
            self._give_up = self._reactor.callLater(STOP_TIMEOUT_S, self._stop_timed_out)
            if not self._busy:
                if self._pending:
                    self._submit()
                else:
                    self._finish()
        return d

    # -- batches -----------------------------------------------------------------
    def _on_timer(self) -> None:
        self._timer = None
        if not self._busy and (self._pending or self._reopen):
            self._submit()

    def _submit(self) -> None:
        self._cancel_timer()
        batch, self._pending = self._pending, []
        reopen, self._reopen = self._reopen, False
        self._busy = True
        self._run(partial(self.file.write, batch, reopen)).addBoth(self._written, len(batch))

    def _written(self, result: Any, n: int) -> None:
        self._busy = False
        if isinstance(result, Failure):
            self.lost += n
            self._warn.warning(("lost", self.path), "rt/%s: access log %s: %d lines lost: %s",
                               self.label, self.path, n, result.getErrorMessage())
        else:
            self.written += n
        if self.dropped > self._dropped_told:
            self._warn.warning(("dropped", self.path),
                               "rt/%s: access log %s: %d lines dropped (%d waiting: the disk "
                               "is slower than the requests)", self.label, self.path,
                               self.dropped - self._dropped_told, self.max_pending)
            self._dropped_told = self.dropped
        if self._pending:
            if self._stopping is not None or len(self._pending) >= self.batch_lines:
                self._submit()
            elif self._timer is None:
                self._timer = self._reactor.callLater(self.flush_interval_s, self._on_timer)
        elif self._stopping is not None:
            self._finish()

    def _finish(self) -> None:
        self._closed = True
        self._busy = True
        self._run(self.file.close).addBoth(self._closed_file)

    def _closed_file(self, result: Any) -> None:
        if isinstance(result, Failure):
            log.warning("rt/%s: access log %s: closing: %s", self.label, self.path,
                        result.getErrorMessage())
        self._done()

    def _stop_timed_out(self) -> None:
        self._give_up = None
        log.warning("rt/%s: access log %s: still writing after %g s at stop; %d lines waiting "
                    "are lost", self.label, self.path, STOP_TIMEOUT_S, len(self._pending))
        self._closed = True
        self._done()

    def _done(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._give_up is not None and self._give_up.active():
            self._give_up.cancel()
        self._give_up = None
        for d in self._stopping or ():
            d.callback(None)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
