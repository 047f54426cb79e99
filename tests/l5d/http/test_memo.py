"""Heads remembered by their bytes: a replay must equal a parse, and only whole heads replay.

The request side runs on :class:`ServerPump` (the server connection alone); the
response side and the router's memos run through a whole in-memory router (server
connection, router, upstream connection over ``StringTransport``s), so every
byte either side writes is compared between the first (parsed) and the later
(replayed) pass. The same paths over real sockets are in
``tests/integration/test_head_memo.py``.
"""

from __future__ import annotations

import random
import re
import time

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from dtab import Dtab, Interpreter, Path
from l5d.http import client as client_mod
from l5d.http.limits import ServerLimits, ServerLoad
from l5d.http.memo import HeadMemo
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory
from l5d.router.identifier import header_token
from l5d.telemetry.stats import Stats
from tests.helpers.server_harness import ServerPump

GET = b"GET http://svc:8080/a?b=1 HTTP/1.1\r\nHost: svc:8080\r\nAccept: */*\r\n\r\n"
OTHER = b"GET /other HTTP/1.1\r\nHost: svc\r\nUser-Agent: t\r\n\r\n"


class HeadMemoTests:
    """The bounded memo itself."""

    def test_remembers_and_forgets_the_oldest_when_full(self) -> None:
        """At most max_entries keys; a new key pushes out the oldest one."""
        memo = HeadMemo(max_entries=2)
        memo.put(b"a", 1)
        memo.put(b"b", 2)
        memo.put(b"c", 3)
        assert memo.get(b"a") is None and memo.get(b"b") == 2 and memo.get(b"c") == 3
        assert len(memo) == 2

    def test_long_keys_and_a_zero_size_memo_store_nothing(self) -> None:
        """Keys over max_key are never stored; max_entries=0 turns the memo off."""
        memo = HeadMemo(max_entries=4, max_key=3)
        memo.put(b"abcd", 1)
        assert memo.get(b"abcd") is None
        off = HeadMemo(max_entries=0)
        off.put(b"a", 1)
        assert off.get(b"a") is None and len(off) == 0

    def test_negative_sizes_are_refused(self) -> None:
        """A negative bound is a mistake, not 'unbounded'."""
        with pytest.raises(ValueError, match="max_entries"):
            HeadMemo(max_entries=-1)


def _fields(head) -> tuple:
    return (head.method, head.target, head.version, head.headers, head.keep_alive, head.chunked,
            head.content_length, head.absolute, head.expect_continue)


class KnownRequestHeadTests:
    """HttpServerConnection: a read that is exactly one keep-alive, bodiless request."""

    def test_same_bytes_again_skip_the_parser_and_give_an_equal_head(self) -> None:
        """The second identical read is replayed: same KnownHead, equal RequestHead fields."""
        pump = ServerPump()
        pump.feed(GET)
        assert GET in pump.conn._heads
        parser = pump.conn._parser
        pump.conn._parser = None  # a replay must not touch the parser
        pump.feed(GET)
        pump.conn._parser = parser
        first, second = pump.exchanges
        assert second.head.known is first.head.known
        assert _fields(second.head) == _fields(first.head)
        assert second.head is not first.head  # per-request state is never shared
        assert pump.statuses() == [200, 200] and second.complete

    def test_parsing_resumes_correctly_after_replays(self) -> None:
        """Replayed, parsed, replayed: every request is answered in order on one connection."""
        pump = ServerPump()
        for data in (GET, GET, OTHER, GET, OTHER):
            pump.feed(data)
        assert [e.head.target for e in pump.exchanges] == [b"/a?b=1", b"/a?b=1", b"/other",
                                                             b"/a?b=1", b"/other"]
        assert pump.statuses() == [200] * 5 and not pump.closing

    @pytest.mark.parametrize("data", [
        pytest.param(GET + GET, id="two-pipelined-in-one-read"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 2\r\n\r\nab", id="body"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", id="close"),
        pytest.param(b"GET / HTTP/1.0\r\nHost: svc\r\n\r\n", id="http-1.0"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="rejected"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: svc\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
                     id="upgrade"),
    ])
    def test_reads_that_are_not_one_whole_bodiless_keep_alive_request_are_not_remembered(
            self, data: bytes) -> None:
        """Pipelined, with a body, closing, HTTP/1.0, rejected or upgrading: parsed every time."""
        pump = ServerPump()
        pump.feed(data)
        assert len(pump.conn._heads) == 0

    def test_a_head_split_over_two_reads_is_not_remembered(self) -> None:
        """Only a read that began between requests and ended with one is a key."""
        pump = ServerPump()
        pump.feed(GET[:10])
        pump.feed(GET[10:])
        assert len(pump.conn._heads) == 0 and pump.statuses() == [200]

    def test_a_replay_mid_request_is_impossible(self) -> None:
        """Known bytes arriving inside another request's head are parsed as part of it."""
        pump = ServerPump()
        pump.feed(GET)
        pump.feed(b"GET /x HTTP/1.1\r\nX-A: ")  # a head in progress
        pump.feed(GET)  # now the rest of that head: a header value, then two headers
        second = pump.exchanges[1].head
        assert second.target == b"/x"
        assert second.headers[0] == (b"X-A", GET.split(b"\r\n")[0])

    def test_replays_obey_max_concurrent_requests(self) -> None:
        """The load checks are per request: a replayed head still gets the 503."""
        load = ServerLoad()
        limits = ServerLimits(max_concurrent_requests=1)
        first = ServerPump(limits, hold=True, load=load)
        first.feed(GET)
        second = ServerPump(limits, load=load)
        second.conn._heads = first.conn._heads  # as the factory shares it
        second.feed(GET)
        assert second.statuses() == [503] and not second.exchanges

    def test_connections_of_one_factory_share_the_memo(self) -> None:
        """What one connection read, the next one replays."""
        factory = HttpServerFactory(lambda conn, head: None, MemoryReactorClock(), ServerLimits())
        a = factory.buildProtocol(None)
        b = factory.buildProtocol(None)
        assert a._heads is b._heads is factory.heads


