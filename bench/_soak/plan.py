"""What the soak does when (pure): the events' schedule and the Endpoints churn's steps.

Times are seconds from the start of the load. The one-off events run in rounds, in the
order of :data:`EVENTS`, spread evenly between 10 % and 80 % of the run, so that the
last one has at least a fifth of the run under load after it; a round every
:data:`ROUND_S` (at least one). The churn writes world-v1's Endpoints every
:data:`CHURN_INTERVAL_S` for the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHURN_INTERVAL_S", "EVENTS", "MAX_DURATION_S", "ROUND_S", "SAMPLE_INTERVAL_S",
           "TABLE_INTERVAL_S", "Planned", "churn_step", "plan", "warmup_s"]

#: the one-off events, in the order each round runs them
EVENTS = ("dtab-save", "pod-kill", "apiserver-restart", "config-reload", "worker-kill")
ROUND_S = 120.0
CHURN_INTERVAL_S = 1.0
#: resources are sampled this often (growth is judged on every sample) and reported
#: every TABLE_INTERVAL_S
SAMPLE_INTERVAL_S = 2.0
TABLE_INTERVAL_S = 10.0
MAX_DURATION_S = 600.0
FIRST_AT, LAST_AT = 0.10, 0.80


@dataclass(frozen=True, slots=True)
class Planned:
    """One event: ``name``, in round ``round`` (from 1), due ``at_s`` into the run."""

    at_s: float
    name: str
    round: int


def plan(duration_s: float) -> list[Planned]:
    """:return: the one-off events of a run of ``duration_s``, in time order.

    >>> [(p.at_s, p.name) for p in plan(50)][:2]
    [(5.0, 'dtab-save'), (13.75, 'pod-kill')]
    """
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S:.0f}]: {duration_s!r}")
    rounds = max(1, round(duration_s / ROUND_S))
    n = rounds * len(EVENTS)
    first, last = FIRST_AT * duration_s, LAST_AT * duration_s
    step = (last - first) / (n - 1)
    return [Planned(round(first + i * step, 3), EVENTS[i % len(EVENTS)], i // len(EVENTS) + 1)
            for i in range(n)]


def churn_step(k: int) -> dict[int, int]:
    """world-v1's pods in the Endpoints at churn step ``k``: node -> count.

    node-3 alternates between one pod and two every step; node-1 has a pod every other
    pair of steps, so the service also spans two nodes half the time. node-3's first
    pod is in every step: a request always has a pod to reach.

    >>> [churn_step(k) for k in range(4)]
    [{3: 1, 1: 0}, {3: 2, 1: 0}, {3: 1, 1: 1}, {3: 2, 1: 1}]
    """
    return {3: 1 + k % 2, 1: (k // 2) % 2}


def warmup_s(duration_s: float) -> float:
    """How long after the start resources are not judged for growth (caches, pools and
    lazily made objects fill then): a quarter of the run, at most a minute."""
    return min(60.0, duration_s / 4)
