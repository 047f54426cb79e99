"""l5d as a DaemonSet on a three-node cluster made of network namespaces
(``examples/k8s-sim/sim.py``, the same script people run; see its README.md).

A module fixture runs ``sim.py up`` (a real kube-apiserver from ``tests/helpers/k8s_api.py``,
one l5d per node running ``daemonset/l5d.yml``'s ConfigMap verbatim with in-pod
credentials, hello on node-1 and node-2, world-v1 on node-3) and ``sim.py down`` at the
end, whatever happened. Needs root (network namespaces, a bridge, mounts), as CI has.

Routes checked: app -> its node's l5d :4140 -> the destination node's l5d :4141 -> the
pod, shown by what the pod received (``l5d-dst-client``, ``Via``) and by the admin pages;
Endpoints writes (scale up, remove a pod, move a service between nodes) measured while
requests flow (the figures are printed, not bounded); and Linkerd's own DaemonSet config,
with a ``kubectl proxy`` on each node's localhost:8001.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "k8s-sim"))
from k8s_sim.layout import BRIDGE, L5D_PORTS, PREFIX, SIM_PY, l5d_ip
from k8s_sim.measure import measure_change
from k8s_sim.mesh import http_get, via_l5d
from k8s_sim.network import link_exists, sim_netns
from k8s_sim.procs import alive
from k8s_sim.scaling import scale
from k8s_sim.state import State, read_json

UP_TIMEOUT_S = 40 * 60    # a first run builds kube-apiserver (~5-6 min); a bound, not a check
CMD_TIMEOUT_S = 180

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: network namespaces, a bridge, mounts")


HELLO = re.compile(r"Hello \((10\.244\.\d+\.\d+)\) world \((10\.244\.3\.\d+)\)!!")
WORLD_ID = "/#/io.l5d.k8s/default/http/world-v1"
DAEMONSET_ID = "/%/io.l5d.k8s.daemonset/default/incoming/l5d" + WORLD_ID
LOCALNODE_ID = "/%/io.l5d.k8s.localnode/10.244.3.1" + WORLD_ID

# Linkerd's own DaemonSet config (linkerd-examples k8s-daemonset/k8s/linkerd.yml,
# Linkerd 1.4.x), written out here: the namer reaches the API through the kubectl proxy
# sidecar on localhost:8001. `usage` is accepted (l5d never sends usage data).
LINKERD_CONFIG = """\
admin:
  ip: 0.0.0.0
  port: 9990

namers:
- kind: io.l5d.k8s
  host: localhost
  port: 8001

telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.recentRequests
  sampleRate: 0.25

usage:
  orgId: linkerd-examples-daemonset

routers:
- protocol: http
  label: outgoing
  dtab: |
    /srv        => /#/io.l5d.k8s/default/http;
    /host       => /srv;
    /svc        => /host;
    /host/world => /srv/world-v1;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.daemonset
      namespace: default
      port: incoming
      service: l5d
  servers:
  - port: 4140
    ip: 0.0.0.0
  service:
    responseClassifier:
      kind: io.l5d.http.retryableRead5XX

- protocol: http
  label: incoming
  dtab: |
    /srv        => /#/io.l5d.k8s/default/http;
    /host       => /srv;
    /svc        => /host;
    /host/world => /srv/world-v1;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.localnode
  servers:
  - port: 4141
    ip: 0.0.0.0
