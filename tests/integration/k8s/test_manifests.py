"""The daemonset/ manifests are accepted by a real kube-apiserver (v1.20.2, see
``tests/helpers/k8s_api.py``), and the ClusterRole does what it says.

Each manifest file (daemonset/*.yml, and any examples/ file made of Kubernetes objects)
goes into a fresh namespace of its own (``l5d.yml`` and
``l5d-cni.yml`` hold the same object names: they are alternatives): every namespaced
object is POSTed there with its ``metadata.namespace`` rewritten, cluster-scoped ones
(the ClusterRole and ClusterRoleBinding) are POSTed once, the binding's subject moved to
the namespace its ServiceAccount went to. Where an object goes (collection path,
namespaced or not) is read from the server's discovery documents, as kubectl does. Each
POST must answer 201 Created, and a GET must give back everything that was sent (the
server adds defaults, never drops or changes a field).

Then the l5d ServiceAccount's own token is used: it may get, list and watch what the
io.l5d.k8s namer and the daemonset transformer read, in any namespace, keep the dtab
ConfigMap ``l5d-dtabs`` of io.l5d.k8s.configMap in its own namespace, and nothing else.

The server has no controllers or kubelets: the DaemonSet and Deployments are stored,
never run.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.helpers.k8s_api import ApiServer
from tests.test_daemonset import (
    DAEMONSET,
    MANIFEST_FILES,
    ROOT,
    _group_label,
    _load,
    _rel,
    _schema_groups,
)

FILES = MANIFEST_FILES  # daemonset/*.yml, and any examples/ manifest
TIMEOUT_S = 30


def _objects(path: Path) -> list[dict]:
    """The Kubernetes API objects of a manifest file (an examples/ file may also hold,
    say, a kind cluster config, which no API server serves)."""
    return [d for d in _load(path)
            if path.parent == DAEMONSET or _group_label(d["apiVersion"]) in _schema_groups()]


def _fresh_namespace(api: ApiServer, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    api.create_namespace(name)
    return name


class _Discovery:
    """kind -> (collection path template, namespaced), from /api/v1 and /apis/<g>/<v>."""

    def __init__(self, api: ApiServer) -> None:
        self._api = api
        self._cache: dict[str, dict[str, dict]] = {}

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if base not in self._cache:
            listing = self._api.get(base)
            self._cache[base] = {r["kind"]: r for r in listing["resources"]
                                 if "/" not in r["name"]}
        found = self._cache[base].get(kind)
        assert found is not None, f"{api_version} {kind} is not served by the API server"
        return f"{base}/{{ns}}{found['name']}", found["namespaced"]


class Created:
    """One manifest object as sent, where it went and what the server answered."""

    def __init__(self, path: Path, sent: dict, url_path: str, status: int, body: Any) -> None:
        self.path = path
        self.sent = sent
        self.url_path = url_path
        self.status = status
        self.body = body

    @property
    def id(self) -> str:
        return f"{_rel(self.path)}:{self.sent['kind']}/{self.sent['metadata']['name']}"


def _create_all(api: ApiServer) -> tuple[dict[str, Created], dict[str, str]]:
    discovery = _Discovery(api)
    created: dict[str, Created] = {}
    namespaces: dict[str, str] = {}
    with api.session(api.admin_token) as session:
        for path in FILES:
            stem = "".join(c if c.isalnum() else "-" for c in path.stem.lower())[:30]
            ns = namespaces[_rel(path)] = _fresh_namespace(api, stem.strip("-") or "m")
            for doc in _objects(path):
                sent = copy.deepcopy(doc)
                template, namespaced = discovery.resource(sent["apiVersion"], sent["kind"])
                if namespaced:
                    sent["metadata"]["namespace"] = ns
                    collection = template.format(ns=f"namespaces/{ns}/")
                else:
                    assert "namespace" not in sent["metadata"], "cluster-scoped"
                    collection = template.format(ns="")
                for subject in sent.get("subjects", []):
                    if subject.get("kind") == "ServiceAccount":
                        subject["namespace"] = ns
                reply = session.post(api.url + collection, json=sent, timeout=TIMEOUT_S)
                obj = Created(path, sent, f"{collection}/{sent['metadata']['name']}",
                              reply.status_code, reply.json())
                assert obj.id not in created, f"{obj.id} twice"
                created[obj.id] = obj
    return created, namespaces


@pytest.fixture(scope="module")
def created(k8s_api: ApiServer) -> tuple[dict[str, Created], dict[str, str]]:
    """Every object of every daemonset/ manifest, created once for this module."""
    return _create_all(k8s_api)


def _ids() -> list[str]:
    return [f"{_rel(p)}:{d['kind']}/{d['metadata']['name']}" for p in FILES
            for d in _objects(p)]


def _contains(stored: Any, sent: Any, where: str = "") -> list[str]:
    """Where ``stored`` lacks or differs from something in ``sent`` (defaults may be added;
    lists must keep their length and order)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{where}: expected a mapping, got {stored!r}"]
        problems = []
        for key, value in sent.items():
            if key not in stored:
                problems.append(f"{where}.{key}: dropped")
            else:
                problems += _contains(stored[key], value, f"{where}.{key}")
        return problems
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{where}: expected {sent!r}, got {stored!r}"]
        return [p for i, (a, b) in enumerate(zip(stored, sent)) for p in
                _contains(a, b, f"{where}[{i}]")]
    return [] if stored == sent else [f"{where}: sent {sent!r}, stored {stored!r}"]


