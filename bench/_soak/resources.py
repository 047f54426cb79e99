"""Resident memory and open files of the cluster's processes, from ``/proc`` (shell).

The processes: every node's l5d (its process, and its workers when it runs several),
kube-apiserver and etcd (their pids from the sim's ``api.json``, which names the new
kube-apiserver after a restart). :func:`sample_every` samples them all on a fixed
period until told to stop.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from k8s_sim.state import State, read_json
from l5d.workers.procs import worker_pids

from .report import Sample


def read_proc(pid: int) -> tuple[int, int] | None:
    """:return: ``pid``'s ``VmRSS`` (KiB) and its number of open fds, or ``None`` if it
    is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
    except (OSError, StopIteration):
        return None
    return rss, fds


def processes(state_dir: Path) -> list[tuple[str, int]]:
    """:return: (label, pid) of every process the soak watches, as they run now."""
    st = State.load(state_dir)
    found = []
    for node, entry in sorted(st.l5d.items()):
        pid = entry.get("pid")
        if not pid:
            continue
        found.append((f"l5d {node}", pid))
        for k, worker in enumerate(worker_pids(pid), 1):
            found.append((f"l5d {node} worker {k}", worker))
    api = read_json(state_dir / "api.json") or {}
    for label, key in (("kube-apiserver", "apiserver_pid"), ("etcd", "etcd_pid")):
        if api.get(key):
            found.append((label, api[key]))
    return found


def sample(state_dir: Path, t_s: float) -> list[Sample]:
    """:return: one :class:`Sample` per watched process that still runs."""
    out = []
    for label, pid in processes(state_dir):
        got = read_proc(pid)
        if got is not None:
            out.append(Sample(round(t_s, 2), label, pid, *got))
    return out


def sample_every(state_dir: Path, start: float, interval_s: float, stop: threading.Event,
                 into: list[Sample]) -> None:
    """Sample at ``start``, ``start + interval_s``, ... until ``stop`` is set, then once
    more (the end of the run) unless the last sample was just taken, appending to
    ``into``."""
    k = 0
    last = start - interval_s
    while not stop.wait(max(0.0, start + k * interval_s - time.monotonic())):
        last = time.monotonic()
        into.extend(sample(state_dir, last - start))
        k = max(k + 1, int((time.monotonic() - start) / interval_s) + 1)
    if time.monotonic() - last >= interval_s / 2:
        into.extend(sample(state_dir, time.monotonic() - start))