"""


def run_sim(state: Path, *args: str, timeout: float = CMD_TIMEOUT_S,
            check: bool = True) -> subprocess.CompletedProcess:
    """``sim.py --state STATE ARGS...`` as a person runs it."""
    done = subprocess.run([sys.executable, str(SIM_PY), "--state", str(state), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, (f"sim.py {' '.join(args)} -> {done.returncode}\n"
                                      f"{done.stdout}\n{done.stderr}")
    return done


def sim_curl(state: Path, node: str, url: str) -> str:
    """The body ``curl -x node-N:4140 URL`` gets inside node N (``sim.py curl``)."""
    return run_sim(state, "curl", node, url).stdout


def admin_json(node: int, page: str):
    status, _, body = http_get(l5d_ip(node), L5D_PORTS["admin"], page)
    assert status == 200, (page, status, body)
    return json.loads(body)


def header_values(received: dict, name: str) -> list[str]:
    return [v for k, v in received["headers"] if k.lower() == name.lower()]


def nothing_left() -> list[str]:
    """What of the sim is still on this machine (empty when it is all gone)."""
    left = [f"netns {ns}" for ns in sim_netns()]
    if link_exists(BRIDGE):
        left.append(f"bridge {BRIDGE}")
    etc = Path("/etc/netns")
    if etc.is_dir():
        left += [f"{d}" for d in etc.iterdir() if d.name.startswith(f"{PREFIX}-")]
    return left


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """``sim.py up`` for the module; ``sim.py down`` at the end, whatever happened.

    :return: the state directory.
    """
    state = tmp_path_factory.mktemp("k8s-sim")
    secrets_before = os.path.lexists("/run/secrets"), os.path.lexists("/var/run/secrets")
    run_sim(state, "down")  # anything a crashed earlier run left behind
    try:
        up = run_sim(state, "up", "--nodes", "3", timeout=UP_TIMEOUT_S)
        print(up.stdout, up.stderr)
        # The service-account files went into the pods' private mount namespaces only.
        assert (os.path.lexists("/run/secrets"),
                os.path.lexists("/var/run/secrets")) == secrets_before
        yield state
    finally:
        st = State.load(state)
        pids = [] if st is None else [st.control_pid, *(p.pid for p in st.pods), *(
            e.get(k) for e in st.l5d.values() for k in ("pid", "proxy_pid") if e.get(k))]
        api = read_json(state / "api.json") or {}
        pids += [api.get("apiserver_pid"), api.get("etcd_pid")]
        down = run_sim(state, "down", check=False)
        assert down.returncode == 0, down.stderr
        assert nothing_left() == []
        assert [p for p in pids if alive(p)] == []


def test_status_lists_the_cluster(cluster: Path) -> None:
    info = json.loads(run_sim(cluster, "status", "--json").stdout)
    assert info["up"] is True
    assert info["config"].startswith("daemonset/l5d.yml ConfigMap l5d-config")
    assert {n: l5d["admin_ping"] for n, l5d in info["l5d"].items()} == {
        "node-1": 200, "node-2": 200, "node-3": 200}
    assert info["endpoints"] == {
        "hello": ["10.244.1.2@node-1", "10.244.2.2@node-2"],
        "world-v1": ["10.244.3.2@node-3"],
        "l5d": ["10.244.1.1@node-1", "10.244.2.1@node-2", "10.244.3.1@node-3"],
    }


def test_hello_from_node_3_goes_through_two_other_nodes(cluster: Path) -> None:
    """node-3's l5d -> hello on node-1 or node-2 (their l5d :4141) -> hello calls world via
    its own node's l5d -> node-3's l5d :4141 -> world-v1."""
    seen = set()
    for _ in range(4):
        m = HELLO.fullmatch(sim_curl(cluster, "node-3", "http://hello/"))
        assert m, "hello answered something else"
        seen.add(m.group(1))
    assert seen <= {"10.244.1.2", "10.244.2.2"}


@pytest.mark.parametrize("node,service", [("node-1", "hello"), ("node-3", "world-v1")])
def test_a_pod_on_the_callers_own_node(cluster: Path, node: str, service: str) -> None:
    """As in Linkerd: app -> its node's l5d :4140 -> the same l5d's :4141 -> the local pod."""
    body = sim_curl(cluster, node, f"http://{service}/")
    if service == "hello":
        assert HELLO.fullmatch(body), body
    else:
        assert re.fullmatch(r"world \(10\.244\.3\.\d+\)!", body), body


def test_world_from_node_2_crosses_to_node_3(cluster: Path) -> None:
    """node-2 l5d :4140 -> node-3 l5d :4141 -> the pod, from what the pod received and
    what both l5d's admin pages say."""
    received = json.loads(sim_curl(cluster, "node-2", "http://world-v1/headers"))
    assert received["pod"] == "10.244.3.2"
    assert header_values(received, "l5d-dst-service") == ["/svc/world-v1"]
    # Set by the last hop: node-3's incoming router, after the localnode transformer.
    assert header_values(received, "l5d-dst-client") == [LOCALNODE_ID]
    via = ", ".join(header_values(received, "via"))
    assert [v.strip() for v in via.split(",")] == ["1.1 linkerd", "1.1 linkerd"]

    outgoing = admin_json(2, "/client_state.json")
    assert outgoing[DAEMONSET_ID] == {"state": "bound", "addresses": ["10.244.3.1:4141"]}
    incoming = admin_json(3, "/client_state.json")
    assert incoming[LOCALNODE_ID] == {"state": "bound", "addresses": ["10.244.3.2:7778"]}
    # The ConfigMap's namer uses the in-pod service account (no kubectl proxy).
    namer = admin_json(2, "/namer_state/io.l5d.k8s.json")
    request = namer["endpoints"]["default/world-v1"]["watch"]["request"]
    assert request.startswith("GET https://kubernetes.default.svc:443/api/v1/"), request


