"""``scale``: how many pods of a service are in its Endpoints on each node, in one write."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

from .apiserver import attach_api
from .layout import SERVICES, node_index, node_name
from .node_processes import pod_ready, start_pod
from .objects import write_service_endpoints
from .procs import SimError, alive
from .state import need_state


def parse_placement(specs: list[str]) -> dict[int, int]:
    """``["node-3=2", "node-1=0"]`` -> ``{3: 2, 1: 0}``.

    :raises SimError: on a spec that is not ``node-N=COUNT``.
    """
    want: dict[int, int] = {}
    for spec in specs:
        node, sep, count = spec.partition("=")
        if not sep or not count.isdigit():
            raise SimError(f"bad placement {spec!r} (use node-N=COUNT)")
        want[node_index(node)] = int(count)
    return want


@dataclass
class ScaleResult:
    """What one Endpoints write changed, and when (``time.monotonic()``)."""

    service: str
    endpoints: list[str]
    added: list[str]
    removed: list[str]
    write_started: float
    write_done: float


def scale(state_dir: Path, service: str, want: dict[int, int]) -> ScaleResult:
    """Set how many pods of ``service`` are in its Endpoints on each node named in ``want``.

    Pods are kept in IP order: a node that needs more takes back its running pods that
    were removed earlier, then starts new ones (and waits until they answer); a node that
    needs fewer drops its highest IPs from the Endpoints. Removed pods keep running (as
    a terminating pod still serving during its grace period), so a request that still
    reaches one is seen; ``down`` stops them. Then one Endpoints write.

    :param want: node number -> pod count.
    :raises SimError: on an unknown service or node, or when the sim is not up.
    """
    if service not in SERVICES:
        raise SimError(f"unknown service {service!r} (known: {', '.join(SERVICES)})")
    st = need_state(state_dir)
    for n in want:
        if not 1 <= n <= st.nodes:
            raise SimError(f"no {node_name(n)} (nodes 1..{st.nodes})")
    before = {p.ip for p in st.pods_of(service) if p.in_service}
    fresh = []
    for n, count in want.items():
        mine = sorted((p for p in st.pods_of(service) if p.node == n and alive(p.pid)),
                      key=lambda p: ipaddress.ip_address(p.ip))
        while len(mine) < count:
            pod = start_pod(st, service, n)
            fresh.append(pod)
            mine.append(pod)
        for i, pod in enumerate(mine):
            pod.in_service = i < count
    for pod in fresh:
        pod_ready(pod)
    st.save()
    after = [p.ip for p in st.pods_of(service) if p.in_service]
    api = attach_api(st.api)
    try:
        t0 = time.monotonic()
        write_service_endpoints(api, st, service)
        t1 = time.monotonic()
    finally:
        api.stop()
    return ScaleResult(service, after, sorted(set(after) - before), sorted(before - set(after)),
                       t0, t1)
