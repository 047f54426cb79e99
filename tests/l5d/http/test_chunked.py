"""l5d.http.chunked: where a chunked body ends, however the reads cut it (tables + hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l5d.http.chunked import KEEP, ChunkedEnd

# (case, body, bytes after it)
BODIES = [
    ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", b"GET / HTTP/1.1\r\n"),
    ("no data chunk", b"0\r\n\r\n", b"x"),
    ("extensions", b"5;a=b;c\r\nhello\r\n0;last\r\n\r\n", b""),
    ("trailers", b"3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", b"POST"),
    ("data that looks like framing", b"9\r\n0\r\n\r\nGET \r\n0\r\n\r\n", b"GET"),
    ("upper-case hex, leading zeros", b"000A\r\n0123456789\r\n0\r\n\r\n", b"\r\n"),
]


def end_of(body: bytes, after: bytes, cuts: list[int]) -> int:
    """Feed body + after in pieces cut at ``cuts``; the end offset in the whole stream."""
    data = body + after
    walker = ChunkedEnd()
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        piece = data[start:cut]
        end = walker.feed(piece)
        if end >= 0:
            return start + end
        start = cut
    return -1


class ChunkedEndTests:
    @pytest.mark.parametrize("case,body,after", BODIES, ids=[b[0] for b in BODIES])
    def test_end_in_one_read(self, case, body, after) -> None:
        """The body ends exactly where its last CRLF does; what follows is not walked."""
        assert end_of(body, after, []) == len(body), case

    @pytest.mark.parametrize("case,body,after", BODIES, ids=[b[0] for b in BODIES])
    def test_end_wherever_the_reads_are_cut(self, case, body, after) -> None:
        """Cut into two reads at every offset (and byte by byte): the same end."""
        data = body + after
        for cut in range(1, len(data)):
            assert end_of(body, after, [cut]) == len(body), (case, cut)
        assert end_of(body, after, list(range(1, len(data)))) == len(body), case

    def test_start_offset(self) -> None:
        """``pos`` is where the body starts in the read (after the head)."""
        data = b"HEAD-BYTES" + b"2\r\nok\r\n0\r\n\r\nNEXT"
        assert ChunkedEnd().feed(data, 10) == len(data) - 4

    def test_unfinished_body(self) -> None:
        assert ChunkedEnd().feed(b"5\r\nhel") == -1
        assert ChunkedEnd().feed(b"0\r\nX-A: 1\r\n") == -1

    def test_state_between_reads_is_bounded(self) -> None:
        """A framing line cut by a read keeps at most KEEP bytes, however long it is."""
        walker = ChunkedEnd()
        assert walker.feed(b"5;" + b"e" * 10_000) == -1
        assert len(walker._line) == KEEP
        assert walker.feed(b"\r\nhello\r\n0\r\n\r\n") == 14

    def test_no_size_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            ChunkedEnd().feed(b";x\r\n")


@st.composite
def chunked_streams(draw) -> tuple[bytes, bytes, list[int]]:
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    body = b""
    for chunk in chunks:
        size = "%x" % len(chunk)
        size = draw(st.sampled_from([size, size.upper(), "0" + size]))
        ext = draw(st.sampled_from(["", ";a", ";a=b", ';q="x y"']))
        body += size.encode() + ext.encode() + b"\r\n" + chunk + b"\r\n"
    body += b"0" + draw(st.sampled_from([b"", b";e"])) + b"\r\n"
    for _ in range(draw(st.integers(0, 2))):
        body += b"X-T: " + draw(st.sampled_from([b"1", b"a b", b""])) + b"\r\n"
    body += b"\r\n"
    after = draw(st.binary(max_size=20))
    cuts = draw(st.lists(st.integers(1, max(1, len(body) + len(after) - 1)), max_size=6))
    return body, after, cuts


class ChunkedEndPropertyTests:
    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(chunked_streams())
    def test_end_is_the_body_length(self, stream) -> None:
        """Any chunk sizes, extensions, trailers and read cuts: the end is the body's length."""
        body, after, cuts = stream
        assert end_of(body, after, cuts) == len(body)
