"""Trace context through a whole router, in memory: what goes upstream, what the record says.

The router, its server connection and the pooled upstream connection run over
``StringTransport``s on a ``MemoryReactorClock`` (its ``seconds`` is both clocks), with a
seeded rng, so every id is known in advance. The same over real sockets and two l5d
processes is ``tests/integration/test_tracing.py``.
"""

from __future__ import annotations

import base64
import random
import re

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from dtab import Dtab, Interpreter, Path
from l5d.http import client as client_mod
from l5d.http.headers import TraceId, decode_trace
from l5d.http.limits import ServerLimits
from l5d.http.memo import HeadMemo
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory
from l5d.http.trace import SAMPLED, SAMPLING_KNOWN, sampled_of
from l5d.router.identifier import header_token
from l5d.telemetry.stats import Stats

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 6\r\n"
            b"Connection: keep-alive\r\n\r\nhello\n")
KNOWN_YES = SAMPLING_KNOWN | SAMPLED


class _T(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def abortConnection(self) -> None:
        self.disconnecting = True


class TracedRouter:
    """One router, one client connection, pooled upstream connections; records kept."""

    def __init__(self, propagator: str = "io.l5d.default", rate: float | None = None,
                 seed: int = 1, clear_context: bool = False,
                 dtab: str = "/svc => /$/inet/127.0.0.1/9000;",
                 tracer_rate: float | None = None) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000.0)
        base = Dtab.read(dtab)
        self.records: list = []
        self.traced: list = []  # what a tracer sink (if any) was offered
        trace_sinks = () if tracer_rate is None else ((tracer_rate, self.traced.append),)
        self.router = HttpRouter(
            label="t", reactor=self.reactor, now=self.reactor.seconds, rng=random.Random(seed),
            dtab=lambda: base, interpreter=Interpreter(),
            identifier=header_token(Path.read("/svc")), stats=Stats(),
            sinks=((1.0, self.records.append),), trace_sinks=trace_sinks,
            trace_propagator=propagator,
            trace_sample_rate=rate)
        params = ServerParams("127.0.0.1", 4140, clear_context=clear_context)
        self.factory = HttpServerFactory(self.router.exchange_factory(params), self.reactor,
                                         ServerLimits())
        self.down_t = _T()
        self.down = self.factory.buildProtocol(None)
        self.down.makeConnection(self.down_t)
        self.ups: list = []

    def send(self, headers: bytes = b"", host: bytes = b"svc") -> dict[bytes, bytes]:
        """One GET with extra header lines; returns the headers the upstream got (lower-case
        names), after a 200 came back."""
        self.down_t.clear()
        for up in self.ups:
            up.transport.clear()
        self.down.dataReceived(b"GET /p?q=1 HTTP/1.1\r\nHost: " + host + b"\r\n" + headers
                               + b"\r\n")
        while len(self.ups) < len(self.reactor.tcpClients):
            proto = self.reactor.tcpClients[len(self.ups)][2].buildProtocol(None)
            proto.makeConnection(_T())
            self.ups.append(proto)
        up = next(u for u in self.ups if u.exchange is not None)
        sent = up.transport.value()
        self.reactor.advance(0.25)
        up.dataReceived(RESPONSE)
        assert self.down_t.value().endswith(b"hello\n")
        out: dict[bytes, bytes] = {}
        for line in sent.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b": ")
            assert name.lower() not in out, f"{name!r} twice"
            out[name.lower()] = value
        return out


@pytest.fixture(autouse=True)
def _fresh_response_memo(monkeypatch):
    monkeypatch.setattr(client_mod, "RESPONSES", HeadMemo())


def _ctx(t: TraceId) -> bytes:
    return b"l5d-ctx-trace: " + t.encode() + b"\r\n"


