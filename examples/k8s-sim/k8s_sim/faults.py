"""Faults as a real cluster has them: a pod's container dies and the kubelet restarts it,
and one of l5d's worker processes dies. (The API server's restart is in :mod:`.apiserver`.)

What a real cluster does when a container's process dies (``kill -9``, an OOM kill):

1. The pod's network namespace lives on (the pause container holds it), so its IP stays
   and a connection to the dead port is refused at once (RST), never left hanging.
2. The kubelet notices within about a second (its pod lifecycle event generator relists
   every second) and marks the pod not ready; the endpoints controller then moves the
   address out of the Endpoints' ``addresses``. Until then the Endpoints still list it,
   so l5d must cope with a refused connection (retry elsewhere, or answer a deliberate
   502 with ``l5d-err``): :data:`KUBELET_NOTICE_S`.
3. The kubelet restarts the container in the same pod (same IP and port; the first
   restart has no back-off), and the address is back in the Endpoints once it is ready.

:func:`kill_pod` plays that out in order. Its state updates take ``lock``, so a caller
that also changes the state from another thread (the soak's Endpoints churn) can share
one lock.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from l5d.workers.procs import worker_pids

from .apiserver import attach_api
from .layout import node_name
from .node_processes import pod_ready, run_pod
from .objects import write_service_endpoints
from .procs import SimError, alive, cmdline, reap
from .state import Pod, State, need_state

#: seconds from a container's death to its address leaving the Endpoints (the kubelet's
#: one-second relist, then the endpoints controller)
KUBELET_NOTICE_S = 1.0


@dataclass
class PodRestart:
    """What :func:`kill_pod` did, with ``time.monotonic()`` times."""

    pod: str
    old_pid: int
    new_pid: int
    killed: float
    out_of_endpoints: float
    ready: float
    back_in_endpoints: float


def _write_endpoints(st: State, service: str) -> None:
    api = attach_api(st.api)
    try:
        write_service_endpoints(api, st, service)
    finally:
        api.stop()


def _pod(st: State, name: str) -> Pod:
    for pod in st.pods:
        if pod.name == name:
            return pod
    raise SimError(f"no pod {name!r} (pods: {', '.join(p.name for p in st.pods)})")


def _set_in_service(state_dir: Path, name: str, in_service: bool, *,
                    write: bool) -> tuple[State, Pod]:
    """Record whether pod ``name`` is in its service's Endpoints; with ``write``, write
    them (one PUT)."""
    st = need_state(state_dir)
    pod = _pod(st, name)
    pod.in_service = in_service
    st.save()
    if write:
        _write_endpoints(st, pod.service)
    return st, pod


def kill_pod(state_dir: Path, name: str, *, notice_s: float = KUBELET_NOTICE_S,
             lock: AbstractContextManager = nullcontext()) -> PodRestart:
    """SIGKILL pod ``name``'s process, then do what the kubelet and the endpoints
    controller do (module docstring): after ``notice_s`` its address leaves the
    Endpoints, its process is started again at the same address, and once it answers
    the address is back.

    :param lock: held around each read-change-write of the state and its Endpoints.
    :raises SimError: if the sim is not up, there is no such pod, it does not run, or it
        is not ready again within ``POD_READY_S``.
    """
    with lock:
        st = need_state(state_dir)
        pod = _pod(st, name)
        if not alive(pod.pid) or pod.ip not in cmdline(pod.pid):
            raise SimError(f"pod {name} does not run")
        old_pid = pod.pid
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        reap(old_pid)
        was_in_service = pod.in_service
    time.sleep(notice_s)
    with lock:
        st, pod = _set_in_service(state_dir, name, False, write=was_in_service)
        out = time.monotonic()
        pod.pid = run_pod(st, pod)
        st.save()
    pod_ready(pod)
    ready = time.monotonic()
    with lock:
        _set_in_service(state_dir, name, was_in_service, write=was_in_service)
        back = time.monotonic()
    return PodRestart(name, old_pid, pod.pid, killed, out, ready, back)


def kill_worker(state_dir: Path, node: int, sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` to one worker of node ``node``'s l5d (its first, by pid): SIGTERM, as
    ``kill`` does (the worker drains, then l5d starts another), or SIGKILL (a crash: what
    is in flight on its connections is cut).

    :return: the killed worker's pid, or ``None`` when that l5d runs one process.
    :raises SimError: if the sim is not up or that node's l5d does not run.
    """
    st = need_state(state_dir)
    entry = st.l5d.get(node_name(node), {})
    pid = entry.get("pid")
    if not alive(pid):
        raise SimError(f"l5d on {node_name(node)} does not run")
    workers = worker_pids(pid)
    if not workers:
        return None
    os.kill(workers[0], sig)
    return workers[0]