def test_endpoints_changes_take_effect(cluster: Path, capsys: pytest.CaptureFixture) -> None:
    """world-v1 (one pod on node-3) while an app on node-2 sends requests continuously:
    scale up on node-3, remove a pod, move the service to node-1 and back. Each change is
    one Endpoints write; it must settle (only pods in the Endpoints answer, a new pod
    is reached). How soon is measured and printed, not asserted."""
    steps = [("scale up 1->2 on node-3", {3: 2}, ["10.244.3.2", "10.244.3.3"]),
             ("remove 1 of 2 pods", {3: 1}, ["10.244.3.2"]),
             ("move node-3 -> node-1", {3: 0, 1: 1}, ["10.244.1.3"]),
             ("move node-1 -> node-3", {1: 0, 3: 1}, ["10.244.3.2"])]
    results = []
    for name, want, endpoints in steps:
        m = measure_change(cluster, name, 2, "http://world-v1/",
                           lambda want=want: scale(cluster, "world-v1", want))
        results.append(m)
        with capsys.disabled():
            print(f"\nk8s-sim: {m.line()}")
        assert m.change.endpoints == endpoints
        assert m.settled, m.line()
        assert set(m.pods_seen_after) & set(m.change.added) == set(m.change.added), m.line()
    removals = [m.last_removed_ms for m in results if m.last_removed_ms is not None]
    with capsys.disabled():
        print(f"k8s-sim: last request to a removed pod, ms after the Endpoints PUT was sent: "
              f"{', '.join(f'{v:.1f}' for v in removals)} (PUTs took "
              f"{', '.join(f'{m.put_ms:.1f}' for m in results)} ms)")
    # Back where the module started: world-v1 on node-3 only.
    status = json.loads(run_sim(cluster, "status", "--json").stdout)
    assert status["endpoints"]["world-v1"] == ["10.244.3.2@node-3"]