class DefaultPropagatorTests:
    """l5d-ctx-trace / l5d-reqid / l5d-sample."""

    def test_no_tracer_new_trace_and_its_record(self) -> None:
        """One id (span = parent = trace), undecided; the record says so, twice in a row (the
        second through the head memo)."""
        r = TracedRouter()
        for _ in range(2):
            up = r.send()
            rec = r.records[-1]
            span = decode_trace(up[b"l5d-ctx-trace"]).span_id
            assert decode_trace(up[b"l5d-ctx-trace"]) == TraceId(span, span, span, 0)
            assert up[b"l5d-reqid"] == b"%016x" % span
            assert (rec.trace_id, rec.span_id, rec.parent_id, rec.sampled) == (
                span, span, span, None)
        assert len({rec.trace_id for rec in r.records}) == 2

    def test_tracers_give_a_new_trace_a_server_and_a_client_span(self) -> None:
        """With a tracer at rate 1: trace id = l5d's server span, the client span its child,
        sampled; the memo path does the same."""
        r = TracedRouter(rate=1.0)
        for _ in range(2):
            up = r.send()
            t = decode_trace(up[b"l5d-ctx-trace"])
            rec = r.records[-1]
            assert t.parent_id == t.trace_id != t.span_id
            assert t.flags == KNOWN_YES
            assert up[b"l5d-reqid"] == b"%016x" % t.trace_id
            assert (rec.trace_id, rec.span_id, rec.parent_id, rec.server_parent_id) == (
                t.trace_id, t.span_id, t.trace_id, 0)
            assert rec.sampled is True
            assert rec.client_sent == rec.started == 1000.0 + 0.25 * (len(r.records) - 1)
            assert rec.duration_us == 250_000

    def test_incoming_trace_is_continued(self) -> None:
        """The incoming span is l5d's server span: the client span is its child, same trace,
        its decision kept, its parent in the record."""
        r = TracedRouter(rate=0.0)
        incoming = TraceId(0x1111, 0x2222, 0x3333, KNOWN_YES)
        up = r.send(_ctx(incoming))
        t = decode_trace(up[b"l5d-ctx-trace"])
        assert (t.parent_id, t.trace_id, t.flags) == (0x1111, 0x3333, KNOWN_YES)
        assert up[b"l5d-reqid"] == b"0000000000003333"
        rec = r.records[-1]
        assert (rec.trace_id, rec.span_id, rec.parent_id, rec.server_parent_id, rec.sampled) == (
            0x3333, t.span_id, 0x1111, 0x2222, True)

    def test_decision_not_to_sample_is_kept(self) -> None:
        r = TracedRouter(rate=1.0)
        up = r.send(_ctx(TraceId(5, 5, 5, SAMPLING_KNOWN)))
        assert sampled_of(decode_trace(up[b"l5d-ctx-trace"]).flags) is False
        assert r.records[-1].sampled is False

    @pytest.mark.parametrize("rate, want", [(b"1", True), (b"0.0", False)])
    def test_l5d_sample_decides_and_is_not_forwarded(self, rate: bytes, want: bool) -> None:
        """l5d-sample decides even without a tracer (and over an incoming decision); it is
        read, not forwarded."""
        for extra in (b"", _ctx(TraceId(5, 5, 5, SAMPLING_KNOWN if want else KNOWN_YES))):
            r = TracedRouter()
            up = r.send(extra + b"l5d-sample: " + rate + b"\r\n")
            assert b"l5d-sample" not in up
            assert sampled_of(decode_trace(up[b"l5d-ctx-trace"]).flags) is want
            assert r.records[-1].sampled is want

    def test_b3_headers_pass_through(self) -> None:
        """The default propagator leaves B3 headers alone (they are the application's)."""
        r = TracedRouter()
        up = r.send(b"X-B3-TraceId: 00000000000000aa\r\nx-b3-spanid: 00000000000000bb\r\n")
        assert up[b"x-b3-traceid"] == b"00000000000000aa"
        assert up[b"x-b3-spanid"] == b"00000000000000bb"
        assert decode_trace(up[b"l5d-ctx-trace"]).trace_id != 0xAA

    def test_clear_context_starts_a_new_trace(self) -> None:
        """A clearContext server ignores an incoming l5d-ctx-trace and l5d-sample."""
        r = TracedRouter(clear_context=True)
        up = r.send(_ctx(TraceId(1, 2, 3, KNOWN_YES)) + b"l5d-sample: 1\r\n")
        t = decode_trace(up[b"l5d-ctx-trace"])
        assert t.trace_id != 3 and t.flags == 0


