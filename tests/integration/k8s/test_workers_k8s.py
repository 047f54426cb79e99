"""``workers: 2`` against a real kube-apiserver: the API sees one watch per object per node.

Both workers get requests for three Kubernetes-bound services (twenty connections each,
spread by ``SO_REUSEPORT``); their bindings come from the control, which alone talks to
the API: the control's ``#/io.l5d.k8s/watches`` is what one process opens for three
services, and no worker has a connection to the API server. An Endpoints change reaches
both workers' routing (through the control's namer) without a watch of their own.
"""

from __future__ import annotations

import socket
from pathlib import Path

from l5d.workers.procs import socket_inodes, worker_pids
from tests.helpers.k8s_api import ApiServer
from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.integration.k8s.test_k8s_namer import kubeconfig_access, namer_yaml, subset

TIMEOUT_S = 20.0
SERVICES = ("web", "api", "db")


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections of ``pid`` to a remote ``port`` on this host."""
    remote = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if int(parts[2].split(":")[1], 16) == port and parts[3] == "01":
                remote.add(int(parts[9]))
    return len(socket_inodes(pid) & remote)


def send_and_close(port: int, host: str) -> None:
    """One request; its answer is not awaited (the pods' addresses lead nowhere here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        c.settimeout(0.3)
        try:
            c.recv(4096)
        except OSError:
            pass


def test_one_watch_per_object_whatever_the_workers(
        k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
    ns = k8s_namespace
    for name in SERVICES:
        k8s_api.put_endpoints(ns, name, [subset("10.244.1.2")])
    config = config_text(f"/svc => /#/io.l5d.k8s/{ns}/http", workers=2,
                         namers=namer_yaml(kubeconfig_access(k8s_api, tmp_path)))
    with L5d(config=config) as l5d:
        workers = worker_pids(l5d.proc.pid)
        assert len(workers) == 2
        for _ in range(20):
            for name in SERVICES:
                send_and_close(l5d.port, name)

        def watching() -> bool:
            return l5d.metrics().get("#/io.l5d.k8s/watches") == len(SERVICES)

        assert wait_for(watching, TIMEOUT_S), l5d.metrics().get("#/io.l5d.k8s/watches")
        assert connections_to(l5d.proc.pid, k8s_api.port) >= 1
        assert [connections_to(pid, k8s_api.port) for pid in workers] == [0, 0]
        state = l5d.metrics()
        assert state["#/io.l5d.k8s/lists"] == len(SERVICES)

        # every worker asked the control to bind (each service, and again after the
        # namer's generation moved)
        assert all(state[f"workers/{i}/binds"] >= len(SERVICES) for i in range(2)), state

        # an Endpoints change reaches the workers through the control
        k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2", "10.244.2.2")])

        def both() -> bool:
            for _ in range(6):
                send_and_close(l5d.port, "web")
            got = client_state(l5d)
            return got.get(f"/#/io.l5d.k8s/{ns}/http/web", {}).get("addresses") == [
                "10.244.1.2:7777", "10.244.2.2:7777"]

        assert wait_for(both, TIMEOUT_S)
        assert [connections_to(pid, k8s_api.port) for pid in workers] == [0, 0]
        assert l5d.metrics()["#/io.l5d.k8s/watches"] == len(SERVICES)


def client_state(l5d: L5d) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{l5d.admin_port}/client_state.json",
                                timeout=10) as rsp:
        return json.loads(rsp.read())
