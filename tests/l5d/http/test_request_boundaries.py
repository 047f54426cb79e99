"""The server finds each request where it begins, however the reads cut the stream (in memory).

A request line is checked at the exact byte its message begins, which the server
tracks across heads, Content-Length and chunked bodies (extensions, trailers) and
reads; a malformed line is refused by its own bytes, never excused by a well-formed
one further on (issue 8). Upgrade requests keep their body (:mod:`l5d.http.upgrade`).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.server_harness import ServerPump

GET = b"GET /g HTTP/1.1\r\nHost: svc\r\n\r\n"
POST_CL = b"POST /cl HTTP/1.1\r\nHost: svc\r\nContent-Length: 11\r\nX-Pad:  a  \r\n\r\nhello world"
POST_CHUNKED = (b"POST /ch HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
EMPTY_LINES = b"\r\n\r\n"
STREAM = [GET, POST_CL, POST_CHUNKED, EMPTY_LINES + GET, POST_CHUNKED, POST_CL]
EXPECTED = [("GET", b"/g", b""), ("POST", b"/cl", b"hello world"),
            ("POST", b"/ch", b"hello world"), ("GET", b"/g", b""),
            ("POST", b"/ch", b"hello world"), ("POST", b"/cl", b"hello world")]
BAD_LINE = b"GET  /bad HTTP/1.1\r\nHost: svc\r\n\r\n"


def run(data: bytes, cuts: list[int]) -> ServerPump:
    pump = ServerPump()
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))) + [len(data)]:
        pump.feed(data[start:cut])
        start = cut
    return pump


def seen(pump: ServerPump) -> list[tuple[str, bytes, bytes]]:
    return [(ex.head.method, ex.head.target, ex.body) for ex in pump.completed]


class BoundaryTests:
    def test_every_two_read_split(self) -> None:
        """Cut the pipelined stream into two reads at every offset: the same six requests."""
        data = b"".join(STREAM)
        for cut in range(1, len(data)):
            pump = run(data, [cut])
            assert seen(pump) == EXPECTED, cut
            assert pump.statuses() == [200] * 6, cut

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(st.lists(st.integers(1, len(b"".join(STREAM)) - 1), max_size=12))
    def test_any_read_cuts(self, cuts: list[int]) -> None:
        """Cut into many reads: the same requests, all answered."""
        pump = run(b"".join(STREAM), cuts)
        assert seen(pump) == EXPECTED
        assert pump.statuses() == [200] * 6

    @pytest.mark.parametrize("at", range(len(STREAM) + 1))
    def test_a_bad_line_is_refused_at_its_own_place(self, at: int) -> None:
        """A double-spaced line among well-formed ones, with a copy of a good line after it:
        every request before it is answered, it gets the 400, and nothing after is read."""
        good_copy = b"GET /bad HTTP/1.1\r\nHost: svc\r\n\r\n"
        parts = STREAM[:at] + [BAD_LINE, good_copy] + STREAM[at:]
        data = b"".join(parts)
        for cut in (0, len(b"".join(parts[:at])) + 3, len(data) - 5):
            pump = run(data, [cut])
            assert seen(pump) == EXPECTED[:at], (at, cut)
            assert pump.statuses() == [200] * at + [400], (at, cut)
            assert pump.closing


UPGRADE = (b"POST /up HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")


class UpgradeBodyTests:
    @pytest.mark.parametrize("framing,body,expected", [
        (b"Content-Length: 11\r\n", b"hello world", b"hello world"),
        (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
         b"hello world"),
    ], ids=["content-length", "chunked"])
    def test_body_is_read_in_any_cut_and_nothing_after(self, framing, body, expected) -> None:
        """The upgrade request gets its whole body however it is cut; the request after it
        is never read (l5d does not switch protocols; the connection ends after the answer)."""
        data = UPGRADE + framing + b"\r\n" + body + GET
        for cut in range(1, len(data)):
            pump = run(data, [cut])
            assert seen(pump) == [("POST", b"/up", expected)], cut
            assert pump.statuses() == [200], cut
            assert b"Connection: close" in pump.output() and pump.closing, cut
            assert pump.exchanges[0].head.keep_alive is False

    def test_bad_chunk_in_an_upgrade_body_is_a_400(self) -> None:
        pump = run(UPGRADE + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", [])
        assert pump.completed == [] and pump.exchanges[0].failed[0] == 400
        assert pump.closing

    def test_upgrade_body_over_the_limit_is_a_413(self) -> None:
        from l5d.http.limits import ServerLimits
        pump = ServerPump(ServerLimits(max_body=4))
        pump.feed(UPGRADE + b"Content-Length: 4\r\n\r\nabcd")
        assert pump.statuses() == [200]
        pump = ServerPump(ServerLimits(max_body=4))
        pump.feed(UPGRADE + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert pump.exchanges[0].failed[0] == 413

    def test_upgrade_body_cut_by_the_client_is_never_complete(self) -> None:
        pump = ServerPump()
        pump.feed(UPGRADE + b"Content-Length: 10\r\n\r\nabc")
        pump.conn.readConnectionLost()
        assert pump.completed == [] and pump.transport.aborted


class UnknownMethodTests:
    @pytest.mark.parametrize("cuts", [[], [1], [2, 5, 9], list(range(1, 20))])
    def test_501_once_the_line_is_whole(self, cuts: list[int]) -> None:
        pump = run(b"FOO /p HTTP/1.1\r\nHost: svc\r\n\r\n", cuts)
        assert pump.statuses() == [501] and pump.exchanges == []

    def test_after_a_good_request(self) -> None:
        pump = run(GET + b"FOO /p HTTP/1.1\r\nHost: svc\r\n\r\n", [len(GET) + 2])
        assert pump.statuses() == [200, 501]

    def test_a_line_that_goes_wrong_is_a_400(self) -> None:
        assert run(b"FOO /p  HTTP/1.1\r\n\r\n", [4]).statuses() == [400]

    def test_client_gives_up_mid_line(self) -> None:
        pump = run(b"FOO /p HT", [])
        assert pump.statuses() == []
        pump.conn.readConnectionLost()
        assert pump.statuses() == [400]
