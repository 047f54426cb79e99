"""Finagle's load balancers as Linkerd 1.x uses them (pure: no Twisted, no I/O).

- :mod:`l5d.lb.node`: :class:`Node` (one endpoint, kept across updates) and the
  status values ``OPEN < BUSY < CLOSED`` (lower is healthier).
- :mod:`l5d.lb.ewma`: the Peak EWMA latency metric and the load band's EMA.
- :mod:`l5d.lb.balancer`: :class:`Balancer` (updates, stats, the maxEffort
  pick frame with fail open); ``Balancer(kind, rng=..., now=...)`` returns the
  kind's subclass from :mod:`~l5d.lb.p2c` (``p2c``, ``ewma``),
  :mod:`~l5d.lb.aperture`, :mod:`~l5d.lb.heap` or :mod:`~l5d.lb.roundrobin`.
"""

from l5d.lb.balancer import KINDS, Balancer
from l5d.lb.ewma import PeakEwma
from l5d.lb.node import BUSY, CLOSED, OPEN, Node

# the kinds register themselves with Balancer when imported
from l5d.lb import aperture, heap, p2c, roundrobin  # noqa: E402,F401  isort: skip

__all__ = ["OPEN", "BUSY", "CLOSED", "Balancer", "Node", "PeakEwma", "KINDS"]
