"""How many CPUs l5d may use: the default number of workers (pure).

The CPUs it may run on (its affinity mask), capped by a cgroup CPU quota when one is
set: cgroup v2's ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) or v1's
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none). A quota of 1.5 CPUs
gives 2 workers (rounded up: the last one is busy part of the time), never fewer than 1.
"""

from __future__ import annotations

import math

__all__ = ["usable_cpus"]


def _quota(cpu_max: str | None, cfs_quota: str | None, cfs_period: str | None) -> float | None:
    """The quota in CPUs, or ``None`` when there is none (or it cannot be read)."""
    try:
        if cpu_max is not None:
            quota, _, period = cpu_max.strip().partition(" ")
            if quota == "max":
                return None
            return int(quota) / int(period or "100000")
        if cfs_quota is not None and cfs_period is not None:
            q = int(cfs_quota.strip())
            return None if q < 0 else q / int(cfs_period.strip())
    except (ValueError, ZeroDivisionError):
        return None
    return None


def usable_cpus(affinity: int, cpu_max: str | None = None, cfs_quota: str | None = None,
                cfs_period: str | None = None) -> int:
    """The number of workers ``workers: auto`` runs.

    :param affinity: the CPUs in the process's affinity mask.
    :param cpu_max: the text of the cgroup v2 ``cpu.max`` file, if any.
    :param cfs_quota: the text of cgroup v1 ``cpu.cfs_quota_us``; with ``cfs_period``.
    """
    n = max(1, affinity)
    quota = _quota(cpu_max, cfs_quota, cfs_period)
    if quota is not None and quota > 0:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return n
