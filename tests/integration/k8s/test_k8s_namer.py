"""io.l5d.k8s against a real kube-apiserver: a real l5d process, its admin API, real watches.

Endpoints here hold pod IPs that nothing listens on (the API server refuses loopback
addresses), so what l5d resolved is read from its admin ``/delegator.json`` (the same
tree the router binds) and ``/namer_state/io.l5d.k8s.json``; real traffic through
resolved pods is the three-node simulation's business (``test_k8s_sim.py``).

Each test gets its own namespace. The API is reached three ways (a kubeconfig, an
RBAC-limited service-account token, and a kubectl proxy), through a TCP fault proxy
when a watch has to be cut, and across an API-server restart.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k8s_api import ApiServer
from tests.helpers.l5d_process import L5d, config_text, wait_for

WAIT_S = 20.0
READ_RULES = [{"apiGroups": [""], "resources": ["endpoints", "services"],
               "verbs": ["get", "list", "watch"]}]


def subset(*ips: str, port: int = 7777, name: str = "http", node: str | None = None) -> dict:
    return {"addresses": [{"ip": ip, **({"nodeName": node} if node else {})} for ip in ips],
            "ports": [{"name": name, "port": port, "protocol": "TCP"}]}


def namer_yaml(access: str, extra: str = "") -> str:
    return f"namers:\n- kind: io.l5d.k8s\n{access}{extra}"


def kubeconfig_access(api: ApiServer, tmp_path: Path, token: str | None = None) -> str:
    path = api.kubeconfig(tmp_path / "kubeconfig", token)
    return f"  kubeconfig: {path}\n"


def start_l5d(api: ApiServer, tmp_path: Path, dtab: str, access: str | None = None,
              extra: str = "", env: dict | None = None) -> L5d:
    access = access or kubeconfig_access(api, tmp_path)
    return L5d(config=config_text(dtab, namers=namer_yaml(access, extra)), env=env)


def admin_json(l5d: L5d, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{l5d.admin_port}{path}", timeout=10) as r:
        return json.loads(r.read())


def primary(node: dict) -> object:
    """What a request to the delegated path would use: ``None`` (Neg), a status string
    (``pending``...), or the sorted ``ip:port`` list of the first non-Neg branch."""
    kind = node["type"]
    if kind == "delegate":
        return primary(node["delegate"])
    if kind == "transformation":
        return primary(node["tree"])
    if kind == "alt":
        for child in node["alt"]:
            found = primary(child)
            if found is not None:
                return found
        return None
    if kind == "leaf":
        addr = node["bound"]["addr"]
        if addr["type"] != "bound":
            return addr["type"]
        return sorted(f"{a['ip']}:{a['port']}" for a in addr["addrs"])
    if kind == "neg":
        return None
    return kind


def resolved(l5d: L5d, path: str) -> object:
    """:func:`primary` of the delegation, or ``"timed out"`` (503: a namer still pending)."""
    try:
        return primary(admin_json(l5d, f"/delegator.json?path={path}"))
    except urllib.error.HTTPError as err:
        if err.code == 503:
            return "timed out"
        raise


def eventually(l5d: L5d, path: str, expected: object, timeout_s: float = WAIT_S) -> None:
    seen: list = []

    def check() -> bool:
        seen.append(resolved(l5d, path))
        return seen[-1] == expected

    assert wait_for(check, timeout_s), f"{path}: wanted {expected}, last saw {seen[-1:]}"


class EndpointsLifecycleTests:
    def test_added_scaled_to_zero_with_fallback_deleted_and_recreated(
            self, k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
        ns = k8s_namespace
        dtab = (f"/svc => /$/inet/10.99.0.1/9; "
                f"/svc => /#/io.l5d.k8s/{ns}/http")
        with start_l5d(k8s_api, tmp_path, dtab) as l5d:
            eventually(l5d, "/svc/web", ["10.99.0.1:9"])  # no Endpoints yet: Neg, fallback
            k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2", "10.244.2.2")])
            eventually(l5d, "/svc/web", ["10.244.1.2:7777", "10.244.2.2:7777"])
            k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2", "10.244.2.2",
                                                     "10.244.3.2")])
            eventually(l5d, "/svc/web", ["10.244.1.2:7777", "10.244.2.2:7777",
                                         "10.244.3.2:7777"])
            k8s_api.put_endpoints(ns, "web", [])  # scaled to zero: Neg, fallback
            eventually(l5d, "/svc/web", ["10.99.0.1:9"])
            k8s_api.put_endpoints(ns, "web", [subset("10.244.4.2")])
            eventually(l5d, "/svc/web", ["10.244.4.2:7777"])
            k8s_api.delete_endpoints(ns, "web")
            eventually(l5d, "/svc/web", ["10.99.0.1:9"])
            k8s_api.put_endpoints(ns, "web", [subset("10.244.5.2")])
            eventually(l5d, "/svc/web", ["10.244.5.2:7777"])

    def test_only_ready_addresses_and_node_names(self, k8s_api: ApiServer, k8s_namespace: str,
                                                 tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.put_endpoints(ns, "web", [{
            "addresses": [{"ip": "10.244.1.2", "nodeName": "node-1"}],
            "notReadyAddresses": [{"ip": "10.244.1.3", "nodeName": "node-1"}],
            "ports": [{"name": "http", "port": 7777}]}])
        with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http") as l5d:
            eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
            leaf = admin_json(l5d, "/delegator.json?path=/svc/web")["delegate"]
            assert leaf["bound"]["addr"]["addrs"][0]["meta"] == {"nodeName": "node-1"}
            assert leaf["bound"]["id"] == f"/#/io.l5d.k8s/{ns}/http/web"


class PortTests:
    def test_named_and_numeric_ports_through_target_port(
            self, k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.apply_service(ns, "web", [{"name": "http", "port": 80, "targetPort": 7777},
                                          {"name": "admin", "port": 81, "targetPort": "admin"}])
        k8s_api.put_endpoints(ns, "web", [{
            "addresses": [{"ip": "10.244.1.2"}],
            "ports": [{"name": "http", "port": 7777}, {"name": "admin", "port": 9990}]}])
        dtab = f"/n => /#/io.l5d.k8s/{ns}"
        with start_l5d(k8s_api, tmp_path, dtab) as l5d:
            eventually(l5d, "/n/http/web", ["10.244.1.2:7777"])
            eventually(l5d, "/n/admin/web", ["10.244.1.2:9990"])
            eventually(l5d, "/n/80/web", ["10.244.1.2:7777"])  # numeric targetPort
            eventually(l5d, "/n/81/web", ["10.244.1.2:9990"])  # named targetPort
            assert resolved(l5d, "/n/82/web") is None  # not a Service port: Neg
            assert resolved(l5d, "/n/grpc/web") is None  # no such port name: Neg
            k8s_api.apply_service(ns, "web", [{"name": "http", "port": 80, "targetPort": 8888}])
            eventually(l5d, "/n/80/web", ["10.244.1.2:8888"])

    def test_label_selector(self, k8s_api: ApiServer, k8s_namespace: str,
                            tmp_path: Path) -> None:
        ns = k8s_namespace
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "web", "labels": {"version": "v2"}},
                "subsets": [subset("10.244.1.2")]}
        k8s_api.create_or_replace(f"/api/v1/namespaces/{ns}/endpoints", body)
        dtab = f"/svc => /#/io.l5d.k8s/{ns}/http"
        with start_l5d(k8s_api, tmp_path, dtab, extra="  labelSelector: version\n") as l5d:
            eventually(l5d, "/svc/web/v2", ["10.244.1.2:7777"])
            assert resolved(l5d, "/svc/web/v1") is None
            assert resolved(l5d, "/svc/web") is None  # the label value segment is missing


class DiscoveryTests:
    def test_endpoint_slices_v1beta1(self, k8s_api: ApiServer, k8s_namespace: str,
                                     tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.put_endpointslice_v1beta1(
            ns, "web-abc", "web",
            [{"addresses": ["10.244.1.2"], "conditions": {"ready": True},
              "topology": {"kubernetes.io/hostname": "node-1"}},
             {"addresses": ["10.244.2.2"], "conditions": {"ready": False}}],
            [{"name": "http", "port": 7777, "protocol": "TCP"}])
        dtab = f"/svc => /#/io.l5d.k8s/{ns}/http"
        with start_l5d(k8s_api, tmp_path, dtab, extra="  discovery: endpointSlices\n") as l5d:
            eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
            state = admin_json(l5d, "/namer_state/io.l5d.k8s.json")
            assert any("endpointslices" in (v["watch"]["request"] or "")
                       for v in state["endpoints"].values()), state
            k8s_api.put_endpointslice_v1beta1(
                ns, "web-def", "web", [{"addresses": ["10.244.3.2"],
                                        "conditions": {"ready": True}}],
                [{"name": "http", "port": 7777, "protocol": "TCP"}])
            eventually(l5d, "/svc/web", ["10.244.1.2:7777", "10.244.3.2:7777"])


class AccessTests:
    def test_rbac_limited_service_account(self, k8s_api: ApiServer, k8s_namespace: str,
                                          tmp_path: Path) -> None:
        """In-cluster credentials (token + CA files, KUBERNETES_SERVICE_*), allowed to read
        endpoints and services only; a rotated token is picked up."""
        ns = k8s_namespace
        account = k8s_api.service_account_dir(ns, "l5d", READ_RULES, tmp_path / "sa")
        k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2")])
        access = f"  serviceAccountDir: {account.dir}\n"
        with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http", access=access,
                       env=account.env) as l5d:
            eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
            k8s_api.service_account_dir(ns, "l5d", READ_RULES, tmp_path / "sa")  # rotate
            k8s_api.put_endpoints(ns, "web", [subset("10.244.1.3")])
            eventually(l5d, "/svc/web", ["10.244.1.3:7777"])

    def test_forbidden_is_retried_not_fatal(self, k8s_api: ApiServer, k8s_namespace: str,
                                            tmp_path: Path) -> None:
        ns = k8s_namespace
        account = k8s_api.service_account_dir(ns, "nobody", [], tmp_path / "sa")
        access = f"  serviceAccountDir: {account.dir}\n"
        with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http", access=access,
                       env=account.env) as l5d:
            assert resolved(l5d, "/svc/web") == "timed out"  # the list is forbidden: pending
            assert wait_for(lambda: "forbidden" in json.dumps(
                admin_json(l5d, "/namer_state/io.l5d.k8s.json")), WAIT_S)
            k8s_api.grant(ns, "nobody", READ_RULES)
            k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2")])
            eventually(l5d, "/svc/web", ["10.244.1.2:7777"], timeout_s=40)

    def test_kubectl_proxy_mode(self, k8s_api: ApiServer, k8s_namespace: str,
                                tmp_path: Path) -> None:
        """Linkerd's way: plain HTTP to a kubectl proxy (``host``/``port``)."""
        ns = k8s_namespace
        k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2")])
        with k8s_api.kubectl_proxy() as proxy:
            access = f"  host: 127.0.0.1\n  port: {proxy.port}\n"
            with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http",
                           access=access) as l5d:
                eventually(l5d, "/svc/web", ["10.244.1.2:7777"])