class ZipkinPropagatorTests:
    """tracePropagator io.l5d.zipkin: B3 in and out, no l5d-ctx-trace, no l5d-reqid."""

    def test_new_trace(self) -> None:
        r = TracedRouter("io.l5d.zipkin", rate=1.0)
        for _ in range(2):  # parsed, then the head memo
            up = r.send()
            rec = r.records[-1]
            assert b"l5d-ctx-trace" not in up and b"l5d-reqid" not in up
            assert up[b"x-b3-traceid"] == b"%016x" % rec.trace_id
            assert up[b"x-b3-spanid"] == b"%016x" % rec.span_id
            assert up[b"x-b3-parentspanid"] == b"%016x" % rec.parent_id == up[b"x-b3-traceid"]
            assert (up[b"x-b3-sampled"], up[b"x-b3-flags"]) == (b"1", b"6")

    def test_no_tracer_new_trace_is_a_root(self) -> None:
        """No parent header, no sampling decision (B3: absent)."""
        r = TracedRouter("io.l5d.zipkin")
        up = r.send()
        assert up[b"x-b3-traceid"] == up[b"x-b3-spanid"]
        assert b"x-b3-parentspanid" not in up and b"x-b3-sampled" not in up
        assert up[b"x-b3-flags"] == b"0"

    def test_incoming_b3_is_continued_and_l5d_context_dropped(self) -> None:
        r = TracedRouter("io.l5d.zipkin", rate=0.0)
        up = r.send(b"X-B3-TraceId: 463ac35c9f6413ad48485a3953bb6124\r\n"
                    b"X-B3-SpanId: a2fb4a1d1a96d312\r\nX-B3-ParentSpanId: 0020000000000001\r\n"
                    b"X-B3-Sampled: 1\r\n" + _ctx(TraceId(1, 2, 3)) + b"l5d-sample: 0\r\n"
                    b"l5d-reqid: 77\r\n")
        assert up[b"x-b3-traceid"] == b"463ac35c9f6413ad48485a3953bb6124"
        assert up[b"x-b3-parentspanid"] == b"a2fb4a1d1a96d312"
        assert up[b"x-b3-sampled"] == b"1"
        assert not {b"l5d-ctx-trace", b"l5d-sample", b"l5d-reqid"} & set(up)
        rec = r.records[-1]
        assert rec.trace_id == 0x463AC35C9F6413AD48485A3953BB6124
        assert (rec.parent_id, rec.server_parent_id, rec.sampled) == (
            0xA2FB4A1D1A96D312, 0x0020000000000001, True)
        assert up[b"x-b3-spanid"] == b"%016x" % rec.span_id


class AnsweredByL5dTests:
    """A request l5d answers itself still has a trace: the server span alone."""

    def test_unroutable_request(self) -> None:
        r = TracedRouter(rate=1.0, dtab="/svc => /$/nope;")
        incoming = TraceId(0x10, 0x20, 0x30, 0)
        r.down.dataReceived(b"GET / HTTP/1.1\r\nHost: svc\r\n" + _ctx(incoming) + b"\r\n")
        assert r.down_t.value().startswith(b"HTTP/1.1 502")
        rec = r.records[-1]
        assert (rec.trace_id, rec.span_id, rec.parent_id, rec.server_parent_id) == (
            0x30, 0, 0x10, 0x20)
        assert rec.sampled is True and rec.client_sent == 0.0


class TraceSinkTests:
    """A tracer is offered the records of sampled traces, not a share of all requests."""

    def test_sampled_traces_are_offered_unsampled_ones_not(self) -> None:
        r = TracedRouter(rate=0.0, tracer_rate=0.0)
        r.send(_ctx(TraceId(5, 5, 5, KNOWN_YES)))
        r.send(_ctx(TraceId(6, 6, 6, SAMPLING_KNOWN)))
        r.send(b"l5d-sample: 1\r\n")
        assert [t.sampled for t in r.traced] == [True, True]
        assert [t.trace_id for t in r.traced] == [5, r.records[-1].trace_id]
        assert r.traced[0] is r.records[0]  # one record per request, shared

    @pytest.mark.parametrize("tracer_rate", [0.0, 0.5, 1.0])
    def test_undecided_traces_at_the_tracers_rate(self, tracer_rate: float) -> None:
        """No deciding tracer (as io.l5d.tracelog alone): undecided traces are offered with
        probability the tracer's rate, drawn from the router's seeded rng."""
        r = TracedRouter(rate=0.0, tracer_rate=tracer_rate, seed=11)
        for _ in range(200):
            r.send()
        assert all(t.sampled is None for t in r.traced)
        if tracer_rate in (0.0, 1.0):
            assert len(r.traced) == 200 * tracer_rate
        else:
            assert 70 < len(r.traced) < 130
            again = TracedRouter(rate=0.0, tracer_rate=tracer_rate, seed=11)
            for _ in range(200):
                again.send()
            assert [t.trace_id for t in again.traced] == [t.trace_id for t in r.traced]

    def test_a_request_l5d_answered_is_offered_when_sampled(self) -> None:
        r = TracedRouter(rate=1.0, tracer_rate=1.0, dtab="/svc => /$/nope;")
        r.down.dataReceived(b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n")
        [t] = r.traced
        assert (t.status, t.span_id, t.sampled) == (502, 0, True)
        assert t.trace_id == t.parent_id


def test_reqid_matches_the_trace_field() -> None:
    """l5d-reqid is the trace id in l5d-ctx-trace (bytes 16..24)."""
    up = TracedRouter(rate=1.0).send()
    raw = base64.b64decode(up[b"l5d-ctx-trace"])
    assert raw[16:24].hex().encode() == up[b"l5d-reqid"]
    assert re.fullmatch(rb"[0-9a-f]{16}", up[b"l5d-reqid"])
