#!/usr/bin/env python3
"""l5d's own Python cost per proxied request, without sockets or a reactor loop.

Feeds the bytes of an absolute-form GET straight into a router server connection
and the bytes of an nginx-like response into the pooled upstream connection, over
``StringTransport``s, and reports microseconds per request. This isolates the
router's code (parsing callbacks, identification, binding-cache hit, headers, stats,
pool hand-back) from the kernel and from Twisted's reactor, which
``bench/router_bench.sh`` measures too. A benchmark, not a test.

    taskset -c 0 .venv/bin/python bench/inproc_bench.py [--n 20000] [--policy] [--telemetry]
        [--distinct] [--stats-off] [--profile]

``--distinct`` gives every request its own target (``/?n=1``, ``/?n=2``, ... as
``bench/wrk-distinct.lua`` does), so no request head repeats and the server parses every
one; making each request's bytes (one ``%`` format) is part of the figure.

``--telemetry`` builds the telemeters of ``bench/router_bench.sh``'s l5d row (prometheus,
statsd, recentRequests 0.25, zipkin 0.001; ``--telemetry-yaml FILE``: a ``telemetry:`` list
of one's own) and hands the router their sinks, as the linker does; statsd is flushed (to
a memory UDP port) every 20,000 requests, about once per second of the bench's rate rather
than once per 10 s, so its reading cost shows up.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import os
import random
import sys
import time
from pathlib import Path as FsPath

sys.path.insert(0, str(FsPath(__file__).resolve().parents[1]))

from twisted.internet.testing import MemoryReactorClock, StringTransport  # noqa: E402

from dtab import Dtab, Interpreter, Path  # noqa: E402
from l5d.config import parse_config  # noqa: E402
from l5d.http.limits import ServerLimits  # noqa: E402
from l5d.http.router import HttpRouter, ServerParams  # noqa: E402
from l5d.http.server import HttpServerFactory  # noqa: E402
from l5d.router.identifier import header_token  # noqa: E402
from l5d.telemetry.stats import Stats  # noqa: E402
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter  # noqa: E402

REQUEST = b"GET http://127.0.0.1:24080/ HTTP/1.1\r\nHost: 127.0.0.1:24080\r\n\r\n"
DISTINCT = b"GET http://127.0.0.1:24080/?n=%d HTTP/1.1\r\nHost: 127.0.0.1:24080\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
            b"Date: Sat, 21 Nov 2026 14:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 6\r\n"
            b"Connection: keep-alive\r\n\r\nhello\n")
TELEMETRY = """\
telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.statsd
  port: 9
- kind: io.l5d.recentRequests
  sampleRate: 0.25
- kind: io.l5d.zipkin
  port: 9
  sampleRate: 0.001
"""
DTAB = "/svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;"


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def abortConnection(self) -> None:
        self.disconnecting = True


POLICY = """\
routers:
- protocol: http
  client: {loadBalancer: {kind: ewma}}
  service: {responseClassifier: {kind: io.l5d.http.retryableRead5XX}}
  servers: [{}]
