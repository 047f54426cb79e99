"""The one-call head reader agrees with llhttp and the strict checks, or stays out of the way.

:func:`l5d.http.quick_head.quick_head` reads a subset of request heads; for every head
it reads, the server connection must do exactly what it does when the head goes
through llhttp and :mod:`l5d.http.framing` (the strict path): the same request head
fields, the same answer bytes. Heads are generated on a seeded ``random.Random`` from
pieces that probe each rule (odd bytes in the target and values, OWS, obs-fold, bare
LF, framing and hop-by-hop fields, limits), plus a table of named cases.
"""

from __future__ import annotations

import random

import pytest

from l5d.http import server_input
from l5d.http.limits import ServerLimits
from l5d.http.memo import HeadMemo
from l5d.http.quick_head import quick_head
from tests.helpers.server_harness import ServerPump

SMALL = ServerLimits(max_initial_line=40, max_headers=120, max_header_count=4)
LIMITS = (ServerLimits(), SMALL)

METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE",
           b"CONNECT", b"get", b"FOO", b"GET "]
TARGETS = [b"/", b"/a?b=1", b"/a#f", b"//a", b"http://svc:8080/x?y", b"http://svc",
           b"/a b", b"http://svc:8080", b"http://", b"http:///a", b"HTTP://a/", b"http://a@b/",
           b"http://[::1]:80/p", b"http://a?b", b"https://a/", b"*", b"a/b", b"/" + b"x" * 45,
           b"http://a_b.c~d-e/"]
VERSIONS = [b"HTTP/1.1"] * 6 + [b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 "]
FIELDS = [b"Host: svc", b"Host: svc:8080", b"Host:svc", b"Host:  svc  ", b"Host: a b",
          b"Host: u@svc", b"Host:", b"Accept: */*", b"X: a\tb", b"X:\t a \t", b"X: \x80\xff",
          b"X: a\x7fb", b"X: a\x00b", b"X: a\x01", b"X:", b"X : a", b": a", b"X\x80: a",
          b"Content-Length: 0", b"Content-Length: 5", b"content-length: 0",
          b"Transfer-Encoding: chunked", b"Connection: close", b"Connection: keep-alive",
          b"Connection: upgrade", b"Upgrade: websocket", b"Proxy-Connection: close",
          b"Keep-Alive: 5", b"TE: trailers", b"Expect: 100-continue", b"l5d-dtab: /a=>/b",
          b"l5d-dtab: /a=>", b"l5d-ctx-deadline: 1", b"Via: 1.1 x", b"Transfer_Encoding: x",
          b"x-b3-traceid: 1", b"Cookie: a=" + b"c" * 60, b" folded", b"\tfolded"]
ENDS = [b"\r\n"] * 12 + [b"\n", b"\r"]


def _pick(rng: random.Random, choices: list[bytes], good: int) -> bytes:
    """Mostly one of the first ``good`` choices (a head the quick reader may take), else any."""
    return rng.choice(choices[:good] if rng.random() < 0.85 else choices)


def _random_head(rng: random.Random) -> bytes:
    line = b"%s %s %s" % (_pick(rng, METHODS, 8), _pick(rng, TARGETS, 6),
                          _pick(rng, VERSIONS, 6))
    if rng.random() < 0.05:  # a stray byte somewhere in the target
        cut = line.index(b" ") + 2
        line = line[:cut] + bytes([rng.randrange(256)]) + line[cut:]
    fields = [_pick(rng, FIELDS, 11) for _ in range(rng.randrange(4))]
    if rng.random() < 0.9:
        fields.append(b"Host: svc")
    rng.shuffle(fields)
    lines = [line, *fields]
    head = b"".join(part + _pick(rng, ENDS, 1) for part in lines) + _pick(rng, ENDS, 1)
    if rng.random() < 0.05:
        head = (b"\r\n" if rng.random() < 0.5 else b"") + head + rng.choice(
            [b"x", b"GET / HTTP/1.1\r\n", b"\r\n"])
    return head


def _outcome(data: bytes, limits: ServerLimits) -> tuple:
    """What the server does with ``data`` as one read: the heads it accepted, what it wrote."""
    pump = ServerPump(limits)
    pump.conn._heads = HeadMemo(max_entries=0)
    pump.feed(data)
    heads = [(h.method, h.target, h.version, h.headers, h.keep_alive, h.chunked,
              h.content_length, h.absolute, h.expect_continue,
              None if h.info is None else (h.info.host, h.info.plain, h.info.lines, h.info.via,
                                           h.info.l5d, h.info.dtab, h.info.connection))
             for h in (ex.head for ex in pump.exchanges)]
    return heads, pump.output(), pump.closing


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch):
    """``_outcome`` with the quick reader turned off (llhttp and the strict checks only)."""

    def outcome(data: bytes, limits: ServerLimits) -> tuple:
        with monkeypatch.context() as m:
            m.setattr(server_input, "quick_head", lambda data, limits: None)
            return _outcome(data, limits)

    return outcome


