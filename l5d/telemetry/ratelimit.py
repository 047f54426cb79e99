"""At most one log line per key per interval, and a count of what was held back (pure).

A :class:`LogRateLimiter` decides, for a stream of events each with a *key* (a service
name, a file, a watched collection), which ones become a line:

* the first event of a key, and the first one after its window (``interval_s`` from the
  key's last line) has closed, is let through (:meth:`LogRateLimiter.admit`);
* every other event inside the window is suppressed: counted, and kept as the key's
  latest suppressed event;
* :meth:`LogRateLimiter.due` hands back, for each key whose window has closed with
  suppressed events, the latest of them and how many there were (the caller logs it as
  ``<latest message> (M more suppressed)``: M events were not logged, the line shows the
  latest of them); that line opens the key's next window, so a key
  never gets more than one line per ``interval_s``. :meth:`LogRateLimiter.drain` does
  the same for every key at once (at stop), and :meth:`next_due` says when to call
  :meth:`due` next.

Memory is bounded: at most ``max_keys`` keys have a window open; an event of a new key
when the table is full is counted under the shared :data:`OVERFLOW` key instead.
Time is the caller's ``now`` (monotonic seconds). Not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

__all__ = ["DEFAULT_INTERVAL_S", "DEFAULT_MAX_KEYS", "LogRateLimiter", "OVERFLOW", "Held"]

DEFAULT_INTERVAL_S = 10.0
DEFAULT_MAX_KEYS = 1000


class _Overflow:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OVERFLOW"


OVERFLOW: Hashable = _Overflow()
"""The key events of new keys are counted under when the table is full."""


@dataclass(slots=True)
class _Window:
    opened: float  # when the key's last line went out
    suppressed: int = 0
    latest: Any = None  # the latest suppressed event


@dataclass(frozen=True, slots=True)
class Held:
    """What a closed window held back: the ``latest`` suppressed event and the ``count``."""

    key: Hashable
    latest: Any
    count: int


class LogRateLimiter:
    """One line per key per ``interval_s`` (see the module docstring).

    :param interval_s: the window, > 0.
    :param max_keys: how many keys may have a window open at once, >= 1.
    """

    __slots__ = ("interval_s", "max_keys", "_windows")

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S,
                 max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s: expected > 0, got {interval_s!r}")
        if max_keys < 1:
            raise ValueError(f"max_keys: expected >= 1, got {max_keys!r}")
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def admit(self, key: Hashable, event: Any, now: float) -> int | None:
        """Whether ``event`` of ``key`` is logged now.

        :return: ``None``: suppressed (counted, and kept as the key's latest); else log it
            now, saying that this many earlier events of the key were suppressed and not yet
            reported (0 unless :meth:`due` was not called when their window closed).
        """
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.max_keys:
                self._expire(now)
                if len(self._windows) >= self.max_keys:
                    return self._hold(self._overflow(now), event)
            self._windows[key] = _Window(now)
            return 0
        if now - window.opened >= self.interval_s:
            self._windows[key] = _Window(now)
            return window.suppressed
        return self._hold(window, event)

    def _overflow(self, now: float) -> _Window:
        window = self._windows.get(OVERFLOW)
        if window is None:  # may exceed max_keys by this one entry
            window = self._windows[OVERFLOW] = _Window(now - self.interval_s)
        return window

    @staticmethod
    def _hold(window: _Window, event: Any) -> None:
        window.suppressed += 1
        window.latest = event
        return None

    def next_due(self) -> float | None:
        """When the earliest window with suppressed events closes (``None``: none has any)."""
        times = [w.opened + self.interval_s for w in self._windows.values() if w.suppressed]
        return min(times) if times else None

    def due(self, now: float) -> list[Held]:
        """The suppressed events of every key whose window has closed by ``now``, oldest
        window first; each such key's next window opens at ``now``. Keys whose window closed
        with nothing held are forgotten."""
        out: list[Held] = []
        for key, window in list(self._windows.items()):
            if now - window.opened < self.interval_s:
                continue
            if window.suppressed:
                out.append(Held(key, window.latest, window.suppressed))
                self._windows[key] = _Window(now)
            else:
                del self._windows[key]
        return out

    def drain(self) -> list[Held]:
        """Every key's suppressed events, whatever its window (at stop); forgets every key."""
        out = [Held(key, w.latest, w.suppressed) for key, w in self._windows.items()
               if w.suppressed]
        self._windows.clear()
        return out

    def _expire(self, now: float) -> None:
        """Forget keys whose window closed with nothing held."""
        for key, window in list(self._windows.items()):
            if not window.suppressed and now - window.opened >= self.interval_s:
                del self._windows[key]
