"""Tracing across two l5d processes, reported to a real HTTP collector.

client -> l5d A (router ``out``) -> l5d B (router ``in``) -> backend, every hop a real
socket on 127.0.0.1. Both l5d processes have an ``io.l5d.zipkin`` telemeter pointed at a
Zipkin-shaped collector in the test process (:mod:`tests.helpers.zipkin_collector`), and
the backend records the headers it got (:mod:`tests.helpers.recording_origin`). The test
reads the four spans of each request back from the collector and checks that they make one
trace: the same trace id, A's server span the root, A's client span its child, B's server
span the same span as A's client span (``shared``), B's client span its child, and the
context the backend got naming B's client span.
"""

from __future__ import annotations

import base64
import contextlib
import struct
import time
from typing import Iterator

import requests

from tests.helpers.l5d_process import L5d, wait_for
from tests.helpers.recording_origin import RecordingOrigin
from tests.helpers.zipkin_collector import ZipkinCollector

TIMEOUT_S = 20
SLACK_US = 2000  # two processes' wall clocks, each read once per request


def l5d_config(label: str, upstream: int, collector: int, rate: float, propagator: str,
               tracelog: bool = False) -> str:
    extra = "- kind: io.l5d.tracelog\n  level: INFO\n" if tracelog else ""
    return f"""\
admin: {{ip: 127.0.0.1, port: 0}}
telemetry:
- kind: io.l5d.zipkin
  host: 127.0.0.1
  port: {collector}
  sampleRate: {rate}
{extra}routers:
- protocol: http
  label: {label}
  dtab: /svc=>/$/inet/127.0.0.1/{upstream}
  tracePropagator: {{kind: {propagator}}}
  servers:
  - {{ip: 127.0.0.1, port: 0}}
"""


@contextlib.contextmanager
def chain(rate: float, propagator: str = "io.l5d.default",
          tracelog: bool = False) -> Iterator[tuple]:
    with ZipkinCollector() as collector, RecordingOrigin() as origin:
        with L5d(config=l5d_config("in", origin.port, collector.port, rate, propagator,
                                   tracelog)) as b:
            with L5d(config=l5d_config("out", b.port, collector.port, rate, propagator)) as a:
                yield a, b, collector, origin


def get(a: L5d, path: str, headers: dict | None = None) -> requests.Response:
    rsp = requests.get(f"http://hello{path}", headers=headers or {},
                       proxies={"http": f"http://{a.proxy}"}, timeout=TIMEOUT_S)
    assert rsp.status_code == 200, rsp.text
    return rsp


def spans_of(collector: ZipkinCollector, trace_id: str, n: int = 4) -> dict[tuple, dict]:
    """The trace's ``n`` spans by (serviceName, kind), once the collector has them all."""
    assert wait_for(lambda: len(collector.trace(trace_id)) >= n, timeout_s=TIMEOUT_S), (
        trace_id, collector.spans, collector.errors)
    spans = collector.trace(trace_id)
    assert len(spans) == n, spans
    assert collector.errors == []
    return {(s["localEndpoint"]["serviceName"], s["kind"]): s for s in spans}


def check_one_trace(spans: dict[tuple, dict], backend_port: int, t0: float, t1: float) -> None:
    """The four spans of one request through A and B form one well-made trace."""
    a_srv, a_cli = spans["out", "SERVER"], spans["out", "CLIENT"]
    b_srv, b_cli = spans["in", "SERVER"], spans["in", "CLIENT"]
    # ids: A's server span is the root, A's client span is B's server span (shared)
    assert a_srv["id"] == a_srv["traceId"] and "parentId" not in a_srv
    assert not a_srv.get("shared")
    assert a_cli["parentId"] == a_srv["id"] != a_cli["id"]
    assert b_srv["id"] == a_cli["id"] and b_srv["shared"] is True
    assert b_srv["parentId"] == a_srv["id"]
    assert b_cli["parentId"] == b_srv["id"] and b_cli["id"] not in (a_srv["id"], a_cli["id"])
    for span in spans.values():
        assert len(span["id"]) == 16 and int(span["id"], 16) > 0
        assert span["tags"]["l5d.success"] == "1.0"
        assert span["tags"]["http.rsp.status"] == "200"
        assert span["tags"]["service"] == "/svc/hello"
    assert b_cli["remoteEndpoint"] == {"ipv4": "127.0.0.1", "port": backend_port}
    assert a_cli["tags"]["client"].startswith("/$/inet/127.0.0.1/")
    # times: every span inside the test's window, each one inside its parent
    for span in spans.values():
        assert t0 * 1e6 - SLACK_US <= span["timestamp"]
        assert span["timestamp"] + span["duration"] <= t1 * 1e6 + SLACK_US
        assert 0 < span["duration"] < (t1 - t0) * 1e6 + SLACK_US

    def inside(child: dict, parent: dict) -> None:
        assert parent["timestamp"] - SLACK_US <= child["timestamp"]
        assert (child["timestamp"] + child["duration"]
                <= parent["timestamp"] + parent["duration"] + SLACK_US)

    inside(a_cli, a_srv)
    inside(b_srv, a_cli)
    inside(b_cli, b_srv)


