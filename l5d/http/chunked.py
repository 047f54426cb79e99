"""Where a chunked request body ends in the bytes read, for a body llhttp accepts (pure).

llhttp reports a body's data but not where its chunk framing (size lines,
extensions, trailers) ends, and the server must know the exact byte where the next
pipelined request begins: that request's line is checked there and nowhere else
(a malformed line must not be excused by a well-formed one further on). A
:class:`ChunkedEnd` walks the framing alongside llhttp, which has already checked
the same bytes strictly, so only the structure is followed here:

    chunked-body = *( chunk-size [ chunk-ext ] CRLF chunk-data CRLF )
                   "0" [ chunk-ext ] CRLF *( field-line CRLF ) CRLF

Chunk data is skipped by count, so the cost is one ``find`` per framing line, not
per byte. State carried between reads is bounded: at most :data:`KEEP` bytes of a
line cut by a read boundary (enough for the 16 hex digits llhttp allows).
"""

from __future__ import annotations

import re

__all__ = ["ChunkedEnd"]

KEEP = 32
_SIZE, _DATA, _TRAILER = range(3)
_HEX = re.compile(rb"[0-9A-Fa-f]+")


class ChunkedEnd:
    """Follows one chunked body across reads; :meth:`feed` tells where it ends."""

    __slots__ = ("_state", "_left", "_line")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # chunk data bytes and its CRLF still to skip
        self._line = b""  # the start of a framing line cut by the end of a read

    def feed(self, data: bytes, pos: int = 0) -> int:
        """Walk ``data[pos:]``; the offset just past the body's last byte, or -1 when the
        body goes on in a later read.

        :raises ValueError: when a size line holds no hex digit (llhttp would have
            refused it first).
        """
        end = len(data)
        while pos < end:
            if self._state == _DATA:
                take = min(self._left, end - pos)
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _SIZE
                continue
            eol = data.find(b"\n", pos)
            if eol < 0:
                self._line = (self._line + data[pos:])[:KEEP]
                return -1
            line = self._line + data[pos:eol]
            self._line = b""
            pos = eol + 1
            if self._state == _SIZE:
                m = _HEX.match(line)
                if m is None:
                    raise ValueError(f"no chunk size in {line[:KEEP]!r}")
                size = int(m.group(), 16)
                if size:
                    self._left = size + 2
                    self._state = _DATA
                else:
                    self._state = _TRAILER
            elif line == b"\r":
                return pos  # the empty line after the last chunk and its trailer fields
        return -1
