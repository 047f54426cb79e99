"""l5d.http.headers: Linkerd's header rules on bytes, table by table."""

from __future__ import annotations

import base64
import random
import struct
from typing import NamedTuple
from urllib.parse import unquote_plus

import pytest

from dtab import Dtab, DtabParseError
from l5d.http.headers import (
    DST_HEADERS,
    DTAB_HEADERS,
    HOP_BY_HOP,
    TraceId,
    connection_tokens,
    decode_trace,
    encode_err,
    local_dtab,
    next_trace,
    strip_hop_by_hop,
    values,
    via_count,
)


def hdrs(text: str) -> list[tuple[bytes, bytes]]:
    """``"A: 1; B: 2"`` -> header pairs (concrete syntax for the tables)."""
    out = []
    for item in text.split(";"):
        if item.strip():
            name, _, value = item.partition(":")
            out.append((name.strip().encode(), value.strip().encode()))
    return out


class Case(NamedTuple):
    name: str
    headers: str
    expected: object


class ConnectionTokensTests:
    """connection_tokens: the lower-cased names every Connection header lists."""

    CASES = [
        Case("none", "Host: a", frozenset()),
        Case("one", "Connection: close", {b"close"}),
        Case("list", "Connection: keep-alive, X-Secret", {b"keep-alive", b"x-secret"}),
        Case("case-and-space", "connection:  Upgrade ,\tX-A", {b"upgrade", b"x-a"}),
        Case("two-headers", "Connection: a; CONNECTION: b", {b"a", b"b"}),
        Case("empty-items", "Connection: , ,a,,", {b"a"}),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_tokens(self, case: Case) -> None:
        """Every listed name, lower-cased, blanks ignored."""
        assert connection_tokens(hdrs(case.headers)) == frozenset(case.expected), case.name


class StripHopByHopTests:
    """strip_hop_by_hop: the RFC 9110 hop-by-hop set plus what Connection lists."""

    CASES = [
        Case("plain", "Host: a; X: 1", ["Host", "X"]),
        Case(
            "fixed-set",
            "Connection: close; Keep-Alive: 5; TE: trailers; Trailer: X; "
            "Transfer-Encoding: chunked; Upgrade: h2c; Proxy-Connection: x; "
            "Proxy-Authorization: b; Proxy-Authenticate: c; Host: a",
            ["Host"],
        ),
        Case("listed", "Connection: X-Secret; X-Secret: s; X-Other: o", ["X-Other"]),
        Case("case", "CONNECTION: x-SECRET; X-Secret: s; Host: a", ["Host"]),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_strip(self, case: Case) -> None:
        """What is left, in order, with the original case."""
        got = [n.decode() for n, _ in strip_hop_by_hop(hdrs(case.headers))]
        assert got == case.expected, case.name

    def test_also(self) -> None:
        """``also`` names are dropped too."""
        got = strip_hop_by_hop(hdrs("Via: 1.1 a; Host: a"), also=frozenset({b"via"}))
        assert got == [(b"Host", b"a")]

    def test_constant_sets(self) -> None:
        """The sets are lower-case and disjoint where they must be."""
        for name in HOP_BY_HOP | DTAB_HEADERS | DST_HEADERS:
            assert name == name.lower()
        assert not HOP_BY_HOP & DTAB_HEADERS and not HOP_BY_HOP & DST_HEADERS


class ViaCountTests:
    """via_count: comma-separated entries across every Via header (maxCallDepth)."""

    CASES = [
        Case("none", "Host: a", 0),
        Case("one", "Via: 1.1 linkerd", 1),
        Case("list", "Via: 1.1 a, 1.1 b", 2),
        Case("two-headers", "Via: 1.1 a, 1.1 b; via: 1.0 c", 3),
        Case("blanks", "Via: , 1.1 a ,, ", 1),
        Case("empty", "Via: ", 0),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_count(self, case: Case) -> None:
        assert via_count(hdrs(case.headers)) == case.expected, case.name

    def test_values_in_order(self) -> None:
        """values() returns every value of a name, case-insensitively, in order."""
        assert values(hdrs("A: 1; b: 2; a: 3"), b"a") == [b"1", b"3"]


class LocalDtabTests:
    """local_dtab: l5d-ctx-dtab values, then l5d-dtab values, concatenated (reference 3.4)."""

    CASES = [
        Case("none", "Host: a", ""),
        Case("user", "l5d-dtab: /a=>/b", "/a=>/b"),
        Case("ctx", "L5D-CTX-DTAB: /a=>/b", "/a=>/b"),
        Case("ctx-first", "l5d-dtab: /u=>/1; l5d-ctx-dtab: /c=>/2", "/c=>/2;/u=>/1"),
        Case("repeated", "l5d-ctx-dtab: /a=>/1; l5d-ctx-dtab: /b=>/2", "/a=>/1;/b=>/2"),
        Case("dtab-local-ignored", "dtab-local: /a=>/b", ""),
    ]

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_dtab(self, case: Case) -> None:
        assert local_dtab(hdrs(case.headers)) == Dtab.read(case.expected), case.name

    def test_multi_dentry_value(self) -> None:
        """One header value may hold several dentries."""
        assert local_dtab([(b"l5d-dtab", b"/a=>/1; /b=>/2")]) == Dtab.read("/a=>/1;/b=>/2")

    @pytest.mark.parametrize("value", [b"/a=>", b"a=>/b", b"/a=>/b |", b"\xff"])
    def test_unparsable(self, value: bytes) -> None:
        """A value that does not parse raises DtabParseError (the router answers 400)."""
        with pytest.raises(DtabParseError):
            local_dtab([(b"l5d-dtab", value)])


class EncodeErrTests:
    """encode_err: Java URLEncoder form encoding in ISO-8859-1, cut without splitting an escape."""

    CASES = [
        ("plain", "abc", 100, b"abc"),
        ("space", "a b", 100, b"a+b"),
        ("newline", "a\nb", 100, b"a%0Ab"),
        ("reserved", "/svc/x => y!", 100, b"%2Fsvc%2Fx+%3D%3E+y%21"),
        ("java-safe", "a-b_c.d*e", 100, b"a-b_c.d*e"),
        ("tilde", "~", 100, b"%7E"),
        ("latin-1", "caf\u00e9", 100, b"caf%E9"),
        ("unmappable", "\u20ac", 100, b"%3F"),
        ("cut-plain", "abcdef", 3, b"abc"),
        ("cut-before-escape", "a\nb", 2, b"a"),
        ("cut-inside-escape", "a\nb", 3, b"a"),
        ("cut-after-escape", "a\nb", 4, b"a%0A"),
    ]

    @pytest.mark.parametrize("name, message, limit, expected", CASES, ids=[c[0] for c in CASES])
    def test_encode(self, name: str, message: str, limit: int, expected: bytes) -> None:
        assert encode_err(message, limit) == expected, name

    @pytest.mark.parametrize(
        "message",
        [
            "Unable to route request!\n\nservice name: /svc/x",
            'Unknown destination: Request("GET /", from /1.2.3.4:5)',
        ],
    )
    def test_round_trip(self, message: str) -> None:
        """Form-decoding gives the message back."""
        assert unquote_plus(encode_err(message, 8192).decode(), encoding="latin-1") == message


class TraceTests:
    """l5d-ctx-trace and l5d-reqid (reference 4.3)."""

    def test_encode_is_four_big_endian_fields(self) -> None:
        t = TraceId(1, 2, 0xABCDEF, 6)
        raw = base64.b64decode(t.encode())
        assert raw == struct.pack(">QQQQ", 1, 2, 0xABCDEF, 6)
        assert t.reqid == b"0000000000abcdef"

    DECODE = [
        ("32-bytes", base64.b64encode(struct.pack(">QQQQ", 1, 2, 3, 4)), TraceId(1, 2, 3, 4)),
        ("40-bytes", base64.b64encode(struct.pack(">QQQQQ", 1, 2, 3, 4, 5)),
         TraceId(1, 2, 5 << 64 | 3, 4)),
        ("short", base64.b64encode(b"x" * 24), None),
        ("long", base64.b64encode(b"x" * 48), None),
        ("not-base64", b"!!!!", None),
        ("bad-padding", b"AAA", None),
        ("empty", b"", None),
    ]

    @pytest.mark.parametrize("name, value, expected", DECODE, ids=[c[0] for c in DECODE])
    def test_decode(self, name: str, value: bytes, expected: TraceId | None) -> None:
        assert decode_trace(value) == expected, name

    def test_round_trip(self) -> None:
        """decode(encode(t)) == t on random ids."""
        rng = random.Random(1234)
        for _ in range(100):
            t = TraceId(
                rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64), rng.choice([0, 2, 6])
            )
            assert decode_trace(t.encode()) == t

    def test_128_bit_trace_round_trip(self) -> None:
        """A 128-bit trace id goes out as 40 bytes, its high half last (Finagle's
        ``TraceId.serialize``); l5d-reqid is its low half."""
        t = TraceId(1, 2, 0xAAAA << 64 | 0xBBBB, 6)
        raw = base64.b64decode(t.encode())
        assert raw == struct.pack(">QQQQQ", 1, 2, 0xBBBB, 6, 0xAAAA)
        assert decode_trace(t.encode()) == t
        assert t.reqid == b"000000000000bbbb"

    def test_new_root(self) -> None:
        """No incoming trace: a new root whose span, parent and trace ids are equal."""
        t = next_trace(None, random.Random(1))
        assert t.span_id == t.parent_id == t.trace_id
        assert t.flags == 0

    def test_child_span(self) -> None:
        """An incoming trace: same trace id and flags, its span becomes the parent."""
        incoming = TraceId(11, 22, 33, 6)
        t = next_trace(incoming, random.Random(1))
        assert (t.parent_id, t.trace_id, t.flags) == (11, 33, 6)
        assert t.span_id != 11

    def test_seeded(self) -> None:
        """Ids come only from the injected rng."""
        assert next_trace(None, random.Random(7)) == next_trace(None, random.Random(7))
