"""Peak EWMA latency metric and the plain EMA of the aperture load band (pure).

:class:`PeakEwma` is Finagle's ``PeakEwma`` metric (``loadbalancer/PeakEwma.scala``)
in seconds instead of nanoseconds. The cost is an exponentially weighted moving
average of round-trip times that is "peak sensitive": a sample above the
current cost replaces it at once, lower samples are blended in. Because the
samples arrive unevenly spaced, the weight of the old cost is ``exp(-td/tau)``
for the time ``td`` since the last observation (the unevenly-spaced time series
note by A. Eckner, "Algorithms for Unevenly Spaced Time Series", 2012), so the
cost decays toward zero while a node is idle. Reading the load applies that
decay first. A node with requests outstanding but no history yet gets a huge
penalty, so an unknown node is probed with one request and no more until that
first response comes back.

:class:`Ema` is Finagle's ``util/Ema.scala``: the same time-weighted average of
arbitrary values, without the peak rule, used by the aperture load band.

Time comes in as a ``now`` argument (monotonic seconds). A clock step backwards
counts as no time passing: the stamps never move back.

Mutable, reactor-thread only.
"""

from __future__ import annotations

from math import exp

#: Load of a node with no latency history and requests pending: Finagle's
#: ``Long.MaxValue >> 16`` (plus the pending count), far above any real cost.
PENALTY = float((2**63 - 1) >> 16)


class PeakEwma:
    """The Peak EWMA round-trip cost of one node, in seconds.

    ``load(pending, now)`` is ``cost * (pending + 1)``: the cost of the node if
    one more request were sent to it now.
    """

    __slots__ = ("tau", "cost", "stamp")

    def __init__(self, decay_s: float, now: float) -> None:
        """
        :param decay_s: the decay time ``tau`` (mean lifetime of an observation)
            in seconds; the cost halves every ``tau * ln 2`` of idleness. Must be
            greater than 0 (Linkerd's ``decayTimeMs``, default 10 s).
        :param now: the creation time, monotonic seconds.
        :raises ValueError: if ``decay_s`` is not greater than 0.
        """
        if not decay_s > 0:
            raise ValueError(f"decay_s must be > 0, got {decay_s!r}")
        self.tau = float(decay_s)
        self.cost = 0.0
        self.stamp = now

    def observe(self, rtt_s: float, now: float) -> None:
        """Fold one round-trip time into the cost.

        A sample above the cost becomes the cost; a lower one is averaged in with
        the old cost weighted by ``exp(-(now - stamp)/tau)``.

        :param rtt_s: the round-trip time in seconds (``0.0`` only decays).
        :param now: monotonic seconds; earlier than the last stamp counts as no
            time passing.
        """
        td = now - self.stamp
        if td > 0.0:
            self.stamp = now
        else:
            td = 0.0
        if rtt_s > self.cost:
            self.cost = rtt_s
        else:
            w = exp(-td / self.tau)
            self.cost = self.cost * w + rtt_s * (1.0 - w)

    def load(self, pending: int, now: float) -> float:
        """The node's load: the decayed cost times ``pending + 1``.

        Decays the cost to ``now`` first (a read updates the metric, as in
        Finagle). With no history (cost 0) and requests pending the load is
        ``PENALTY + pending``.

        :param pending: the node's outstanding requests.
        :param now: monotonic seconds.
        """
        td = now - self.stamp
        if td > 0.0:
            self.stamp = now
            cost = self.cost * exp(-td / self.tau)
            self.cost = cost
        else:
            cost = self.cost
        if cost == 0.0 and pending:
            return PENALTY + pending
        return cost * (pending + 1)

    def __repr__(self) -> str:
        return f"PeakEwma(tau={self.tau!r}, cost={self.cost!r}, stamp={self.stamp!r})"


class Ema:
    """An exponential moving average over unevenly spaced samples.

    The first sample is taken as is; after that the old average is weighted by
    ``exp(-(stamp - last)/window)`` (weight 0, i.e. no averaging, when the window
    is 0).
    """

    __slots__ = ("window", "last", "_time")

    def __init__(self, window_s: float) -> None:
        """
        :param window_s: the mean lifetime of an observation in seconds, >= 0.
        :raises ValueError: if ``window_s`` is negative.
        """
        if not window_s >= 0:
            raise ValueError(f"window_s must be >= 0, got {window_s!r}")
        self.window = float(window_s)
        self.last = 0.0
        self._time: float | None = None

    def update(self, stamp: float, x: float) -> float:
        """Fold in the sample ``x`` taken at ``stamp`` and return the new average.

        :param stamp: monotonic seconds; earlier than the previous stamp counts as
            the previous stamp.
        :param x: the sample.
        """
        time = self._time
        if time is None:
            self._time = stamp
            self.last = x
            return x
        td = stamp - time
        if td > 0.0:
            self._time = stamp
        else:
            td = 0.0
        w = exp(-td / self.window) if self.window else 0.0
        ema = x * (1.0 - w) + self.last * w
        self.last = ema
        return ema

    def reset(self) -> None:
        """Forget every sample: the next update starts afresh."""
        self._time = None
        self.last = 0.0
