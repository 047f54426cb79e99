"""l5d.telemetry.process: the process/... figures."""

from __future__ import annotations

import gc
import os

from l5d.telemetry.flat import flat_metrics
from l5d.telemetry.process import ProcessProbe
from l5d.telemetry.stats import Stats


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_uptime_follows_the_injected_clock() -> None:
    clock = Ticks()
    probe = ProcessProbe(clock=clock)
    stats = Stats()
    probe.register(stats)
    clock.t += 2.5
    assert flat_metrics(stats, ())["process/uptime"] == 2500


def test_figures_of_this_process() -> None:
    stats = Stats()
    ProcessProbe().register(stats)
    m = flat_metrics(stats, ())
    assert m["process/mem/rss"] > 1 << 20
    opened = os.open(os.devnull, os.O_RDONLY)
    try:
        assert flat_metrics(stats, ())["process/open_fds"] == m["process/open_fds"] + 1
    finally:
        os.close(opened)
    assert m["process/max_fds"] >= m["process/open_fds"] > 0
    assert m["process/cpu_seconds"] > 0
    assert m["process/num_cpus"] >= 1


def test_collections_are_counted_and_timed() -> None:
    timer = Ticks()
    probe = ProcessProbe(timer=timer)
    stats = Stats()
    probe.register(stats)
    probe.install()
    try:
        before = flat_metrics(stats, ())["process/gc/cycles"]
        probe._gc_event("start", {})
        timer.t += 0.25
        probe._gc_event("stop", {})
        gc.collect()
        m = flat_metrics(stats, ())
    finally:
        probe.uninstall()
    assert m["process/gc/cycles"] > before
    assert m["process/gc/msec"] >= 250
