"""A bounded cache of bindings that follows namer changes (pure; reactor-thread only).

Finagle re-evaluates bindings through ``Activity``; here namers are snapshots
with a ``generation`` counter, so a cached binding is reused only while the
interpreter's generation is unchanged. Keys are ``(dtab, path)``; the cache is
an LRU of at most ``max_size`` entries, and an entry not used for
``idle_ttl_s`` seconds (measured with the injected ``now``) is dropped, so memory
stays bounded however many distinct names arrive.

A hit returns the very same state object: nothing is rebuilt. An entry idle for
``idle_ttl_s`` or longer is never a hit, whether or not it has been dropped yet.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from dtab.activity import State
from dtab.bind import Interpreter
from dtab.dtab import Dtab
from dtab.path import Path

DEFAULT_MAX_SIZE = 1000
DEFAULT_IDLE_TTL_S = 600.0


class BindingCache:
    """Memoises :meth:`Interpreter.bind`. NOT thread safe: use from one thread.

    :param interpreter: does the binding on a miss.
    :param now: zero-argument callable returning monotonic seconds.
    """

    def __init__(
        self,
        interpreter: Interpreter,
        now: Callable[[], float],
        max_size: int = DEFAULT_MAX_SIZE,
        idle_ttl_s: float = DEFAULT_IDLE_TTL_S,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size: expected >= 1, got {max_size!r}")
        if idle_ttl_s <= 0:
            raise ValueError(f"idle_ttl_s: expected > 0, got {idle_ttl_s!r}")
        self._interpreter = interpreter
        self._now = now
        self._max_size = max_size
        self._idle_ttl_s = idle_ttl_s
        # key -> [generation, state, last used]
        self._entries: OrderedDict[tuple[Dtab, Path], list] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def bind(self, dtab: Dtab, path: Path) -> State:
        """The binding of ``path`` under ``dtab``, from the cache when still current."""
        key = (dtab, path)
        generation = self._interpreter.generation
        now = self._now()
        entries = self._entries
        entry = entries.get(key)
        if entry is not None and entry[0] == generation and now - entry[2] < self._idle_ttl_s:
            entry[2] = now  # the entry is a list: a hit updates it in place
            entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        state = self._interpreter.bind(dtab, path)
        entries[key] = [generation, state, now]
        entries.move_to_end(key)
        self._evict(now)
        return state

    def expire(self) -> int:
        """Drop entries idle for ``idle_ttl_s`` or longer; returns how many went."""
        return self._evict(self._now())

    def _evict(self, now: float) -> int:
        dropped = 0
        entries = self._entries
        while len(entries) > self._max_size:
            entries.popitem(last=False)
            dropped += 1
        # entries are in least-recently-used order, so idle ones are at the front
        while entries:
            key, (_, _, used) = next(iter(entries.items()))
            if now - used < self._idle_ttl_s:
                break
            del entries[key]
            dropped += 1
        self.evictions += dropped
        return dropped

    def clear(self) -> None:
        self._entries.clear()