def test_every_manifest_file_is_here() -> None:
    assert {p.name for p in FILES if p.parent == DAEMONSET} == {
        "l5d-rbac.yml", "l5d.yml", "l5d-cni.yml", "l5d-tls.yml", "hello-world.yml"}


@pytest.mark.parametrize("obj_id", _ids())
def test_created(created: tuple[dict[str, Created], dict[str, str]], obj_id: str) -> None:
    """POST answered 201 Created with the object."""
    obj = created[0][obj_id]
    assert obj.status == 201, f"{obj.id}: {obj.status} {obj.body}"
    assert obj.body["kind"] == obj.sent["kind"]
    assert obj.body["metadata"]["name"] == obj.sent["metadata"]["name"]
    assert obj.body["metadata"].get("namespace") == obj.sent["metadata"].get("namespace")
    assert obj.body["metadata"]["uid"]


@pytest.mark.parametrize("obj_id", _ids())
def test_read_back(k8s_api: ApiServer, created: tuple[dict[str, Created], dict[str, str]],
                   obj_id: str) -> None:
    """GET gives back everything that was sent, unchanged."""
    obj = created[0][obj_id]
    stored = k8s_api.get(obj.url_path)
    assert stored["metadata"]["uid"] == obj.body["metadata"]["uid"]
    assert _contains(stored, obj.sent) == []


def test_the_read_back_check_can_fail() -> None:
    """_contains reports a dropped key, a changed value and a changed list."""
    sent = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert _contains({"a": {"b": 1, "c": [1, 2], "extra": 0}, "d": "x"}, sent) == []
    assert _contains({"a": {"c": [1, 2]}, "d": "x"}, sent) == [".a.b: dropped"]
    assert _contains({"a": {"b": 2, "c": [1]}, "d": "y"}, sent) == [
        ".a.b: sent 1, stored 2", ".a.c: expected [1, 2], got [1]", ".d: sent 'x', stored 'y'"]


def test_a_duplicate_is_refused(k8s_api: ApiServer,
                                created: tuple[dict[str, Created], dict[str, str]]) -> None:
    """The 201s are real: POSTing an object again is a 409 Conflict."""
    obj = created[0]["daemonset/l5d.yml:DaemonSet/l5d"]
    collection = obj.url_path.rsplit("/", 1)[0]
    with k8s_api.session(k8s_api.admin_token) as session:
        again = session.post(k8s_api.url + collection, json=obj.sent, timeout=TIMEOUT_S)
    assert again.status_code == 409


