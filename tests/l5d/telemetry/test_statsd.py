"""io.l5d.statsd's shell on a Clock with a fake UDP port: when it flushes, how it paces,
what it does with socket errors, the last flush on stop, a host name to resolve."""

from __future__ import annotations

import errno
import random

from twisted.internet import defer, error, task
from twisted.internet.interfaces import IReactorTime, IReactorUDP
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from l5d.config.telemeters import StatsdConfig
from l5d.telemetry.stats import Stats
from l5d.telemetry.statsd import BURST, PACE_S, StatsdTelemeter
from l5d.telemetry.telemeter import TelemetryContext, build_telemeter

SVC = ("rt", "http", "service", "svc/hello")
REQUESTS = "linkerd.rt.http.service.svc.hello.requests"


class FakeUDPPort:
    """What ``listenUDP`` returns: records ``write(datagram, address)``; ``fail`` holds
    errors to raise on the next writes."""

    def __init__(self, port: int, interface: str) -> None:
        self.port, self.interface = port, interface
        self.written: list[tuple[bytes, tuple[str, int]]] = []
        self.fail: list[Exception] = []
        self.listening = True

    def write(self, datagram: bytes, addr: tuple[str, int]) -> None:
        assert self.listening
        if self.fail:
            raise self.fail.pop(0)
        self.written.append((datagram, addr))

    def stopListening(self) -> None:
        self.listening = False


@implementer(IReactorUDP, IReactorTime)
class FakeReactor(task.Clock):
    """A Clock with ``listenUDP`` and a ``resolve`` the test answers."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[FakeUDPPort] = []
        self.resolving: list[tuple[str, defer.Deferred]] = []

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        self.ports.append(FakeUDPPort(port, interface))
        return self.ports[-1]

    def listenMulticast(self, *args, **kwargs):  # part of no interface used here
        raise NotImplementedError

    def resolve(self, name: str, timeout=(1, 3, 11, 45)) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.resolving.append((name, d))
        return d


def telemeter(stats: Stats, reactor: FakeReactor, **config) -> StatsdTelemeter:
    cfg = StatsdConfig(**{"gauge_interval_s": 10.0, **config})
    ctx = TelemetryContext(reactor, stats, lambda: stats, reactor.seconds, reactor.seconds,
                           random.Random(3))
    t = build_telemeter(cfg, ctx)
    assert isinstance(t, StatsdTelemeter)
    return t


def lines(port: FakeUDPPort, own: bool = False) -> list[str]:
    """The lines sent, without the telemeter's own counters unless ``own``."""
    return [ln for d, _ in port.written for ln in d.decode().split("\n")
            if own or not ln.startswith("linkerd.statsd.")]


class FakeReactorTests(SynchronousTestCase):
    def test_the_fake_reactor_provides_what_the_telemeter_uses(self) -> None:
        verifyObject(IReactorUDP, FakeReactor())
        verifyObject(IReactorTime, FakeReactor())