class QuickHeadTests:
    """quick_head against the strict path."""

    @pytest.mark.parametrize("name, data, quick", [
        ("origin form", b"GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n", True),
        ("absolute form", b"GET http://svc:8080/x HTTP/1.1\r\nHost: svc:8080\r\n\r\n", True),
        ("absolute form, no path", b"GET http://svc HTTP/1.1\r\nHost: svc\r\n\r\n", True),
        ("OWS kept where llhttp keeps it", b"GET / HTTP/1.1\r\nHost:  svc\r\nX:\t a \t\r\n\r\n",
         True),
        ("no Host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", False),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", False),
        ("double space", b"GET /  HTTP/1.1\r\nHost: svc\r\n\r\n", False),
        ("HTTP/1.0", b"GET / HTTP/1.0\r\nHost: svc\r\n\r\n", False),
        ("Content-Length", b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\n\r\n", False),
        ("Connection", b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", False),
        ("Upgrade", b"GET / HTTP/1.1\r\nHost: svc\r\nUpgrade: h2c\r\n\r\n", False),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: svc\r\nX: a\r\n b\r\n\r\n", False),
        ("bare LF", b"GET / HTTP/1.1\nHost: svc\n\n", False),
        ("empty authority", b"GET http:///a HTTP/1.1\r\nHost: svc\r\n\r\n", False),
        ("userinfo", b"GET http://u@svc/ HTTP/1.1\r\nHost: svc\r\n\r\n", False),
        ("pipelined", b"GET / HTTP/1.1\r\nHost: svc\r\n\r\nGET / HTTP/1.1\r\n", False),
        ("leading CRLF", b"\r\nGET / HTTP/1.1\r\nHost: svc\r\n\r\n", False),
        ("lookalike name", b"GET / HTTP/1.1\r\nHost: svc\r\nContent_Length: 1\r\n\r\n", False),
    ])
    def test_named_cases(self, strict, name: str, data: bytes, quick: bool) -> None:
        """Each case is read quickly or not as listed, and the server does the same either way."""
        assert (quick_head(data, ServerLimits()) is not None) is quick, name
        assert _outcome(data, ServerLimits()) == strict(data, ServerLimits()), name

    def test_generated_heads_are_read_as_the_strict_path_reads_them(self, strict) -> None:
        """3,000 generated heads under two sets of limits: same heads, same bytes written."""
        rng = random.Random(1234)
        read = 0
        for i in range(3000):
            data = _random_head(rng)
            limits = LIMITS[i % 2]
            if quick_head(data, limits) is not None:
                read += 1
            assert _outcome(data, limits) == strict(data, limits), data
        assert 600 < read < 2400, read  # both paths were exercised

    def test_limits_are_left_to_the_strict_path(self) -> None:
        """A target or header block over the limits is not read quickly (414 and 431 come
        from the strict path); one just under them is."""
        target = b"/" + b"x" * 39
        assert quick_head(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % target, SMALL) is not None
        assert quick_head(b"GET %sx HTTP/1.1\r\nHost: a\r\n\r\n" % target, SMALL) is None
        fields = b"Host: a\r\n" + b"X: 1\r\n" * 3
        assert quick_head(b"GET / HTTP/1.1\r\n%s\r\n" % fields, SMALL) is not None
        assert quick_head(b"GET / HTTP/1.1\r\n%sX: 1\r\n\r\n" % fields, SMALL) is None
