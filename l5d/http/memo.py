"""A bounded memo from the exact bytes of a message head to what parsing it found (pure).

Keep-alive clients send the same request head again and again, and an upstream
answers with the same response head (byte for byte but for ``Date``, which changes
once a second). Parsing and checking a head is a pure function of its bytes and of
the limits it was checked against, so the data path does that work once per
distinct head and keeps the outcome here, keyed by the bytes themselves: a hit is
the outcome the strict path computed for exactly these bytes, never a guess.

Only outcomes that hold no per-connection or per-request state are stored (see
``KnownHead`` in :mod:`l5d.http.server` and ``KnownResponse`` in
:mod:`l5d.http.client`). The memo is bounded in entries and in key length, so
many distinct heads cost at most ``max_entries * max_key`` bytes of keys; when it
is full the oldest entry goes. Reactor-thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["HeadMemo", "MAX_ENTRIES", "MAX_KEY"]

#: entries per memo (one memo per router server, one for all upstream responses). With
#: MAX_KEY this bounds the memory: a request memo holds at most 256 keys of 2 KiB and their
#: parsed heads (~2 MiB at worst); the response memo 256 heads, each with at most 16
#: downstream variants of about its own size (~10 MiB at worst, ~1 MiB for heads of a
#: few hundred bytes)
MAX_ENTRIES = 256
#: longest head (bytes) worth remembering; longer ones are parsed every time
MAX_KEY = 2048


class HeadMemo:
    """``bytes -> outcome``, at most ``max_entries`` keys of at most ``max_key`` bytes.

    ``get`` is a plain ``dict.get`` (bound once: this is looked up per message).
    """

    __slots__ = ("_entries", "get", "max_entries", "max_key")

    def __init__(self, max_entries: int = MAX_ENTRIES, max_key: int = MAX_KEY) -> None:
        if max_entries < 0 or max_key < 0:
            raise ValueError(f"max_entries/max_key: expected >= 0, got {max_entries}/{max_key}")
        # OrderedDict: dropping the oldest is O(1) (a plain dict's first key is found by
        # skipping the slots of every key deleted before it)
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        self.get = self._entries.get
        self.max_entries = max_entries
        self.max_key = max_key

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries

    def put(self, key: bytes, outcome: Any) -> None:
        """Remember ``outcome`` for ``key`` unless the key is too long (or the memo is off)."""
        if len(key) > self.max_key or not self.max_entries:
            return
        entries = self._entries
        if key not in entries and len(entries) >= self.max_entries:
            entries.popitem(last=False)  # the oldest
        entries[key] = outcome