"""


class _UdpPort:
    def write(self, datagram: bytes, address: object) -> None:
        pass


class _Reactor(MemoryReactorClock):
    def listenUDP(self, port: int, protocol: object, interface: str = "",
                  maxPacketSize: int = 8192) -> _UdpPort:
        return _UdpPort()


def build(policy: bool | str = False, telemetry: bool | str = False, distinct: bool = False,
          record_stats: bool = True):
    reactor = _Reactor()
    dtab = Dtab.read(DTAB)
    keys: dict = {}
    stats = Stats()
    flushes: list = []
    if telemetry:  # as l5d/linker.py hands the telemeters' sinks to its routers
        text = telemetry if isinstance(telemetry, str) else TELEMETRY
        tcfgs = parse_config(text + "routers:\n- protocol: http\n  servers: [{}]\n",
                             "telemetry.yaml").telemetry
        ctx = TelemetryContext(reactor, stats, lambda: stats, time.monotonic, time.time,
                               random.Random(2))
        tels = [build_telemeter(c, ctx) for c in tcfgs]
        for t in tels:
            t.start()
        flushes = [t.flush for t in tels if hasattr(t, "aggregator")]
        tracers = [t for t in tels if t.tracer]
        keys = {"sinks": tuple((t.sample_rate, t.record) for t in tels
                               if t.record is not None and not t.tracer),
                "trace_sinks": tuple((t.sample_rate, t.record) for t in tracers
                                     if t.record is not None),
                "trace_sample_rate": max([t.trace_sample_rate or 0.0 for t in tracers])
                if tracers else None}
    if policy:  # peak EWMA and a retrying classifier, as bench/router_bench.sh runs l5d
        text = POLICY if policy is True else (
            "routers:\n- protocol: http\n  servers: [{}]\n" + policy)
        rcfg = parse_config(text, "policy.yaml").routers[0]
        keys.update(client_config=rcfg.client, service_config=rcfg.service)
    router = HttpRouter(label="http", reactor=reactor, now=time.monotonic, rng=random.Random(1),
                        dtab=lambda: dtab, interpreter=Interpreter(),
                        identifier=header_token(Path.read("/svc")), stats=stats,
                        record_stats=record_stats, **keys)
    factory = HttpServerFactory(router.exchange_factory(ServerParams("127.0.0.1", 4140)), reactor,
                                ServerLimits())
    down = factory.buildProtocol(None)
    down_t = _Transport()
    down.makeConnection(down_t)
    down.dataReceived(REQUEST)  # creates the client; its pool dials once (in memory)
    up = reactor.tcpClients[-1][2].buildProtocol(None)
    up_t = _Transport()
    up.makeConnection(up_t)
    up.dataReceived(RESPONSE)
    if not down_t.value().endswith(b"hello\n"):
        raise SystemExit(f"setup failed: {down_t.value()!r}")

    count = [0]
    serial = [0]

    def one() -> None:
        down_t.clear()
        up_t.clear()
        if distinct:
            serial[0] += 1
            down.dataReceived(DISTINCT % serial[0])
        else:
            down.dataReceived(REQUEST)
        up.dataReceived(RESPONSE)
        if flushes:
            count[0] += 1
            if count[0] % 20000 == 0:  # a statsd flush, then its paced sends all at once
                for flush in flushes:
                    flush()
                reactor.advance(1.0)

    def upstreams() -> int:  # connections to the upstream (zipkin may dial its collector)
        return sum(1 for c in reactor.tcpClients if c[1] == 24080)

    def check() -> None:
        if not down_t.value().endswith(b"hello\n") or upstreams() != 1:
            raise SystemExit("a request did not complete on the pooled connection")

    return one, check


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--profile", action="store_true", help="also print a cProfile of --n requests")
    p.add_argument("--policy", action="store_true",
                   help="client loadBalancer ewma and a retryableRead5XX classifier")
    p.add_argument("--router-yaml", metavar="YAML",
                   help="client/service keys of the router instead (indented two spaces)")
    p.add_argument("--telemetry", action="store_true",
                   help="every telemeter of router_bench.sh's l5d row (see above)")
    p.add_argument("--distinct", action="store_true",
                   help="every request with its own target: no request head repeats")
    p.add_argument("--stats-off", action="store_true",
                   help="no per-request outcome, status or latency recording (L5D_STATS=off)")
    p.add_argument("--telemetry-yaml", metavar="FILE",
                   help="these telemeters instead (a top-level telemetry: list)")
    args = p.parse_args()
    telemetry = args.telemetry
    if args.telemetry_yaml:
        telemetry = FsPath(args.telemetry_yaml).read_text()
    one, check = build(args.router_yaml or args.policy, telemetry, args.distinct,
                       record_stats=not args.stats_off)
    for _ in range(2000):
        one()
    results = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.n):
            one()
        results.append((time.perf_counter() - t0) / args.n * 1e6)
        check()
    results.sort()
    print(f"l5d in-process: {results[len(results) // 2]:.1f} µs per request "
          f"(median of {args.reps} x {args.n}; min {results[0]:.1f}, max {results[-1]:.1f})")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.n):
            one()
        prof.disable()
        rows = int(os.environ.get("PROFILE_ROWS", "25"))
        pstats.Stats(prof).sort_stats("tottime").print_stats(rows)


if __name__ == "__main__":
    main()