# --- the ClusterRole, enforced by the server --------------------------------------------

READ_PATHS = [
    "/api/v1/endpoints",
    "/api/v1/services",
    "/api/v1/pods",
    "/apis/discovery.k8s.io/v1beta1/endpointslices",  # 1.20 serves v1beta1 only
    "/api/v1/namespaces/{other}/endpoints",
    "/api/v1/namespaces/{other}/services/kubernetes",
]
DENIED = [
    ("GET", "/api/v1/secrets"),
    ("GET", "/api/v1/configmaps"),
    ("GET", "/api/v1/nodes"),
    ("GET", "/apis/apps/v1/daemonsets"),
    ("POST", "/api/v1/namespaces/{other}/endpoints"),
    ("DELETE", "/api/v1/namespaces/{other}/services/kubernetes"),
    ("PATCH", "/api/v1/namespaces/{other}/services/kubernetes"),
]


@pytest.fixture(scope="module")
def l5d_session(k8s_api: ApiServer, created: tuple[dict[str, Created], dict[str, str]]):
    """A session with a token of ServiceAccount l5d (created from l5d-rbac.yml)."""
    ns = created[1]["daemonset/l5d-rbac.yml"]
    token = k8s_api.token_request(ns, "l5d")
    with k8s_api.session(token) as session:
        yield session


@pytest.mark.parametrize("path", READ_PATHS)
def test_l5d_account_reads_anywhere(k8s_api: ApiServer, l5d_session: requests.Session,
                                    path: str) -> None:
    """get/list (any namespace) and watch are allowed."""
    url = k8s_api.url + path.format(other="default")
    assert l5d_session.get(url, timeout=TIMEOUT_S).status_code == 200
    if not path.endswith("/kubernetes"):
        watch = l5d_session.get(url, params={"watch": "1", "timeoutSeconds": "1"},
                                timeout=TIMEOUT_S)
        assert watch.status_code == 200


@pytest.mark.parametrize("method,path", DENIED)
def test_l5d_account_can_do_nothing_else(k8s_api: ApiServer, l5d_session: requests.Session,
                                         method: str, path: str) -> None:
    """Secrets, ConfigMaps, other resources and every write are forbidden (403)."""
    body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "x"}} \
        if method == "POST" else ({"metadata": {"labels": {"x": "y"}}}
                                  if method == "PATCH" else None)
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    reply = l5d_session.request(method, k8s_api.url + path.format(other="default"),
                                json=body, headers=headers, timeout=TIMEOUT_S)
    assert reply.status_code == 403, reply.text


