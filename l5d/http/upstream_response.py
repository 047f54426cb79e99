"""A response head from upstream, as the proxy needs it (pure).

:class:`ResponseHead` is built while llhttp parses a response: the headers forwarded as
they are, already laid out as the outgoing head's lines, and the few the exchange must
decide on (framing, hop-by-hop, ``Via``, ``l5d-*``). Header names are sorted into those
kinds once per distinct name. :data:`RESPONSES` remembers heads read before by their
exact bytes, so a repeated response is not parsed again. The framing kinds
(``FRAMING_*``) say how the body is delimited.
"""

from __future__ import annotations

from typing import Any

from l5d.http.headers import HOP_BY_HOP
from l5d.http.memo import HeadMemo

# response framing kinds
FRAMING_LENGTH = 1
FRAMING_CHUNKED = 2
FRAMING_CLOSE = 3
FRAMING_NONE = 4

# what a response header means to the proxy, decided once per distinct name as received
KEEP, LENGTH, TRANSFER_ENCODING, VIA, CONNECTION, HOP, L5D = range(7)
_NAME_KINDS: dict[bytes, int] = {}
_NAME_KINDS_MAX = 4096
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})
#: response heads read before, by their exact bytes (all upstreams share it: the outcome
#: depends on the bytes alone); see ResponseHead.down
RESPONSES = HeadMemo()


def _name_kind(name: bytes) -> int:
    lower = name.lower()
    if lower == b"content-length":
        kind = LENGTH
    elif lower == b"transfer-encoding":
        kind = TRANSFER_ENCODING
    elif lower == b"via":
        kind = VIA
    elif lower == b"connection":
        kind = CONNECTION
    elif lower in HOP_BY_HOP:
        kind = HOP
    elif lower.startswith(b"l5d-"):
        kind = L5D
    else:
        kind = KEEP
    if len(_NAME_KINDS) < _NAME_KINDS_MAX:
        _NAME_KINDS[name] = kind
    return kind


class ResponseHead:
    """A response head as the proxy needs it, built while llhttp parses.

    ``lines`` is the outgoing head so far: a slot for the status line, then
    ``name, ": ", value, CRLF`` for every header forwarded as is. ``special`` holds
    ``(kind, name, value)`` for the rest (framing, hop-by-hop, ``Via``, ``l5d-*``), which
    the exchange decides on, but for Content-Length (``content_length`` is its last
    value) and a plain ``Connection: keep-alive`` or ``close``, which say nothing the
    parser does not already know.
    """

    __slots__ = ("status", "reason", "lines", "special", "content_length", "version", "length",
                 "down")

    def __init__(self) -> None:
        self.status = 0
        self.reason = b""
        self.lines: list[bytes] = [b""]
        self.special: list[tuple[int, bytes, bytes]] = []
        self.content_length: bytes | None = None
        #: set when the head is remembered in RESPONSES (then it is never changed again):
        #: the HTTP version, the Content-Length as an int, and the downstream heads built
        #: from it so far (the exchange's memo, by the shape of the request)
        self.version = ""
        self.length = -1
        self.down: dict[int, Any] | None = None

    @classmethod
    def of(cls, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> "ResponseHead":
        """Build one from parsed headers (tests, tools)."""
        head = cls()
        head.status = status
        head.reason = reason
        for name, value in headers:
            head.add(name, value)
        return head

    def add(self, name: bytes, value: bytes) -> None:
        kind = _NAME_KINDS.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind == KEEP:
            self.lines += (name, b": ", value, b"\r\n")
        elif kind == LENGTH:
            self.content_length = value
        elif kind != CONNECTION or value not in _PLAIN_CONNECTION:
            self.special.append((kind, name, value))
