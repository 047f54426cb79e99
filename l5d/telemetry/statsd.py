"""``io.l5d.statsd``: the registry to a statsd collector over UDP, lossless (shell).

Every ``gaugeIntervalMs`` the flush timer reads the registry's counters and gauges
through :class:`~l5d.telemetry.statsd_model.Aggregator` (deltas and values) and packs them
into datagrams of at most 1432 bytes; the timers of that flush are a
:class:`~l5d.telemetry.statsd_model.TimerRound` that reads one histogram at a time as its
datagrams are sent, so no single step reads them all. Nothing happens on the data path:
requests only update the registry.

The datagrams go from a UDP port of our own (``listenUDP(0)``), never ``connect()``-ed, so
an ICMP "port unreachable" from a host where nothing listens is never reported back as an
error on a later send, and a collector that sees datagrams as they are sent (the Sysdig
agent reads them in the system calls) still gets them all. Sending is paced, :data:`BURST`
datagrams every :data:`PACE_S` (about 5.7 MB/s, 23 KB per burst): a burst of thousands of
datagrams would overflow the collector's socket buffer, which drops silently (etsy's
statsd got 5 % of 2000 datagrams sent back to back on a 2-core machine, and all of them
paced so). Counters and gauges go first. When a flush comes before the previous round of
timers is out (more timer values than the pace sends in one interval), that round reads no
more histograms, the new round reads the ones it left first, and it samples at the
previous rate times the share of histograms the previous round read, each line marked
``|@rate`` so that statsd's counts stay right on average; the configured ``sampleRate``
comes back once a round ends in time. A send that the kernel refuses for want of buffer
space is tried again at the next pace; any other socket error drops that datagram and is
counted.

Its own counters, sent like any other: ``statsd/sent_datagrams``, ``statsd/sent_bytes``,
``statsd/send_errors``, ``statsd/timer_values`` (read) and ``statsd/sent_timer_values``
(sent; fewer only with ``sampleRate`` < 1 or when l5d could not keep up).
"""

from __future__ import annotations

import errno
import ipaddress
from collections import deque
from typing import Any

from twisted.internet import defer, error, task
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from l5d.config.telemeters import StatsdConfig
from l5d.telemetry.statsd_model import (
    DEFAULT_MAX_DATAGRAM_BYTES,
    Aggregator,
    Tally,
    TimerRound,
    pack,
)
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["StatsdTelemeter", "BURST", "PACE_S", "MIN_RATE_FACTOR"]

log = Logger()

#: datagrams sent per pace (16 every 4 ms rather than 4 every 1 ms: the same byte rate with
#: a quarter of the timer events, which under load cost the reactor more than the sends)
BURST = 16
#: seconds between two bursts
PACE_S = 0.004
#: the least share of a round's rate the next round keeps when l5d falls behind
MIN_RATE_FACTOR = 0.01
_RETRY_LATER = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)