class FlushTests(SynchronousTestCase):
    """Counters, gauges and timers go out every gaugeIntervalMs, from the flush timer."""

    def setUp(self) -> None:
        self.stats = Stats()
        self.reactor = FakeReactor()
        self.t = telemeter(self.stats, self.reactor, gauge_interval_s=10.0)
        self.requests = self.stats.counter(*SVC, "requests")

    def test_nothing_before_the_interval_then_deltas(self) -> None:
        """Built: no port. Started: a port of its own, nothing sent until 10 s, then the
        counter's delta; 10 s later only what it gained since."""
        self.assertEqual(self.reactor.ports, [])
        self.t.start()
        [port] = self.reactor.ports
        self.assertEqual(port.port, 0)
        self.requests.incr(3)
        self.reactor.advance(9.999)
        self.assertEqual(port.written, [])
        self.reactor.advance(0.001)
        self.assertEqual(lines(port), [f"{REQUESTS}:3|c"])
        self.assertEqual({a for _, a in port.written}, {("127.0.0.1", 8125)})
        self.requests.incr(2)
        self.reactor.advance(10)
        self.assertEqual(lines(port)[1:], [f"{REQUESTS}:2|c"])
        self.reactor.advance(10)  # nothing gained: only the telemeter's own counters move
        self.assertEqual(lines(port)[2:], [])
        self.assertIn("linkerd.statsd.sent_datagrams:1|c", lines(port, own=True))

    def test_own_counters(self) -> None:
        """statsd/sent_datagrams and statsd/sent_bytes count what went."""
        self.t.start()
        self.requests.incr()
        self.reactor.advance(10)
        [port] = self.reactor.ports
        self.assertEqual(self.stats.counter("statsd", "sent_datagrams").value, 1)
        self.assertEqual(self.stats.counter("statsd", "sent_bytes").value,
                         len(port.written[0][0]))
        self.reactor.advance(10)
        self.assertIn("linkerd.statsd.sent_datagrams:1|c", lines(port, own=True))

    def test_datagrams_are_paced_counters_first(self) -> None:
        """Thousands of timer values: BURST datagrams now, BURST more every PACE_S; the
        counters and gauges are in the first ones; every value arrives."""
        hist = self.stats.stat(*SVC, "request_latency_ms", scale=1000)
        for i in range(3000):
            hist.add(1000 + i)
        self.requests.incr(3000)
        self.stats.gauge(*SVC, "g").set(1)
        self.t.start()
        self.reactor.advance(10)
        [port] = self.reactor.ports
        self.assertEqual(len(port.written), BURST)
        self.assertEqual(lines(port)[:2], [f"{REQUESTS}:3000|c", "linkerd.rt.http.service.svc"
                                           ".hello.g:1|g"])
        self.reactor.advance(PACE_S)
        self.assertEqual(len(port.written), 2 * BURST)
        self.reactor.pump([PACE_S] * 1000)
        self.assertTrue(all(len(d) <= 1432 for d, _ in port.written))
        timers = [ln for ln in lines(port) if ln.endswith("|ms")]
        self.assertEqual(len(timers), 3000)
        self.assertEqual(self.reactor.getDelayedCalls()[0].getTime(), 20.0)  # only the timer

    def test_a_full_socket_buffer_is_retried_later_other_errors_counted(self) -> None:
        """EAGAIN/ENOBUFS: the same datagram goes at the next pace, nothing lost; another
        socket error drops that datagram and counts it."""
        self.t.start()
        [port] = self.reactor.ports
        self.requests.incr(1)
        port.fail = [BlockingIOError(errno.EAGAIN, "full"), OSError(errno.ENOBUFS, "nobufs")]
        self.reactor.advance(10)
        self.assertEqual(port.written, [])
        self.reactor.advance(PACE_S)
        self.assertEqual(port.written, [])
        self.reactor.advance(PACE_S)
        self.assertEqual(lines(port), [f"{REQUESTS}:1|c"])
        self.assertEqual(self.stats.counter("statsd", "send_errors").value, 0)
        for n, err in enumerate([OSError(errno.EPERM, "filtered"),
                                 error.MessageLengthError("too long")], 1):
            self.requests.incr(1)
            port.fail = [err]
            self.reactor.advance(10)  # this flush's only datagram is lost, and counted
            self.assertEqual(len(port.written), 1)
            self.assertEqual(self.stats.counter("statsd", "send_errors").value, n)
        self.requests.incr(1)
        self.reactor.advance(10)
        self.assertEqual(lines(port), [f"{REQUESTS}:1|c"] * 2)
        # the first error went out in the lost datagram; the second in this one
        self.assertIn("linkerd.statsd.send_errors:1|c", lines(port, own=True))

    def test_a_round_not_sent_by_the_next_flush_makes_the_next_one_sampled(self) -> None:
        """More timer values than the pace sends in one interval: at the next flush the
        round reads no more histograms (what it read still goes), the next round reads
        the rest first, sampled and marked |@rate; statsd's count of them stays right; a
        round that ends in time brings the configured rate back."""
        stats = Stats()
        reactor = FakeReactor()
        # 10 paces per interval: 10 * BURST datagrams; n values per histogram (100 lines of
        # 200 distinct values fill a datagram): 5 * BURST datagrams or so per histogram
        t = telemeter(stats, reactor, gauge_interval_s=10 * PACE_S)
        n = 500 * BURST
        for i in range(10):
            hist = stats.stat(f"h{i}")
            for v in range(n):
                hist.add(v % 200)
        stats.counter(*SVC, "requests").incr()
        t.start()
        [port] = reactor.ports
        reactor.pump([PACE_S] * 10)  # the first flush
        self.assertEqual(lines(port)[0], f"{REQUESTS}:1|c")
        reactor.pump([PACE_S] * 10)  # the next flush: only 2 of 10 histograms read
        reactor.pump([PACE_S] * 200)  # no new values: every round ends in time
        sent = lines(port)
        full = [ln for ln in sent if ln.endswith("|ms")]
        marked = [ln for ln in sent if "|ms|@" in ln]
        rates = [float(ln.rpartition("|@")[2]) for ln in marked]
        self.assertEqual(max(rates), 0.2)  # the first sampled round: 2 of 10 were read
        self.assertEqual({ln.split(":")[0] for ln in full}, {"linkerd.h0", "linkerd.h1"})
        self.assertEqual(len(full), 2 * n)
        self.assertEqual(stats.counter("statsd", "timer_values").value, 10 * n)
        self.assertEqual(stats.counter("statsd", "sent_timer_values").value,
                         len(full) + len(marked))
        counted = len(full) + sum(1 / r for r in rates)  # what statsd counts
        self.assertLess(abs(counted - 10 * n), 0.075 * 10 * n)
        self.assertEqual(self.flushLoggedErrors(), [])
        stats.stat("h0").add(1)
        reactor.pump([PACE_S] * 10)
        self.assertEqual(lines(port)[-1], "linkerd.h0:1|ms")  # the configured rate again

    def test_stop_flushes_what_is_left_and_fires_when_sent(self) -> None:
        """stop(): one last flush, paced; its Deferred fires when the queue is empty, and
        the port is closed; no timer is left."""
        hist = self.stats.stat(*SVC, "request_latency_ms", scale=1000)
        for i in range(500):
            hist.add(1000 + i)
        self.t.start()
        self.requests.incr(7)
        self.reactor.advance(5)
        d = self.t.stop()
        [port] = self.reactor.ports
        self.assertNoResult(d)
        self.assertIn(f"{REQUESTS}:7|c", lines(port))
        self.reactor.pump([PACE_S] * 100)
        self.successResultOf(d)
        self.assertFalse(port.listening)
        self.assertEqual(len([ln for ln in lines(port) if ln.endswith("|ms")]), 500)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.successResultOf(self.t.stop())  # twice is fine

    def test_stop_before_start(self) -> None:
        """A telemeter never started (the linker failed to listen) stops at once."""
        self.successResultOf(self.t.stop())
        self.assertEqual(self.reactor.ports, [])