def admin_write(node: int, page: str, document: dict, token: str) -> tuple[int, dict]:
    """A PUT to node ``node``'s admin with the bearer token, as the dtab page sends it."""
    conn = http.client.HTTPConnection(l5d_ip(node), L5D_PORTS["admin"], timeout=10)
    try:
        conn.request("PUT", page, body=json.dumps(document), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        rsp = conn.getresponse()
        return rsp.status, json.loads(rsp.read() or b"{}")
    finally:
        conn.close()


def first_answer(node: int, pattern: re.Pattern, since: float, until: float) -> float | None:
    """Seconds from ``since`` until ``http://hello/`` through node ``node`` answers what
    ``pattern`` matches (polled every 5 ms), or ``None`` by ``until``."""
    while time.monotonic() < until:
        try:
            _, _, body = via_l5d(node, "http://hello/", timeout=5)
        except OSError:
            body = b""
        if pattern.fullmatch(body.decode(errors="replace")):
            return time.monotonic() - since
        time.sleep(0.005)
    return None


def test_a_dtab_saved_on_one_node_routes_every_node(
        cluster: Path, capsys: pytest.CaptureFixture) -> None:
    """The edits the dtab page saves on node-1 (PUTs with their versions and the token) go
    to the ConfigMap l5d-dtabs that every node watches: hello is sent to the world pod
    from all three nodes, every node logs the changes with who made them, and the versions
    are the same everywhere. Both routers are edited, as in Linkerd's DaemonSet: a node's
    incoming router names what it receives again, from the Host. The time from the last
    PUT's answer to each node's first rerouted answer is printed (never bounded here; the
    issue asks for 2 s)."""
    token = (cluster / "admin-token").read_text().strip()
    routers = ("outgoing", "incoming")
    before = {r: admin_json(1, f"/admin/dtab/{r}.json") for r in routers}
    assert {(b["store"], b["writable"]) for b in before.values()} == {
        ("io.l5d.k8s.configMap", True)}
    edit = "/svc/hello => /$/inet/10.244.3.2/7778;"  # world-v1's pod, on node-3
    world = re.compile(r"world \(10\.244\.3\.2\)!")
    saved: dict[str, dict] = {}
    try:
        for r in routers:
            # a router's version is the map's: the first PUT moved the second's too
            current = admin_json(1, f"/admin/dtab/{r}.json")
            status, saved[r] = admin_write(
                1, f"/admin/dtab/{r}.json",
                {"dtab": current["dtab"].rstrip() + "\n" + edit + "\n",
                 "version": current["version"]}, token)
            assert status == 200, saved[r]
        answered = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            futures = {n: pool.submit(first_answer, n, world, answered, answered + 30)
                       for n in (1, 2, 3)}
            delays = {n: f.result() for n, f in futures.items()}
        with capsys.disabled():
            print("\ndtab edits on node-1 -> hello answered by the world pod: " + ", ".join(
                f"node-{n} {d * 1000:.0f} ms" if d is not None else f"node-{n} never"
                for n, d in delays.items()))
        assert all(d is not None for d in delays.values()), delays
        last = saved["incoming"]["version"]
        assert saved["outgoing"]["version"] != last
        st = State.load(cluster)
        for n in (1, 2, 3):
            for r in routers:
                seen = admin_json(n, f"/admin/dtab/{r}.json")
                assert (seen["version"], seen["source"]) == (last, "store"), (n, r)
                assert edit.replace(" ", "").rstrip(";") in seen["dtab"], (n, r)
            log = Path(st.l5d[f"node-{n}"]["log"]).read_text()
            assert (f"rt/incoming: dtab version {last} by token@" in log
                    and "rt/outgoing: dtab version" in log), n
    finally:
        for r in saved:  # put the config's routing back
            current = admin_json(1, f"/admin/dtab/{r}.json")
            status, _ = admin_write(1, f"/admin/dtab/{r}.json",
                                    {"dtab": before[r]["dtab"], "version": current["version"]},
                                    token)
            assert status == 200
        until = time.monotonic() + 30
        for n in (1, 2, 3):
            assert first_answer(n, HELLO, time.monotonic(), until) is not None


def admin_post(node: int, page: str, token: str) -> tuple[int, dict]:
    """A POST to node ``node``'s admin with the bearer token."""
    conn = http.client.HTTPConnection(l5d_ip(node), L5D_PORTS["admin"], timeout=60)
    try:
        conn.request("POST", page, headers={"Authorization": f"Bearer {token}"})
        rsp = conn.getresponse()
        return rsp.status, json.loads(rsp.read() or b"{}")
    finally:
        conn.close()


class _HelloLoad:
    """hello through each node's :4140 in a loop, one keep-alive connection per node
    (reopened only when l5d closes it), until stopped; every outcome counted."""

    def __init__(self, nodes: tuple[int, ...]) -> None:
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in nodes]

    def _run(self, n: int) -> None:
        conn = None
        while not self._stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(l5d_ip(n), L5D_PORTS["outgoing"], timeout=15)
            try:
                conn.request("GET", "http://hello/")
                rsp = conn.getresponse()
                body = rsp.read().decode(errors="replace")
                if rsp.status == 200 and HELLO.fullmatch(body):
                    self.ok += 1
                else:
                    self.failures.append(f"node-{n}: {rsp.status} {body[:200]}")
                if rsp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as err:
                self.failures.append(f"node-{n}: {err!r}")
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "_HelloLoad":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def test_a_reload_of_every_node_under_load_loses_no_request(
        cluster: Path, capsys: pytest.CaptureFixture) -> None:
    """hello -> world flows through every node on keep-alive connections while each node's
    l5d reloads its config twice (POST /admin/reload with the token): first with a client
    policy on the outgoing router and a second outgoing server on :4150 (bound; hello
    answers through it), then back to the original (4150 stops listening). No request
    fails; the figures are printed."""
    token = (cluster / "admin-token").read_text().strip()
    config = Path(State.load(cluster).config)
    original = config.read_text()
    server = re.search(r"^( *)- port: 4140\n( *)ip: 0\.0\.0\.0\n", original, re.M)
    label = re.search(r"^( *)label: outgoing\n", original, re.M)
    assert server and label, original
    changed = (original[:label.end()]
               + f"{label.group(1)}client: {{requestAttemptTimeoutMs: 9000}}\n"
               + original[label.end():server.end()]
               + f"{server.group(1)}- port: 4150\n{server.group(2)}ip: 0.0.0.0\n"
               + original[server.end():])
    answers = {}
    try:
        with _HelloLoad((1, 2, 3)) as load:
            until = time.monotonic() + 60
            while load.ok < 60 and time.monotonic() < until:
                time.sleep(0.05)
            config.write_text(changed)
            for n in (1, 2, 3):
                status, answers[n] = admin_post(n, "/admin/reload", token)
                assert status == 200, answers[n]
                assert answers[n]["servers"]["bound"] == ["0.0.0.0:4150"], answers[n]
                assert "rt/outgoing: client" in answers[n]["changes"], answers[n]
            before = load.ok
            while load.ok < before + 60 and time.monotonic() < until + 60:
                time.sleep(0.05)
            for n in (1, 2, 3):
                _, _, body = http_get(l5d_ip(n), 4150, "http://hello/")
                assert HELLO.fullmatch(body.decode(errors="replace")), (n, body)
                routers = admin_json(n, "/config.json")["routers"]
                assert routers[0]["client"]["requestAttemptTimeoutMs"] == 9000
            config.write_text(original)
            for n in (1, 2, 3):
                status, answer = admin_post(n, "/admin/reload", token)
                assert status == 200 and answer["servers"]["unbound"] == ["0.0.0.0:4150"]
            before = load.ok
            while load.ok < before + 60 and time.monotonic() < until + 120:
                time.sleep(0.05)
        with capsys.disabled():
            print(f"\ntwo reloads of every node under load: {load.ok} hello answers, "
                  f"{len(load.failures)} failed")
        assert load.failures == [], load.failures[:5]
        st = State.load(cluster)
        for n in (1, 2, 3):
            log = Path(st.l5d[f"node-{n}"]["log"]).read_text()
            assert "reload (POST /admin/reload by token@" in log, n
    finally:
        config.write_text(original)
        for n in (1, 2, 3):
            admin_post(n, "/admin/reload", token)


