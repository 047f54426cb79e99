"""``l5d-ctx-deadline``: Finagle's request deadline on the wire, read, combined and written (pure).

The header holds ``"<timestamp_ns> <deadline_ns>"``: two decimal int64 nanoseconds
since the Unix epoch (when the deadline was set, and when it passes). Several values
combine into the latest timestamp and the earliest deadline; values that do not parse
are ignored, as Finagle ignores them.

Linkerd 1.x only propagated deadlines (its issue #663); l5d enforces them: a request
whose deadline has passed is answered 503 without being sent, the time left caps every
attempt's timeout, and the next hop receives the strictest deadline of the incoming
one, ``totalTimeoutMs`` and ``requestAttemptTimeoutMs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["Deadline", "combine", "encode", "parse"]

NS = 1_000_000_000
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the deadline was set and when it passes, in nanoseconds since the epoch."""

    timestamp_ns: int
    deadline_ns: int

    @classmethod
    def after(cls, now_s: float, timeout_s: float) -> "Deadline":
        """A deadline ``timeout_s`` from ``now_s`` (wall-clock seconds)."""
        now_ns = int(now_s * NS)
        return cls(now_ns, now_ns + int(timeout_s * NS))

    def remaining_s(self, now_s: float) -> float:
        """Seconds left at ``now_s`` (negative once passed)."""
        return (self.deadline_ns - int(now_s * NS)) / NS

    def combined(self, other: "Deadline | None") -> "Deadline":
        """The stricter of two (latest timestamp, earliest deadline)."""
        if other is None:
            return self
        return Deadline(max(self.timestamp_ns, other.timestamp_ns),
                        min(self.deadline_ns, other.deadline_ns))


def _int64(text: bytes) -> int | None:
    body = text[1:] if text[:1] == b"-" else text
    if not body or not body.isdigit() or len(body) > 19:
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def parse(values: Iterable[bytes]) -> Deadline | None:
    """The combined deadline of ``l5d-ctx-deadline`` values; ``None`` if none parses."""
    out: Deadline | None = None
    for value in values:
        fields = value.strip(b" \t").split(b" ")
        if len(fields) < 2:
            continue
        timestamp, deadline = _int64(fields[0]), _int64(fields[1])
        if timestamp is None or deadline is None:
            continue
        out = Deadline(timestamp, deadline).combined(out)
    return out


def combine(*deadlines: Deadline | None) -> Deadline | None:
    """The strictest of the given deadlines (``None`` ones are skipped)."""
    out: Deadline | None = None
    for d in deadlines:
        if d is not None:
            out = d.combined(out)
    return out


def encode(deadline: Deadline) -> bytes:
    """The header value."""
    return b"%d %d" % (deadline.timestamp_ns, deadline.deadline_ns)