class StatsdTelemeter(Telemeter):
    """Flushes the registry to ``hostname:port`` every ``gaugeIntervalMs``. Reactor-thread
    only.

    :param cfg: the config. :param ctx: reactor (``IReactorTime``, ``IReactorUDP``), the
        registry, and the rng that samples timers when ``sampleRate`` < 1.
    """

    def __init__(self, cfg: StatsdConfig, ctx: TelemetryContext,
                 max_datagram_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES) -> None:
        self._cfg = cfg
        self._reactor = ctx.reactor
        self._stats = ctx.stats
        self._max_bytes = max_datagram_bytes
        self._rng = ctx.rng
        self.aggregator = Aggregator(cfg.prefix)
        own = ctx.stats.scope("statsd")
        self._sent = own.counter("sent_datagrams")
        self._sent_bytes = own.counter("sent_bytes")
        self._errors = own.counter("send_errors")
        self._tally = tally = Tally()
        own.function_counter(lambda: tally.values, "timer_values")
        own.function_counter(lambda: tally.kept, "sent_timer_values")
        self._priority: deque[bytes] = deque()
        #: timer rounds being sent, oldest first (more than one only when behind)
        self._rounds: deque[TimerRound] = deque()
        self._warned = False
        self._address: tuple[str, int] | None = None
        self._resolving = False
        self._port: Any = None
        self._loop: task.LoopingCall | None = None
        self._pacer: Any = None
        self._drained: list[defer.Deferred[None]] = []
        self._stopped = False

    # -- life ----------------------------------------------------------------
    def start(self) -> None:
        """Open the sending port, resolve the host, and flush every interval."""
        host = self._cfg.hostname
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            self._address = (str(ip), self._cfg.port)
        interface = "::" if ip is not None and ip.version == 6 else ""
        self._port = self._reactor.listenUDP(0, DatagramProtocol(), interface=interface)
        self._stats.add_removal_listener(self._retire)
        if self._address is None:
            self._resolve()
        log.info("io.l5d.statsd: sending to {host}:{port} as {prefix!r} every {interval} s",
                 host=host, port=self._cfg.port, prefix=self._cfg.prefix,
                 interval=self._cfg.gauge_interval_s)
        self._loop = task.LoopingCall(self.flush)
        self._loop.clock = self._reactor
        self._loop.start(self._cfg.gauge_interval_s, now=False)

    def stop(self) -> defer.Deferred[None]:
        """A last flush; fires once it is sent (paced), then closes the port."""
        if self._stopped:
            return defer.succeed(None)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.flush()
        self._stopped = True
        done: defer.Deferred[None] = defer.Deferred()
        if self._pacer is None:
            done.callback(None)
        else:
            self._drained.append(done)

        def close(_: Any) -> Any:
            port, self._port = self._port, None
            return port.stopListening() if port is not None else None

        return done.addCallback(close)

    # -- flushing --------------------------------------------------------------
    def flush(self) -> None:
        """Read the registry and queue what it gained (nothing until the host is known:
        the deltas wait in the registry)."""
        if self._stopped or self._port is None:
            return
        if self._address is None:
            self._resolve()
            return
        try:
            out = self.aggregator.flush(self._stats)
            self._priority.extend(pack(out.priority, self._max_bytes))
            self._rounds.append(self._round(out))
        except Exception:  # a bug must not stop the flush timer
            log.failure("io.l5d.statsd: flush failed")
            return
        if self._pacer is None:
            self._send()

    def _round(self, out: Any) -> TimerRound:
        """This flush's timers, at ``sampleRate`` or, when the previous round is still
        being sent, at less (see the module docstring)."""
        rate, first = self._cfg.sample_rate, []
        if self._rounds:
            last = self._rounds[-1]
            first = last.stop_reading()
            rate = last.rate * max(MIN_RATE_FACTOR, last.fraction_read)
            if rate < self._cfg.sample_rate and not self._warned:
                self._warned = True
                log.warn("io.l5d.statsd: more timer values than can be sent in one "
                         "gaugeIntervalMs; sending a sample of them (rate {rate:.3g}, marked), "
                         "see statsd/timer_values and statsd/sent_timer_values (logged once)",
                         rate=rate)
        return TimerRound(self.aggregator, out, rate, self._rng, self._tally, first,
                          self._max_bytes)

    def _retire(self, gone: Any) -> None:
        if not self._stopped:
            self.aggregator.retire(gone)

    def _resolve(self) -> None:
        if self._resolving:
            return
        self._resolving = True

        def resolved(ip: str) -> None:
            self._address = (ip, self._cfg.port)

        def failed(reason: Any) -> None:
            log.warn("io.l5d.statsd: cannot resolve {host} ({reason}); trying again at the "
                     "next flush", host=self._cfg.hostname, reason=reason.getErrorMessage())

        def done(_: Any) -> None:
            self._resolving = False

        self._reactor.resolve(self._cfg.hostname).addCallbacks(resolved, failed) \
            .addBoth(done)

    # -- sending ---------------------------------------------------------------
    def _next(self) -> bytes | None:
        """The next datagram to send: counters and gauges first, then timers."""
        if self._priority:
            return self._priority.popleft()
        while self._rounds:
            datagram = self._rounds[0].next()
            if datagram is not None:
                return datagram
            self._rounds.popleft()
        return None

    def _send(self) -> None:
        """Send up to :data:`BURST` datagrams now and the rest later, :data:`PACE_S` apart."""
        self._pacer = None
        port, address = self._port, self._address
        if port is None or address is None:
            return self._drained_now()
        for _ in range(BURST):
            datagram = self._next()
            if datagram is None:
                return self._drained_now()
            try:
                port.write(datagram, address)
            except OSError as err:
                if err.errno in _RETRY_LATER:  # the socket's buffer is full: next pace
                    self._priority.appendleft(datagram)
                    break
                self._error(err)
            except error.MessageLengthError as err:
                self._error(err)
            else:
                self._sent.incr()
                self._sent_bytes.incr(len(datagram))
        self._pacer = self._reactor.callLater(PACE_S, self._send)

    def _drained_now(self) -> None:
        drained, self._drained = self._drained, []
        for d in drained:
            d.callback(None)

    def _error(self, err: Exception) -> None:
        if self._errors.value == 0:
            log.warn("io.l5d.statsd: sending to {address} failed: {err} (counted in "
                     "statsd/send_errors, logged once)", address=self._address, err=err)
        self._errors.incr()
