"""Process figures: uptime, memory, file descriptors, CPU time and garbage collection
(shell: reads ``/proc`` and the ``resource`` and ``gc`` modules when metrics are read).

Linkerd exports its JVM's figures under ``jvm/``; l5d's live under ``process/`` with the
same leaf names where the meaning is the same:

* ``process/uptime``: milliseconds since the process started (``jvm/uptime``);
* ``process/mem/rss``: resident memory in bytes (``jvm/mem/current/used``);
* ``process/open_fds``, ``process/max_fds``: open file descriptors and their soft limit
  (``jvm/fd_count``, ``jvm/fd_limit``);
* ``process/cpu_seconds``: user and system CPU time used (a counter);
* ``process/gc/cycles``, ``process/gc/msec``: collections of every generation, and the
  milliseconds they took (counters; ``jvm/gc/cycles``, ``jvm/gc/msec``);
* ``process/num_cpus``: the CPUs this process may run on (``jvm/num_cpus``).
"""

from __future__ import annotations

import gc
import os
import resource
import time
from typing import Callable

from l5d.telemetry.stats import Stats

__all__ = ["ProcessProbe"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessProbe:
    """Reads this process's figures; made by the entry point (it alone touches process
    globals) and registered in a :class:`~l5d.telemetry.stats.Stats` by the linker.

    :param clock: monotonic seconds (``time.monotonic``); the probe's start is uptime 0.
    :param timer: a fine clock for collection pauses (``time.perf_counter``).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._timer = timer
        self._started = clock()
        self._gc_s = 0.0
        self._gc_began = 0.0
        self._hooked = False

    def install(self) -> None:
        """Time every collection (a ``gc.callbacks`` hook; the entry point calls this)."""
        if not self._hooked:
            gc.callbacks.append(self._gc_event)
            self._hooked = True

    def uninstall(self) -> None:
        if self._hooked:
            gc.callbacks.remove(self._gc_event)
            self._hooked = False

    def _gc_event(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_began = self._timer()
        else:
            self._gc_s += self._timer() - self._gc_began

    def register(self, stats: Stats) -> None:
        """Add the ``process/...`` figures to ``stats`` (each read when metrics are)."""
        scope = stats.scope("process")
        scope.function_gauge(self.uptime_ms, "uptime")
        scope.function_gauge(rss_bytes, "mem", "rss")
        scope.function_gauge(fd_count, "open_fds")
        scope.function_gauge(lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0], "max_fds")
        scope.function_counter(cpu_seconds, "cpu_seconds")
        scope.function_counter(lambda: sum(g["collections"] for g in gc.get_stats()),
                               "gc", "cycles")
        scope.function_counter(lambda: int(self._gc_s * 1000), "gc", "msec")
        scope.function_gauge(num_cpus, "num_cpus")

    def uptime_ms(self) -> int:
        return int((self._clock() - self._started) * 1000)


def rss_bytes() -> int:
    """Resident memory now (``/proc/self/statm``; the peak from ``getrusage`` elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir opened
    except OSError:
        return -1


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def num_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