def test_l5d_account_keeps_only_the_dtab_configmap(
        k8s_api: ApiServer, created: tuple[dict[str, Created], dict[str, str]],
        l5d_session: requests.Session) -> None:
    """Role l5d-dtabs (io.l5d.k8s.configMap): in its own namespace the account creates,
    reads, lists and watches (by name) and updates ConfigMap l5d-dtabs; it cannot read,
    list or change any other ConfigMap, nor l5d-dtabs in another namespace."""
    ns = created[1]["daemonset/l5d-rbac.yml"]
    other = _fresh_namespace(k8s_api, "other")
    url = f"{k8s_api.url}/api/v1/namespaces/{ns}/configmaps"
    by_name = {"fieldSelector": "metadata.name=l5d-dtabs"}
    k8s_api.post(f"/api/v1/namespaces/{ns}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l5d-config"}})
    made = l5d_session.post(url, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "l5d-dtabs"}, "data": {"outgoing": "/svc=>/#/io.l5d.k8s/default/http"}},
        timeout=TIMEOUT_S)
    assert made.status_code == 201, made.text
    got = l5d_session.get(f"{url}/l5d-dtabs", timeout=TIMEOUT_S)
    assert got.status_code == 200, got.text
    assert l5d_session.get(url, params=by_name, timeout=TIMEOUT_S).status_code == 200
    watch = l5d_session.get(url, params=dict(by_name, watch="1", timeoutSeconds="1"),
                            timeout=TIMEOUT_S)
    assert watch.status_code == 200, watch.text
    changed = dict(got.json(), data={"outgoing": "/svc=>/#/io.l5d.k8s/prod/http"})
    put = l5d_session.put(f"{url}/l5d-dtabs", json=changed, timeout=TIMEOUT_S)
    assert put.status_code == 200, put.text
    denied = [
        l5d_session.get(url, timeout=TIMEOUT_S),  # a list of every ConfigMap
        l5d_session.get(url, params={"fieldSelector": "metadata.name=l5d-config"},
                        timeout=TIMEOUT_S),
        l5d_session.get(f"{url}/l5d-config", timeout=TIMEOUT_S),
        l5d_session.put(f"{url}/l5d-config", json=k8s_api.get(
            f"/api/v1/namespaces/{ns}/configmaps/l5d-config"), timeout=TIMEOUT_S),
        l5d_session.get(f"{k8s_api.url}/api/v1/namespaces/{other}/configmaps/l5d-dtabs",
                        timeout=TIMEOUT_S),
        l5d_session.post(f"{k8s_api.url}/api/v1/namespaces/{other}/configmaps", json={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l5d-dtabs"}},
            timeout=TIMEOUT_S),
    ]
    assert [r.status_code for r in denied] == [403] * len(denied), [r.text for r in denied]


# --- the DaemonSet's own config, resolving with the l5d account -------------------------

# Two nodes, one /24 of pod IPs each (the layout daemonset/l5d.yml assumes): an l5d pod
# and a world-v1 pod on node-b, only an l5d pod on node-a. Nothing controls the pods
# here, so the test writes the Endpoints the endpoints controller would.
L5D_PODS = {"node-a": "10.244.1.5", "node-b": "10.244.2.5"}
WORLD_POD = ("node-b", "10.244.2.7")


def _endpoints(name: str, pods: list[tuple[str, str]], ports: dict[str, int]) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": ip, "nodeName": node} for node, ip in pods],
                         "ports": [{"name": n, "port": p, "protocol": "TCP"}
                                   for n, p in ports.items()]}]}