# -- the whole router, in memory ---------------------------------------------------------

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Type: text/plain\r\nl5d-x: 1\r\n"
            b"Via: 1.1 a\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n")
_TRACE = re.compile(rb"(l5d-reqid|l5d-ctx-trace): [^\r]*\r\n")


class _T(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True


class MemoryRouter:
    """A router with one client connection and pooled upstream connections, all in memory."""

    def __init__(self, dtab: str = "/svc => /$/inet/127.0.0.1/9000;",
                 params: ServerParams = ServerParams("127.0.0.1", 4140)) -> None:
        self.reactor = MemoryReactorClock()
        base = Dtab.read(dtab)
        self.router = HttpRouter(label="t", reactor=self.reactor, now=time.monotonic,
                                 rng=random.Random(1), dtab=lambda: base,
                                 interpreter=Interpreter(), identifier=header_token(Path.read("/svc")),
                                 stats=Stats())
        self.factory = HttpServerFactory(self.router.exchange_factory(params), self.reactor,
                                         ServerLimits())
        self.down_t = _T()
        self.down = self.factory.buildProtocol(None)
        self.down.makeConnection(self.down_t)
        self.ups: list = []

    def upstream(self):
        """The upstream connection the last request went to (connected on first use)."""
        while len(self.ups) < len(self.reactor.tcpClients):
            proto = self.reactor.tcpClients[len(self.ups)][2].buildProtocol(None)
            proto.makeConnection(_T())
            self.ups.append(proto)
        return next(u for u in self.ups if u.exchange is not None)

    def exchange(self, request: bytes, response_reads: list[bytes]) -> tuple[bytes, bytes]:
        """(what the upstream received, what the client received) for one request."""
        self.down_t.clear()
        for up in self.ups:
            up.transport.clear()
        self.down.dataReceived(request)
        up = self.upstream()
        sent_up = up.transport.value()
        for data in response_reads:
            up.dataReceived(data)
        return sent_up, self.down_t.value()


@pytest.fixture(autouse=True)
def _fresh_response_memo(monkeypatch):
    """Each test starts with an empty response memo (it is shared module state)."""
    monkeypatch.setattr(client_mod, "RESPONSES", HeadMemo())


class ReplayEqualsParseTests:
    """Through the whole router: the replayed pass writes what the parsed pass wrote."""

    def test_request_and_response_replays_write_the_same_bytes_but_fresh_trace_ids(self) -> None:
        """Upstream heads differ only in l5d-reqid/l5d-ctx-trace; client bytes are identical."""
        r = MemoryRouter()
        up1, down1 = r.exchange(GET, [RESPONSE])
        assert RESPONSE[:RESPONSE.index(b"hello")] in client_mod.RESPONSES
        assert GET in r.factory.heads
        up2, down2 = r.exchange(GET, [RESPONSE])
        up3, down3 = r.exchange(GET, [RESPONSE])
        assert down1 == down2 == down3 and down1.endswith(b"\r\n\r\nhello\n")
        assert _TRACE.sub(b"", up1) == _TRACE.sub(b"", up2) == _TRACE.sub(b"", up3)
        ids = {re.search(rb"l5d-reqid: (\w+)", u).group(1) for u in (up1, up2, up3)}
        assert len(ids) == 3
        assert b"l5d-x: 1\r\n" in down1 and b"Via: 1.1 a, 1.1 linkerd\r\n" in down1

    @pytest.mark.parametrize("reads", [
        pytest.param([RESPONSE[:20], RESPONSE[20:]], id="head-split-over-reads"),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE], id="interim-first"),
        pytest.param([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n"],
                     id="chunked"),
    ])
    def test_responses_that_cannot_be_replayed_are_parsed_every_time(self, reads) -> None:
        """Split, interim, bare-LF or chunked responses: never remembered, answered the same."""
        r = MemoryRouter()
        _, down1 = r.exchange(GET, reads)
        assert len(client_mod.RESPONSES) == 0
        _, down2 = r.exchange(GET, reads)
        assert down1 == down2 and b"hello\n" in down1

    def test_bare_lf_heads_are_refused_every_time(self) -> None:
        """llhttp refuses a bare-LF response head (502); nothing is remembered."""
        r = MemoryRouter()
        bad = [RESPONSE.replace(b"\r\n", b"\n")]
        _, down1 = r.exchange(GET, bad)
        r = MemoryRouter()
        _, down2 = r.exchange(GET, bad)
        assert down1 == down2 and down1.startswith(b"HTTP/1.1 502 ")
        assert len(client_mod.RESPONSES) == 0

    def test_a_remembered_head_with_a_body_split_over_reads_is_parsed(self) -> None:
        """The head is known but the read holds part of the body: the parser reads it."""
        r = MemoryRouter()
        _, whole = r.exchange(GET, [RESPONSE])
        _, split = r.exchange(GET, [RESPONSE[:-3], RESPONSE[-3:]])
        assert split == whole

    def test_a_known_head_answers_each_client_shape_with_its_own_head(self) -> None:
        """HTTP/1.0 keep-alive and HTTP/1.1 clients get different heads from one known head."""
        r = MemoryRouter()
        get10 = b"GET http://svc/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        get11 = b"GET http://svc/ HTTP/1.1\r\nHost: svc\r\n\r\n"
        _, a10 = r.exchange(get10, [RESPONSE])
        _, a11 = r.exchange(get11, [RESPONSE])
        _, b10 = r.exchange(get10, [RESPONSE])
        _, b11 = r.exchange(get11, [RESPONSE])
        assert a10 == b10 and a11 == b11 and a10 != a11
        assert b"Connection: keep-alive\r\n" in a10 and b"Connection" not in a11

    def test_a_head_request_after_a_known_get_head_carries_no_body(self) -> None:
        """HEAD is parsed (its framing differs); the GET after it is replayed correctly."""
        r = MemoryRouter()
        r.exchange(GET, [RESPONSE])
        head_req = GET.replace(b"GET ", b"HEAD ", 1)
        _, down = r.exchange(head_req, [RESPONSE[:RESPONSE.index(b"hello")]])
        assert down.endswith(b"Content-Length: 6\r\n\r\n")
        _, again = r.exchange(GET, [RESPONSE])
        assert again.endswith(b"\r\n\r\nhello\n")

    def test_routes_follow_each_server(self) -> None:
        """A known head's routing memo is per server: another server's params apply to it."""
        r = MemoryRouter()
        r.exchange(GET, [RESPONSE])
        known = r.factory.heads.get(GET)
        assert known.route is not None and known.route.server == ServerParams("127.0.0.1", 4140)
        other = MemoryRouter(params=ServerParams("127.0.0.1", 4141, clear_context=True))
        other.factory.heads = r.factory.heads  # the same head object reaches another server
        other.down._heads = r.factory.heads
        _, down = other.exchange(GET, [RESPONSE])
        assert b"l5d-x" not in down and b"l5d-success-class" not in down  # clearContext held

    def test_many_distinct_heads_keep_the_memos_bounded(self) -> None:
        """300 distinct request and response heads: each memo keeps its newest 256."""
        r = MemoryRouter()
        for i in range(300):
            req = GET.replace(b"Accept: */*", b"Accept: x/%d" % i)
            rsp = RESPONSE.replace(b"Server: t", b"Server: t%d" % i)
            _, down = r.exchange(req, [rsp])
            assert down.endswith(b"hello\n") and b"Server: t%d\r\n" % i in down
        assert len(r.factory.heads) == 256 and len(client_mod.RESPONSES) == 256
        assert GET.replace(b"Accept: */*", b"Accept: x/299") in r.factory.heads
        assert GET.replace(b"Accept: */*", b"Accept: x/0") not in r.factory.heads