def ctx_trace(seen) -> tuple[int, int, int, int]:
    return struct.unpack(">QQQQ", base64.b64decode(seen.header("l5d-ctx-trace")))


class TwoHopTests:
    def test_default_propagator_one_trace_across_two_l5ds(self) -> None:
        """sampleRate 1: every request is four spans of one trace; the backend's
        l5d-ctx-trace is B's client span; B's tracelog logs its two spans."""
        with chain(1.0, tracelog=True) as (a, b, collector, origin):
            for i in range(3):
                mark = origin.mark()
                t0 = time.time()
                get(a, f"/hop/{i}")
                t1 = time.time()
                [seen] = origin.since(mark)
                trace_id = seen.header("l5d-reqid")
                spans = spans_of(collector, trace_id)
                check_one_trace(spans, origin.port, t0, t1)
                span, parent, trace, flags = ctx_trace(seen)
                b_cli = spans["in", "CLIENT"]
                assert (f"{span:016x}", f"{parent:016x}", f"{trace:016x}") == (
                    b_cli["id"], b_cli["parentId"], trace_id)
                assert flags & 0b110 == 0b110  # SamplingKnown | Sampled
            assert collector.errors == []
            assert wait_for(lambda: b.output().count("io.l5d.tracelog") >= 6, timeout_s=10)
            logged = [line for line in b.output().splitlines()
                      if f'"traceId":"{trace_id}"' in line]
            assert len(logged) == 2 and all(" INFO io.l5d.tracelog: {" in line for line in logged)
            assert {'"kind":"SERVER"' in line for line in logged} == {True, False}
            assert a.metrics()["zipkin/sent"] == 6 and b.metrics()["zipkin/errors"] == 0

    def test_zipkin_propagator_b3_all_the_way(self) -> None:
        """tracePropagator io.l5d.zipkin on both: the same trace from B3 headers, and the
        backend's B3 headers name B's client span; no l5d-ctx-trace, no l5d-reqid."""
        with chain(1.0, "io.l5d.zipkin") as (a, b, collector, origin):
            mark = origin.mark()
            t0 = time.time()
            get(a, "/b3")
            t1 = time.time()
            [seen] = origin.since(mark)
            assert seen.header("l5d-ctx-trace") is None and seen.header("l5d-reqid") is None
            trace_id = seen.header("x-b3-traceid")
            spans = spans_of(collector, trace_id)
            check_one_trace(spans, origin.port, t0, t1)
            b_srv, b_cli = spans["in", "SERVER"], spans["in", "CLIENT"]
            assert seen.header("x-b3-spanid") == b_cli["id"]
            assert seen.header("x-b3-parentspanid") == b_srv["id"] == spans["out", "CLIENT"]["id"]
            assert seen.header("x-b3-sampled") == "1"
            assert seen.header("x-b3-flags") == "6"

    def test_zipkin_propagator_continues_the_clients_trace(self) -> None:
        """An application's B3 context: A's server span is the application's span."""
        with chain(0.0, "io.l5d.zipkin") as (a, b, collector, origin):
            trace_id = "463ac35c9f6413ad48485a3953bb6124"
            get(a, "/app", {"X-B3-TraceId": trace_id, "X-B3-SpanId": "a2fb4a1d1a96d312",
                            "X-B3-ParentSpanId": "0020000000000001", "X-B3-Sampled": "1"})
            spans = spans_of(collector, trace_id)
            a_srv = spans["out", "SERVER"]
            assert (a_srv["id"], a_srv["parentId"], a_srv["shared"]) == (
                "a2fb4a1d1a96d312", "0020000000000001", True)
            assert spans["out", "CLIENT"]["parentId"] == "a2fb4a1d1a96d312"
            assert spans["in", "SERVER"]["id"] == spans["out", "CLIENT"]["id"]

    def test_the_first_hops_decision_holds_at_the_second(self) -> None:
        """sampleRate 0 on both: nothing is sent, but l5d-sample: 1 at A is honoured at B
        (it travels in the flags), and a client's sampled l5d-ctx-trace is continued."""
        with chain(0.0) as (a, b, collector, origin):
            mark = origin.mark()
            get(a, "/unsampled")
            get(a, "/asked", {"l5d-sample": "1"})
            unsampled, asked = origin.since(mark)
            assert asked.header("l5d-sample") is None
            t0 = time.time()
            spans = spans_of(collector, asked.header("l5d-reqid"))
            assert collector.trace(unsampled.header("l5d-reqid")) == []
            assert ctx_trace(unsampled)[3] & 0b110 == 0b000  # undecided: no tracer samples
            check_one_trace(spans, origin.port, t0 - TIMEOUT_S, time.time())

            incoming = base64.b64encode(struct.pack(">QQQQ", 0x1234, 0x5678, 0x9ABC, 6))
            get(a, "/continued", {"l5d-ctx-trace": incoming.decode()})
            spans = spans_of(collector, "0000000000009abc")
            a_srv = spans["out", "SERVER"]
            assert (a_srv["id"], a_srv["parentId"], a_srv["shared"]) == (
                "0000000000001234", "0000000000005678", True)
            assert spans["in", "SERVER"]["id"] == spans["out", "CLIENT"]["id"]
            assert spans["in", "CLIENT"]["parentId"] == spans["out", "CLIENT"]["id"]