class WatchFaultTests:
    def test_cut_stream_resumes_and_keeps_the_last_state(
            self, k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2")])
        with FaultProxy("127.0.0.1", k8s_api.port) as fault:
            kubeconfig = k8s_api.kubeconfig(tmp_path / "kubeconfig")
            text = kubeconfig.read_text().replace(f"127.0.0.1:{k8s_api.port}",
                                                  f"127.0.0.1:{fault.port}")
            kubeconfig.write_text(text)
            with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http",
                           access=f"  kubeconfig: {kubeconfig}\n") as l5d:
                eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
                fault.refuse(True)
                fault.cut()
                time.sleep(1.0)
                assert resolved(l5d, "/svc/web") == ["10.244.1.2:7777"]  # last known state
                k8s_api.put_endpoints(ns, "web", [subset("10.244.1.3")])  # while cut off
                fault.refuse(False)
                eventually(l5d, "/svc/web", ["10.244.1.3:7777"])

    def test_api_server_restart(self, k8s_api: ApiServer, k8s_namespace: str,
                                tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.put_endpoints(ns, "web", [subset("10.244.1.2")])
        with start_l5d(k8s_api, tmp_path, f"/svc => /#/io.l5d.k8s/{ns}/http") as l5d:
            eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
            k8s_api.stop_apiserver()
            time.sleep(0.5)
            assert resolved(l5d, "/svc/web") == ["10.244.1.2:7777"]
            k8s_api.start_apiserver()
            k8s_api.put_endpoints(ns, "web", [subset("10.244.1.4")])
            eventually(l5d, "/svc/web", ["10.244.1.4:7777"], timeout_s=40)

    def test_too_old_relists_and_sees_what_changed_in_the_gap(
            self, k8s_api_compacting: ApiServer, tmp_path: Path) -> None:
        """With etcd compacting every 5 s and no watch cache, a watch resumed from an old
        version gets 410 (in the 200 stream): l5d relists, deletions included."""
        api = k8s_api_compacting
        ns = f"c{int(time.time() * 1000) % 10**9}"
        api.create_namespace(ns)
        api.put_endpoints(ns, "web", [subset("10.244.1.2")])
        with FaultProxy("127.0.0.1", api.port) as fault:
            kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
            kubeconfig.write_text(kubeconfig.read_text().replace(
                f"127.0.0.1:{api.port}", f"127.0.0.1:{fault.port}"))
            dtab = f"/svc => /$/inet/10.99.0.1/9; /svc => /#/io.l5d.k8s/{ns}/http"
            with start_l5d(api, tmp_path, dtab, access=f"  kubeconfig: {kubeconfig}\n") as l5d:
                eventually(l5d, "/svc/web", ["10.244.1.2:7777"])
                fault.refuse(True)
                fault.cut()
                api.delete_endpoints(ns, "web")  # missed while cut off
                for i in range(5):  # move etcd's revision on, then let compaction pass it
                    api.put_endpoints(ns, "other", [subset(f"10.244.9.{i + 1}")])
                time.sleep(12)
                fault.refuse(False)
                eventually(l5d, "/svc/web", ["10.99.0.1:9"], timeout_s=40)
                state = admin_json(l5d, "/namer_state/io.l5d.k8s.json")
                assert state["endpoints"], state
                m = admin_json(l5d, "/admin/metrics.json")
                # the namer's stats: one open watch, listed at least twice (the relist)
                assert m["#/io.l5d.k8s/watches"] >= 1, m
                assert m["#/io.l5d.k8s/relists"] >= 1 and m["#/io.l5d.k8s/lists"] >= 2, m