@pytest.mark.parametrize("pod_env", ["service account", "no in-cluster env"])
def test_linkerd_daemonset_config(cluster: Path, tmp_path: Path, pod_env: str) -> None:
    """Linkerd's own config, with a kubectl proxy on each node's localhost:8001: hello ->
    world works through it too. With a pod's environment (KUBERNETES_SERVICE_HOST and the
    token mounted), l5d's daemonset transformer (no k8sHost/k8sPort written) uses the
    service account; without it, everything goes through the kubectl proxy."""
    config = tmp_path / "linkerd.yaml"
    config.write_text(LINKERD_CONFIG)
    extra = [] if pod_env == "service account" else ["--no-service-account"]
    try:
        run_sim(cluster, "restart-l5d", "--config", str(config), "--kubectl-proxy", *extra)
        assert HELLO.fullmatch(sim_curl(cluster, "node-3", "http://hello/"))
        received = json.loads(sim_curl(cluster, "node-2", "http://world-v1/headers"))
        assert received["pod"] == "10.244.3.2"
        assert header_values(received, "l5d-dst-client") == [LOCALNODE_ID]
        namer = admin_json(2, "/namer_state/io.l5d.k8s.json")["endpoints"]
        requests = {key: value["watch"]["request"] for key, value in namer.items()}
        assert requests["default/world-v1"].startswith("GET http://localhost:8001/api/v1/")
        # The transformer's watch of the l5d Endpoints shares the namer's way only when
        # both go through the proxy.
        assert ("default/l5d" in requests) == (pod_env == "no in-cluster env")
    finally:
        run_sim(cluster, "restart-l5d")  # back to the ConfigMap's config


