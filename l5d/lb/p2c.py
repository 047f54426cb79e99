"""Power of two choices: kinds ``p2c`` (least loaded) and ``ewma`` (Peak EWMA) (pure).

The pick draws two distinct nodes uniformly at random and keeps the healthier
one, or the less loaded one when both are equally healthy (Mitzenmacher, "The
Power of Two Choices in Randomized Load Balancing", IEEE TPDS 12(10), 2001;
Finagle ``p2c/P2CPick.scala``). Each pick costs two random numbers and two load
reads, whatever the number of nodes, and the maximum load stays within
``O(log log n)`` of the mean instead of the ``O(log n / log log n)`` of one
random choice.

The trick for drawing a *distinct* pair without a retry loop: draw ``a`` from
``[0, n)`` and ``b`` from ``[0, n-1)``, then step ``b`` over the "hole" at
``a`` with ``if b >= a: b += 1``. Every index above the hole shifts by one, so
each of the ``n*(n-1)`` ordered pairs has probability ``1/(n*(n-1))``; ``==``
instead of ``>=`` would favour ``a + 1``.

One departure from Finagle: when the two differ in health, the less healthy one is
re-drawn (up to ``REDRAWS`` times) before the healthier one wins unexamined, so that
a node marked down does not hand its partners its share of picks whatever their
load (:func:`_rival`).

``p2c`` compares outstanding requests (Finagle ``LeastLoaded``); ``ewma``
compares Peak EWMA loads (:mod:`l5d.lb.ewma`, Finagle ``P2CPeakEwma``), with the
round-trip time measured from :meth:`acquired` to :meth:`released`.

Random indices are ``int(random() * n)``: one C call instead of the Python-level
``randrange``; the bias is below ``n / 2**53``, and the product is always below
``n`` because ``random() <= 1 - 2**-53``.

Mutable, reactor-thread only.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Hashable, Sequence

from l5d.lb.balancer import FrameBalancer
from l5d.lb.ewma import PeakEwma
from l5d.lb.node import OPEN, Node


#: partners re-drawn for the healthier node of a mixed pair (see :func:`_rival`)
REDRAWS = 8


def _rival(vec: Sequence[Node], bound: int, random: Callable[[], float], now: float,
           a: int, status: int) -> Node | None:
    """A partner for ``vec[a]`` that is as healthy as it (``status``), or ``None``.

    Finagle lets the healthier node of a pair win whatever its load. With one endpoint
    of three marked down, that hands each of the other two a third of all picks however
    slow it is. l5d instead re-draws the less healthy one, up to :data:`REDRAWS` times, so
    the healthy nodes are compared on load; only if no such partner turns up does the
    healthier node win unexamined (as in Finagle). With two nodes there is no other.
    """
    if bound < 3:
        return None
    for _ in range(REDRAWS):
        b = int(random() * (bound - 1))
        if b >= a:
            b += 1
        nb = vec[b]
        hb = nb.health
        if (OPEN if hb is None else hb.status(now)) == status:
            return nb
    return None


def pick_p2c(by_ewma: bool, vec: Sequence[Node], bound: int, random: Callable[[], float],
             now: float) -> Node | None:
    """P2C over ``vec[:bound]``: of two distinct nodes the healthier one (after
    re-drawing the other, see :func:`_rival`), then the less loaded one (a tie goes to
    the first draw). Use it through :data:`pick_least_loaded` or :data:`pick_peak_ewma`.

    :param by_ewma: load is the Peak EWMA load at ``now`` (every node must have an
        ``ewma`` metric); else the number of pending requests.
    :param vec: the nodes.
    :param bound: pick among the first ``bound`` nodes (``len(vec)`` for plain
        p2c, the aperture for aperture); at most ``len(vec)``.
    :param random: a ``random.Random().random`` method.
    :param now: monotonic seconds, for the nodes' health (and EWMA).
    :returns: ``None`` if ``vec`` is empty; ``vec[0]`` if ``bound < 2``.
    """
    if bound < 2:
        return vec[0] if vec else None
    a = int(random() * bound)
    b = int(random() * (bound - 1))
    if b >= a:
        b += 1
    na = vec[a]
    nb = vec[b]
    ha = na.health
    hb = nb.health
    if ha is not None or hb is not None:
        sa = OPEN if ha is None else ha.status(now)
        sb = OPEN if hb is None else hb.status(now)
        if sa != sb:
            if sb < sa:
                a, na, sa = b, nb, sb
            nb = _rival(vec, bound, random, now, a, sa)
            if nb is None:
                return na
    if by_ewma:
        return na if na.ewma.load(na.pending, now) <= nb.ewma.load(nb.pending, now) else nb
    return na if na.pending <= nb.pending else nb


#: ``pick_least_loaded(vec, bound, random, now)``: :func:`pick_p2c` by pending requests
#: (the balancer binds the first three arguments in one flat ``partial``)
pick_least_loaded = partial(pick_p2c, False)
#: ``pick_peak_ewma(vec, bound, random, now)``: :func:`pick_p2c` by Peak EWMA load
pick_peak_ewma = partial(pick_p2c, True)


class P2CBalancer(FrameBalancer, kind="p2c"):
    """Kind ``p2c``: P2C over the whole node set by pending requests.

    The distributor never needs a rebuild: unhealthy nodes stay in the vector
    and lose on status comparison and maxEffort.
    """

    _pick_fn = staticmethod(pick_least_loaded)

    def _build(self, now: float) -> None:
        vec = self._nodes
        # one C-level call per pick into the pure function, nothing rebuilt per pick
        self._pick_one = partial(self._pick_fn, vec, len(vec), self._random)

    def _rebuild(self, now: float) -> bool:
        return False


class PeakEwmaBalancer(P2CBalancer, kind="ewma"):
    """Kind ``ewma``: P2C by Peak EWMA load; the token is the start time."""

    _pick_fn = staticmethod(pick_peak_ewma)

    def _new_node(self, key: Hashable, endpoint: Any, health: Any, now: float) -> Node:
        node = Node(key, endpoint, health)
        node.ewma = PeakEwma(self._decay_s, now)
        return node

    def acquired(self, node: Node) -> float:
        node.pending += 1
        return self._now()

    def released(self, node: Node, token: float) -> None:
        now = self._now()
        node.pending -= 1
        rtt = now - token
        node.ewma.observe(rtt if rtt > 0.0 else 0.0, now)
