"""``io.l5d.inMemory``: saved dtabs kept in this process only (the default; Twisted shell).

Edits change routing until l5d stops; a restart starts again from the config's ``dtab``.
Versions count up from ``"1"`` per router; the last ``history_size`` changes are kept.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer

from dtab import Dtab
from l5d.dtab_store.backend import Subscriber
from l5d.dtab_store.model import Change, Conflict, Refused, Versioned, Written

__all__ = ["InMemoryBackend", "KIND"]

KIND = "io.l5d.inMemory"


class InMemoryBackend:
    """Saved dtabs in a dict. Reactor-thread only.

    :param wall: epoch seconds, for the changes' ``at``.
    :param history_size: how many changes per router :meth:`history` keeps.
    """

    kind = KIND

    def __init__(self, wall: Callable[[], float], history_size: int = 20) -> None:
        self._wall = wall
        self._history_size = history_size
        self._current: dict[str, Versioned] = {}
        self._counts: dict[str, int] = {}
        self._history: dict[str, list[Change]] = {}
        self._subscribers: list[Subscriber] = []

    def start(self) -> "defer.Deferred[None]":
        return defer.succeed(None)

    def stop(self) -> "defer.Deferred[None]":
        return defer.succeed(None)

    def read(self, router: str) -> Versioned | None:
        return self._current.get(router)

    def write(self, router: str, text: str, expected_version: str | None,
              who: str) -> "defer.Deferred[Written | Conflict | Refused]":
        current = self._current.get(router)
        if (current.version if current is not None else None) != expected_version:
            return defer.succeed(Conflict(current))
        count = self._counts.get(router, 0) + 1
        new = Versioned(Dtab.read(text), str(count))
        change = Change(router, new.version, text,
                        None if current is None else current.version,
                        None if current is None else current.dtab.show_lines(),
                        who, self._wall())
        self._counts[router] = count
        self._current[router] = new
        kept = self._history.setdefault(router, [])
        kept.insert(0, change)
        del kept[self._history_size:]
        for callback in list(self._subscribers):
            callback(router, new)
        return defer.succeed(Written(new, change))

    def history(self, router: str) -> list[Change]:
        return list(self._history.get(router, ()))

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)
