"""Failure accrual: per-endpoint circuit breaking that marks failing endpoints Busy (pure).

``policy``: when failures mark an endpoint dead and for how long (Linkerd's
``io.l5d.consecutiveFailures``, ``io.l5d.successRate``, ``io.l5d.successRateWindowed``, ``none``).
``failure_accrual``: the Alive/Dead/ProbeOpen/ProbeClosed state machine whose status feeds the
balancer.
"""

from l5d.accrual.failure_accrual import BUSY, OPEN, AccrualStats, FailureAccrual, State
from l5d.accrual.policy import (
    AccrualPolicy,
    ConsecutiveFailures,
    NoAccrual,
    SuccessRate,
    SuccessRateWindowed,
)

__all__ = [
    "AccrualPolicy",
    "AccrualStats",
    "BUSY",
    "ConsecutiveFailures",
    "FailureAccrual",
    "NoAccrual",
    "OPEN",
    "State",
    "SuccessRate",
    "SuccessRateWindowed",
]
