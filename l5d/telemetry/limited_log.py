"""Rate-limited log lines on a reactor (Twisted shell over :mod:`l5d.telemetry.ratelimit`).

``log.warning(key, "rt/%s: no route to %s", label, name)`` writes the line through the
Python ``logging`` logger at once, unless ``key`` had a line less than ``interval_s`` ago;
then it is counted, and when the key's window closes a timer on the injected reactor
writes the latest of the held lines once with ``(M more suppressed)``. :meth:`flush`
(at stop) writes whatever is held. Messages are formatted only when written (lazy ``%``
arguments, as ``logging`` does). Reactor-thread only.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Hashable

from l5d.telemetry.ratelimit import DEFAULT_INTERVAL_S, DEFAULT_MAX_KEYS, OVERFLOW, LogRateLimiter

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """One line per key per ``interval_s`` to ``logger``.

    :param reactor: ``IReactorTime`` (``callLater``) for the window-close timer.
    :param now: monotonic seconds (the reactor's ``seconds`` is fine: only differences count).
    """

    def __init__(self, logger: logging.Logger, reactor: Any, now: Callable[[], float], *,
                 interval_s: float = DEFAULT_INTERVAL_S, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.logger = logger
        self._reactor = reactor
        self._now = now
        self.limiter = LogRateLimiter(interval_s, max_keys)
        self._timer: Any = None
        self._timer_at: float | None = None

    def warning(self, key: Hashable, msg: str, *args: Any) -> None:
        self.log(logging.WARNING, key, msg, *args)

    def info(self, key: Hashable, msg: str, *args: Any) -> None:
        self.log(logging.INFO, key, msg, *args)

    def log(self, level: int, key: Hashable, msg: str, *args: Any) -> None:
        """Write ``msg % args`` at ``level`` now, or hold it (see the module docstring)."""
        if not self.logger.isEnabledFor(level):
            return
        held = self.limiter.admit(key, (level, msg, args), self._now())
        if held is None:
            self._schedule()
        else:
            self._write(level, msg, args, held)

    def flush(self) -> None:
        """Write every held line now and stop the timer (at stop)."""
        self._cancel()
        for h in self.limiter.drain():
            self._held(h)

    def _write(self, level: int, msg: str, args: tuple, suppressed: int) -> None:
        if suppressed:
            self.logger.log(level, msg + " (%d more suppressed)", *args, suppressed)
        else:
            self.logger.log(level, msg, *args)

    def _held(self, held: Any) -> None:
        level, msg, args = held.latest
        if held.key is OVERFLOW:
            self.logger.log(level, "too many distinct log lines; the latest: " + msg
                            + " (%d more suppressed)", *args, held.count)
        else:
            self._write(level, msg, args, held.count)

    def _schedule(self) -> None:
        due = self.limiter.next_due()
        if due is None:
            return
        if self._timer is not None and self._timer.active():
            if self._timer_at is not None and self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._reactor.callLater(max(0.0, due - self._now()), self._tick)

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        for h in self.limiter.due(self._now()):
            self._held(h)
        self._schedule()

    def _cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self._timer_at = None