@pytest.fixture(scope="module")
def cluster(k8s_api: ApiServer, created: tuple[dict[str, Created], dict[str, str]],
            tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A namespace with the manifests' Services l5d and world-v1 and their Endpoints, and
    the in-pod credential files of ServiceAccount l5d (from l5d-rbac.yml)."""
    ns = _fresh_namespace(k8s_api, "l5d-e2e")
    for path, kind, name in ((DAEMONSET / "l5d.yml", "Service", "l5d"),
                             (DAEMONSET / "hello-world.yml", "Service", "world-v1")):
        [doc] = [d for d in _load(path) if (d["kind"], d["metadata"]["name"]) == (kind, name)]
        doc = copy.deepcopy(doc)
        doc["metadata"]["namespace"] = ns
        k8s_api.post(f"/api/v1/namespaces/{ns}/services", doc)
    k8s_api.post(f"/api/v1/namespaces/{ns}/endpoints", _endpoints(
        "l5d", sorted(L5D_PODS.items()), {"outgoing": 4140, "incoming": 4141, "admin": 9990}))
    k8s_api.post(f"/api/v1/namespaces/{ns}/endpoints",
                 _endpoints("world-v1", [WORLD_POD], {"http": 7778}))
    account = tmp_path_factory.mktemp("l5d-account")
    account_ns = created[1]["daemonset/l5d-rbac.yml"]
    (account / "token").write_text(k8s_api.token_request(account_ns, "l5d"))
    (account / "ca.crt").write_text(Path(k8s_api.ca_file).read_text())
    (account / "namespace").write_text(account_ns)
    return {"ns": ns, "account": account}


def _pod_config(path: Path, ns: str, account: Path) -> str:
    """The ConfigMap's config.yaml with namespace ``default`` moved to ``ns`` and the
    service account's files at ``account`` (``serviceAccountDir``) instead of
    /var/run/secrets; nothing else changed."""
    [cm] = [d for d in _load(path) if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(cm["data"]["config.yaml"])
    [namer] = config["namers"]
    assert set(namer) == {"kind"}, "the namer reaches the API with the pod's account"
    namer["serviceAccountDir"] = str(account)
    for router in config["routers"]:
        router["dtab"] = router["dtab"].replace("/#/io.l5d.k8s/default/", f"/#/io.l5d.k8s/{ns}/")
        for t in router["interpreter"]["transformers"]:
            if t["kind"] == "io.l5d.k8s.daemonset":
                assert t["namespace"] == "default" and "k8sHost" not in t
                t["namespace"] = ns
                t["serviceAccountDir"] = str(account)
    return yaml.safe_dump(config)


def _bind(k8s_api: ApiServer, config: str, router: str, env: dict, tmp_path: Path) -> dict:
    """``l5d dtab bind --config`` of /svc/world (what ``http://world`` is identified as), in
    a process whose environment is a pod's on ``env``'s node."""
    path = tmp_path / f"{router}.yaml"
    path.write_text(config)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("KUBERNETES_") and k not in ("POD_IP", "NODE_NAME")}
    environ.update(env, KUBERNETES_SERVICE_HOST="127.0.0.1",
                   KUBERNETES_SERVICE_PORT=str(k8s_api.port))
    done = subprocess.run([sys.executable, "-m", "l5d", "dtab", "bind", "--config", str(path),
                           "--router", router, "--timeout", "20", "/svc/world"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("path,env_of", [
    ("l5d.yml", lambda node: {"POD_IP": L5D_PODS[node], "NODE_NAME": node}),
    ("l5d-cni.yml", lambda node: {"POD_IP": f"192.168.0.{1 + sorted(L5D_PODS).index(node)}",
                                  "NODE_NAME": node}),
    ("l5d-tls.yml", lambda node: {"POD_IP": L5D_PODS[node], "NODE_NAME": node}),
], ids=["l5d.yml", "l5d-cni.yml", "l5d-tls.yml"])
def test_the_configs_route_world_through_its_nodes_l5d(
        k8s_api: ApiServer, cluster: dict, tmp_path: Path, path: str, env_of: Any) -> None:
    """With the ConfigMap's own config and the l5d account's token (so its RBAC is
    enough): node-a's outgoing router sends ``http://world`` to node-b's l5d on 4141
    (the daemonset transformer); node-b's incoming router delivers to the world-v1 pod
    on node-b; node-a's has none of its own (the localnode transformer: an empty address
    set, which requests see as a 502, not a Neg tree). In l5d-cni.yml
    the pods' POD_IP is a node IP outside the pod /24s: matching is by node name."""
    ns = cluster["ns"]
    config = _pod_config(DAEMONSET / path, ns, cluster["account"])
    world = f"/#/io.l5d.k8s/{ns}/http/world-v1"

    outgoing = _bind(k8s_api, config, "outgoing", env_of("node-a"), tmp_path)
    assert outgoing["result"] == "bound", outgoing
    assert [a["addr"] for a in outgoing["addrs"]] == [f"{L5D_PODS['node-b']}:4141"]
    assert {a["id"] for a in outgoing["addrs"]} == {
        f"/%/io.l5d.k8s.daemonset/{ns}/incoming/l5d{world}"}

    incoming = _bind(k8s_api, config, "incoming", env_of("node-b"), tmp_path)
    assert [a["addr"] for a in incoming["addrs"]] == [f"{WORLD_POD[1]}:7778"]
    [local_id] = {a["id"] for a in incoming["addrs"]}
    assert local_id.startswith("/%/io.l5d.k8s.localnode/") and local_id.endswith(world)

    elsewhere = _bind(k8s_api, config, "incoming", env_of("node-a"), tmp_path)
    assert [(a["addr"], a["state"]) for a in elsewhere["addrs"]] == [(None, "neg")], elsewhere
