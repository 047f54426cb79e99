"""``workers: 2`` against a real kube-apiserver: the API sees one watch per object per node.

Both workers get requests for three Kubernetes-bound services (twenty connections each,
spread by ``SO_REUSEPORT``); their bindings come from the control, which alone talks to
the API: the control's ``#/io.l5d.k8s/watches`` is what one process opens for three
services, and no worker has a connection to the API server. An Endpoints change reaches
both workers' routing (through the control's namer) without a watch of their own. The
same holds for an ``io.l5d.ingress`` identifier's Ingresses, across reloads.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable

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


def test_ingress_rules_reach_every_worker_from_the_control_s_one_watch(
        k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
    """``io.l5d.ingress`` with ``workers: 2``: the control watches the Ingresses and
    sends them; the workers open no connection to the API, route by the rules, and follow
    a change. An empty namespace is known (not "not loaded yet") in every worker."""
    import requests

    from tests.helpers.backends import EchoBackend
    from tests.integration.k8s.test_ingress import ingress, rule

    ns = k8s_namespace
    coll = f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
    router = ("identifier:\n  kind: io.l5d.ingress\n  namespace: " + ns + "\n"
              f"  kubeconfig: {k8s_api.kubeconfig(tmp_path / 'kubeconfig')}\n")
    with EchoBackend() as site, EchoBackend() as shop:
        dtab = (f"/svc/{ns}/http/site=>/$/inet/127.1/{site.port};"
                f"/svc/{ns}/http/shop=>/$/inet/127.1/{shop.port}")
        with L5d(config=config_text(dtab, router=router, workers=2)) as l5d:
            workers = worker_pids(l5d.proc.pid)
            assert len(workers) == 2
            conns = [requests.Session() for _ in range(24)]
            url = f"http://127.0.0.1:{l5d.port}/x"

            def answers(session: requests.Session) -> tuple[int, str]:
                rsp = session.get(url, headers={"Host": "web.example"}, timeout=10)
                return rsp.status_code, rsp.text

            def every(expect: Callable[[tuple[int, str]], bool]) -> bool:
                return all(expect(answers(s)) for s in conns)

            # no Ingress yet: every worker knows the (empty) list
            assert wait_for(lambda: every(lambda a: a[0] == 400 and "no ingress rule" in a[1]),
                            TIMEOUT_S), [answers(s) for s in conns[:2]]
            ours = {int(line.split()[9]) for line in open("/proc/net/tcp").readlines()[1:]
                    if int(line.split()[1].split(":")[1], 16) == l5d.port
                    and line.split()[3] == "01"}
            assert all(socket_inodes(pid) & ours for pid in workers)  # both serve these

            k8s_api.create_or_replace(coll, ingress("web", [rule("web.example", "/", "site")]))
            before = len(site.requests)
            assert wait_for(lambda: every(lambda a: a[0] == 200), TIMEOUT_S)
            assert len(site.requests) - before >= len(conns)

            k8s_api.create_or_replace(coll, ingress("web", [rule("web.example", "/", "shop")]))
            assert wait_for(lambda: every(lambda a: a[0] == 200) and all(
                answers(s)[0] == 200 for s in conns) and len(shop.requests) >= len(conns),
                TIMEOUT_S)
            before = len(shop.requests)
            assert every(lambda a: a[0] == 200) and len(shop.requests) - before == len(conns)
            assert connections_to(l5d.proc.pid, k8s_api.port) >= 1
            assert [connections_to(pid, k8s_api.port) for pid in workers] == [0, 0]

            # reloads: one that rebuilds the router, one that keeps it; the rules still
            # reach every worker after each
            reload_url = f"http://127.0.0.1:{l5d.admin_port}/admin/reload"
            texts = (config_text(dtab + ";/svc/other=>/$/inet/127.1/9", router=router,
                                 workers=2),
                     config_text(dtab + ";/svc/other=>/$/inet/127.1/9", router=router,
                                 workers=2) + "telemetry:\n- kind: io.l5d.prometheus\n")
            for text, target, backend in ((texts[0], "site", site), (texts[1], "shop", shop)):
                l5d.config_path.write_text(text)
                doc = requests.post(reload_url, headers=l5d.admin_auth, timeout=10).json()
                assert doc["outcome"] == "reloaded", doc
                k8s_api.create_or_replace(coll, ingress("web", [
                    rule("web.example", "/", target)]))

                def moved(backend=backend) -> bool:
                    before = len(backend.requests)
                    return every(lambda a: a[0] == 200) and \
                        len(backend.requests) - before == len(conns)

                assert wait_for(moved, TIMEOUT_S), target
            assert [connections_to(pid, k8s_api.port) for pid in workers] == [0, 0]
            assert len(worker_pids(l5d.proc.pid)) == 2
            for s in conns:
                s.close()