class HostnameTests(SynchronousTestCase):
    """A host name is resolved without blocking; until then nothing is read or lost."""

    def test_deltas_wait_for_the_address(self) -> None:
        stats = Stats()
        reactor = FakeReactor()
        t = telemeter(stats, reactor, hostname="statsd.example")
        t.start()
        [port] = reactor.ports
        [(name, d)] = reactor.resolving
        self.assertEqual(name, "statsd.example")
        stats.counter(*SVC, "requests").incr(4)
        reactor.advance(10)
        self.assertEqual(port.written, [])
        d.errback(error.DNSLookupError("statsd.example"))
        self.assertEqual(len(self.flushLoggedErrors()), 0)
        reactor.advance(10)  # the next flush tries again
        [_, (_, d2)] = reactor.resolving
        d2.callback("10.1.2.3")
        stats.counter(*SVC, "requests").incr(1)
        reactor.advance(10)
        self.assertEqual(lines(port), [f"{REQUESTS}:5|c"])
        self.assertEqual(port.written[0][1], ("10.1.2.3", 8125))

    def test_an_ipv6_collector_gets_an_ipv6_port(self) -> None:
        reactor = FakeReactor()
        telemeter(Stats(), reactor, hostname="::1", port=9125).start()
        self.assertEqual(reactor.ports[0].interface, "::")
        self.assertEqual(reactor.resolving, [])


class SampleRateTests(SynchronousTestCase):
    def test_sampled_timers_marked_counters_exact(self) -> None:
        """sampleRate 0.01 (Linkerd's default): timers sampled and marked |@0.01, counters
        exact."""
        stats = Stats()
        reactor = FakeReactor()
        t = telemeter(stats, reactor, sample_rate=0.01)
        hist = stats.stat("lat", scale=1000)
        for i in range(10_000):
            hist.add(1000 + i % 50)
        stats.counter(*SVC, "requests").incr(10_000)
        t.start()
        reactor.advance(10)
        reactor.pump([PACE_S] * 100)
        [port] = reactor.ports
        got = lines(port)
        self.assertIn(f"{REQUESTS}:10000|c", got)
        timers = [ln for ln in got if "|ms" in ln]
        self.assertTrue(all(ln.endswith("|ms|@0.01") for ln in timers))
        self.assertTrue(50 < len(timers) < 150, len(timers))  # binomial(10000, 0.01)