TLS_MANIFEST = Path(__file__).resolve().parents[3] / "daemonset" / "l5d-tls.yml"


def _tls_manifest(path: Path, ca, leaf) -> Path:
    """daemonset/l5d-tls.yml with its Secret's data replaced by ``ca`` and ``leaf``."""
    import base64

    import yaml

    docs = [d for d in yaml.safe_load_all(TLS_MANIFEST.read_text()) if d]
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    secret["data"] = {name: base64.b64encode(blob.bytes()).decode() for name, blob in (
        ("ca.pem", ca.cert_pem), ("tls.crt", leaf.cert_chain_pems[0]),
        ("tls.key", leaf.private_key_pem))}
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _peer_serial(node: int, certs: Path) -> int:
    """The serial of the certificate node ``node``'s :4141 shows a new TLS connection
    made with the client certificate in ``certs``."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.load_cert_chain(str(certs / "tls.crt"), str(certs / "tls.key"))
    with socket.create_connection((l5d_ip(node), L5D_PORTS["incoming"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="l5d") as tls:
            return int(tls.getpeercert()["serialNumber"], 16)


def test_mutual_tls_daemonset_and_rotation_under_load(cluster: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """daemonset/l5d-tls.yml verbatim (its ConfigMap, the Secret mounted at the DaemonSet's
    mountPath): hello -> world across nodes over mutual TLS, and 4141 refuses a plaintext
    client. Then, with certificates of a CA of our own, the Secret is rotated (new
    certificates of the same CA, swapped in on every node as the kubelet does) while
    apps on node-2 and node-3 send requests without pause: no request fails, and new
    connections to every node's 4141 get the new certificate."""
    import threading

    import trustme

    run_sim(cluster, "restart-l5d", "--manifest", str(TLS_MANIFEST))
    try:
        info = json.loads(run_sim(cluster, "status", "--json").stdout)
        assert info["config"] == f"{TLS_MANIFEST} ConfigMap l5d-config config.yaml"
        received = json.loads(sim_curl(cluster, "node-2", "http://world-v1/headers"))
        assert received["pod"] == "10.244.3.2"
        assert header_values(received, "l5d-dst-client") == [LOCALNODE_ID]
        assert HELLO.fullmatch(sim_curl(cluster, "node-3", "http://hello/"))
        # 4141 speaks TLS only: curl with plain HTTP from node-2 gets no HTTP status
        plain = run_sim(cluster, "exec", "node-2", "--", "curl", "-s", "-o", "/dev/null",
                        "-w", "%{http_code}", "--max-time", "5", "-H", "Host: world-v1",
                        f"http://{l5d_ip(3)}:{L5D_PORTS['incoming']}/", check=False)
        assert plain.stdout.strip() == "000", plain.stdout
        assert plain.returncode != 0

        # our own CA, so that a rotation can keep it (a new leaf, the same CA)
        ca = trustme.CA()
        first, second = ca.issue_cert("l5d"), ca.issue_cert("l5d")
        run_sim(cluster, "restart-l5d", "--manifest",
                str(_tls_manifest(tmp_path / "v1.yml", ca, first)))
        certs = tmp_path / "client"
        certs.mkdir()
        ca.cert_pem.write_to_path(str(certs / "ca.pem"))
        second.cert_chain_pems[0].write_to_path(str(certs / "tls.crt"))
        second.private_key_pem.write_to_path(str(certs / "tls.key"))
        old_serial = _peer_serial(3, certs)
        new_serial = x509_serial(second)
        assert old_serial != new_serial

        results: list[tuple[int, bytes]] = []
        stop = threading.Event()

        def load(node: int, url: str) -> None:
            while not stop.is_set():
                status, headers, body = via_l5d(node, url, timeout=20)
                results.append((status, headers.get("l5d-err", "").encode() or body[:80]))

        threads = [threading.Thread(target=load, args=a) for a in (
            (2, "http://world-v1/"), (3, "http://hello/"), (1, "http://world-v1/"),
            (2, "http://hello/"))]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 60
            while len(results) < 100 and time.monotonic() < deadline:
                time.sleep(0.1)
            before = len(results)
            run_sim(cluster, "update-secret", "--manifest",
                    str(_tls_manifest(tmp_path / "v2.yml", ca, second)))
            rotated = time.monotonic()
            for node in (1, 2, 3):
                while _peer_serial(node, certs) != new_serial:
                    assert time.monotonic() < deadline + 60, f"node-{node} kept its certificate"
                    time.sleep(0.3)
            took = time.monotonic() - rotated
            n = len(results)
            while len(results) < n + 100 and time.monotonic() < deadline + 60:
                time.sleep(0.1)
            # then a config reload of every node, still under load and over mutual TLS: a
            # client policy beside the outgoing router's client tls
            token = (cluster / "admin-token").read_text().strip()
            config = Path(State.load(cluster).config)
            text = config.read_text()
            client = re.search(r"^( *)client:\n( *)tls:\n", text, re.M)
            assert client, text
            config.write_text(text[:client.start(2)] + f"{client.group(2)}requestAttemptTimeoutMs"
                              f": 9000\n" + text[client.start(2):])
            for node in (1, 2, 3):
                status, answer = admin_post(node, "/admin/reload", token)
                assert status == 200 and "rt/outgoing: client" in answer["changes"], answer
            reloaded = len(results)
            while len(results) < reloaded + 100 and time.monotonic() < deadline + 120:
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        failed = [r for r in results if r[0] != 200]
        with capsys.disabled():
            print(f"\nTLS rotation and reload: {len(results)} requests ({before} before the "
                  f"swap, {reloaded} before the reload), {len(failed)} failed; every node "
                  f"showed the new certificate {took:.1f} s after the swap")
        assert len(results) >= reloaded + 100 > before + 200 and failed == [], failed[:5]
        # every node loaded the new files (its 4141 at least); no handshake failed
        for node in (1, 2, 3):
            metrics = admin_json(node, "/admin/metrics.json")
            assert metrics["tls/reloads"] >= 1, node
            assert sum(v for k, v in metrics.items()
                       if k.startswith("tls/client/handshake_failures/")) == 0, node
    finally:
        run_sim(cluster, "restart-l5d")  # back to daemonset/l5d.yml's ConfigMap


def x509_serial(leaf) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number
