"""Linkerd's HTTP header rules, on bytes (pure).

Headers are lists of ``(name, value)`` byte pairs as they arrived; names keep
their case, comparisons use the lower-cased name. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import random
import struct
from typing import NamedTuple
from urllib.parse import quote_plus

from dtab import Dtab

Header = tuple[bytes, bytes]

#: Removed from requests and responses, plus every header ``Connection`` names.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
    b"proxy-authenticate", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
#: Read by the router and not forwarded as such.
DTAB_HEADERS = frozenset({b"l5d-dtab", b"l5d-ctx-dtab"})
#: Written by the router on the way out; an incoming copy is replaced.
DST_HEADERS = frozenset({b"l5d-dst-service", b"l5d-dst-client", b"l5d-dst-residual",
                         b"l5d-reqid", b"l5d-ctx-trace"})

VIA_VALUE_11 = b"1.1 linkerd"
VIA_VALUE_10 = b"1.0 linkerd"


def connection_tokens(headers: list[Header]) -> frozenset[bytes]:
    """Lower-cased names listed in every ``Connection`` header."""
    out: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            for token in value.split(b","):
                token = token.strip(b" \t").lower()
                if token:
                    out.add(token)
    return frozenset(out)


def strip_hop_by_hop(headers: list[Header], also: frozenset[bytes] = frozenset()) -> list[Header]:
    """Headers without the hop-by-hop ones, those ``Connection`` lists, and ``also``."""
    listed = connection_tokens(headers)
    drop = HOP_BY_HOP | listed | also
    return [(n, v) for n, v in headers if n.lower() not in drop]


def values(headers: list[Header], name: bytes) -> list[bytes]:
    """Every value of header ``name`` (lower-case), in order."""
    return [v for n, v in headers if n.lower() == name]


def via_count(headers: list[Header]) -> int:
    """Comma-separated entries across all ``Via`` headers (Linkerd's maxCallDepth count)."""
    count = 0
    for v in values(headers, b"via"):
        count += sum(1 for part in v.split(b",") if part.strip())
    return count


def local_dtab(headers: list[Header]) -> Dtab:
    """``l5d-ctx-dtab`` values then ``l5d-dtab`` values, each parsed and concatenated.

    :raises dtab.DtabParseError: when any value does not parse (the router answers 400).
    """
    ctx = [v for n, v in headers if n.lower() == b"l5d-ctx-dtab"]
    user = [v for n, v in headers if n.lower() == b"l5d-dtab"]
    dtab = Dtab()
    for raw in ctx + user:
        dtab = dtab + Dtab.read(raw.decode("latin-1"))
    return dtab


def encode_err(message: str, limit: int) -> bytes:
    """``l5d-err``: form-encoded like Java's URLEncoder (ISO-8859-1, space as ``+``), cut to
    ``limit``."""
    encoded = quote_plus(message, safe="*", encoding="latin-1", errors="replace")
    encoded = encoded.replace("~", "%7E")
    data = encoded.encode("ascii")
    if len(data) > limit:
        data = data[:limit]
        cut = data.rfind(b"%", max(0, len(data) - 2))
        if cut >= 0:
            data = data[:cut]
    return data


class TraceId(NamedTuple):
    """Finagle's trace context: 64-bit span and parent ids, a 64- or 128-bit trace id, and
    Finagle's flags (:mod:`l5d.http.trace`: Debug, SamplingKnown, Sampled).

    A root span is its own parent (``parent_id == span_id``), as Finagle writes it. A named
    tuple, as one is made per request when tracers are configured (a frozen dataclass took
    twice as long to make).
    """

    span_id: int
    parent_id: int
    trace_id: int
    flags: int = 0

    def encode(self) -> bytes:
        """``l5d-ctx-trace``: base64 of the four big-endian 8-byte fields (Finagle's
        ``TraceId.serialize``), and a fifth with the high 64 bits of a 128-bit trace id."""
        trace = self.trace_id
        raw = struct.pack(">QQQQ", self.span_id, self.parent_id, trace & _LOW64, self.flags)
        if trace > _LOW64:
            raw += struct.pack(">Q", trace >> 64)
        return base64.b64encode(raw)

    @property
    def reqid(self) -> bytes:
        """``l5d-reqid``: the trace id's low 64 bits as 16 lower-case hex digits."""
        return b"%016x" % (self.trace_id & _LOW64)


_LOW64 = (1 << 64) - 1


def decode_trace(value: bytes) -> TraceId | None:
    """Parse ``l5d-ctx-trace`` (32 or 40 bytes base64; the last 8 of 40 are the high bits of
    a 128-bit trace id); ``None`` when malformed."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) not in (32, 40):
        return None
    span, parent, trace, flags = struct.unpack(">QQQQ", raw[:32])
    if len(raw) == 40:
        trace |= struct.unpack(">Q", raw[32:])[0] << 64
    return TraceId(span, parent, trace, flags)


_PACK = struct.Struct(">QQQQ").pack
_B64 = binascii.b2a_base64


def new_root_trace(rng: random.Random) -> tuple[bytes, bytes]:
    """``(l5d-reqid, l5d-ctx-trace)`` for a request that arrived without a trace (the hot path)."""
    span = rng.getrandbits(64)
    return b"%016x" % span, _B64(_PACK(span, span, span, 0), newline=False)


def next_trace(incoming: TraceId | None, rng: random.Random) -> TraceId:
    """A new span: a child of ``incoming`` or a new root (whose parent is itself, as Finagle
    does)."""
    span = rng.getrandbits(64)
    if incoming is None:
        return TraceId(span, span, span, 0)
    return TraceId(span, incoming.span_id, incoming.trace_id, incoming.flags)
