"""io.l5d.k8s.configMap against a real kube-apiserver: two nodes' backends on one API server.

Each test gets its own namespace and builds two :class:`ConfigMapBackend` instances ("node
A" and "node B", each with its own API client and watch) on the real reactor, as two l5d
processes would. ``kubectl`` (1.20.2, from the fixture's cache) edits the map as an
operator would. The propagation time from A's write to B's subscriber is printed (run
with ``-s`` to see it), never asserted.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
import pytest_twisted
from twisted.internet import defer, reactor, task, threads

from dtab import Dtab
from l5d.dtab_store.configmap import ConfigMapBackend, from_access
from l5d.dtab_store.configmap_model import CHANGED_BY, CHANGED_ROUTER
from l5d.dtab_store.model import Conflict, Refused, Written
from l5d.k8s.access import api_client
from l5d.k8s.api import ApiClient
from l5d.k8s.choice import KUBECONFIG, PROXY, SERVICE_ACCOUNT, Access, choose
from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k8s_api import ROOT, ApiServer, free_port, kubectl_binary

NAME = "l5d-dtabs"
RBAC = ROOT / "daemonset" / "l5d-rbac.yml"
WAIT_S = 20.0
FAST = {"backoff_min_s": 0.05, "backoff_max_s": 0.5}
ONE = "/svc => /#/io.l5d.k8s/default/http"
TWO = "/svc => /#/io.l5d.k8s/prod/http"
THREE = "/svc => /$/inet/10.99.0.1/9"
TEXTS = {Dtab.read(t): t for t in (ONE, TWO, THREE)}


class Node:
    """One node's backend, with what its subscriber saw (and when, ``time.monotonic``)."""

    def __init__(self, api: ApiClient, ns: str, name: str = NAME, **options: Any) -> None:
        self.backend = ConfigMapBackend(reactor, api, random.Random(7), time.time,
                                        namespace=ns, name=name, **dict(FAST, **options))
        self.seen: list[tuple[str, Any, float]] = []
        self.backend.subscribe(lambda router, v: self.seen.append((router, v, time.monotonic())))

    def texts(self, router: str) -> list[str | None]:
        """The dtabs the subscriber saw for ``router``, as the texts they were written as."""
        return [None if v is None else TEXTS.get(v.dtab, v.dtab.show())
                for r, v, _ in self.seen if r == router]


def kube_client(api: ApiServer, path: Path, token: str | None = None,
                port: int | None = None) -> ApiClient:
    config = api.kubeconfig(path, token)
    if port is not None:
        config.write_text(config.read_text().replace(f"127.0.0.1:{api.port}",
                                                     f"127.0.0.1:{port}"))
    return api_client(reactor, Access(KUBECONFIG, kubeconfig=str(config)), {})


@pytest.fixture
def nodes(k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path):
    made: list[Node] = []

    def make(**options: Any) -> Node:
        client = kube_client(k8s_api, tmp_path / f"kubeconfig-{len(made)}")
        made.append(Node(client, k8s_namespace, **options))
        return made[-1]

    yield make
    for node in made:
        pytest_twisted.blockon(node.backend.stop())


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def eventually(check, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        yield sleep(0.02)


def kubectl(api: ApiServer, tmp_path: Path, ns: str, *args: str) -> defer.Deferred:
    """Run kubectl (in a thread: the reactor keeps watching meanwhile)."""
    config = api.kubeconfig(tmp_path / "kubeconfig-kubectl")
    argv = [str(kubectl_binary()), "--kubeconfig", str(config), "-n", ns, *args]
    return threads.deferToThread(subprocess.run, argv, check=True, capture_output=True,
                                 timeout=60)


class TwoNodesTests:
    """A write through one node is what every node routes on."""

    @pytest_twisted.inlineCallbacks
    def test_write_on_a_creates_the_map_and_b_sees_it(self, nodes, k8s_api: ApiServer,
                                                       k8s_namespace: str) -> None:
        """With no ConfigMap nothing is stored; A's first write creates it; B's read and
        subscriber follow; the propagation time is printed."""
        a, b = nodes(), nodes()
        yield defer.gatherResults([a.backend.start(), b.backend.start()])
        assert a.backend.read("http") is None and b.backend.read("http") is None
        started = time.monotonic()
        out = yield a.backend.write("http", ONE, None, "alice")
        assert isinstance(out, Written), out
        assert out.current.dtab == Dtab.read(ONE) and out.change.who == "alice"
        assert out.change.previous is None and out.change.previous_version is None
        assert a.backend.read("http") == out.current  # read-your-writes, before the watch
        yield eventually(lambda: b.texts("http"))
        propagation = b.seen[0][2] - started
        assert b.backend.read("http") == out.current
        [change] = b.backend.history("http")
        assert (change.who, change.dtab, change.version) == ("alice", ONE, out.current.version)
        stored = k8s_api.get(f"/api/v1/namespaces/{k8s_namespace}/configmaps/{NAME}")
        assert stored["data"] == {"http": ONE}
        notes = stored["metadata"]["annotations"]
        assert notes[CHANGED_BY] == "alice" and notes[CHANGED_ROUTER] == "http"
        # the second write edits the version read; other routers' keys are kept
        out2 = yield b.backend.write("grpc", TWO, None, "bob")
        assert isinstance(out2, Written), out2
        out3 = yield b.backend.write("http", THREE, out2.current.version, "bob")
        assert isinstance(out3, Written), out3
        yield eventually(lambda: a.texts("http") == [ONE, THREE])
        assert a.backend.read("grpc").dtab == Dtab.read(TWO)
        assert [c.dtab for c in a.backend.history("http")] == [THREE, ONE]
        assert a.backend.history("http")[0].previous == ONE
        print(f"\nio.l5d.k8s.configMap: A's write -> B's subscriber {propagation * 1000:.1f} ms")

    @pytest_twisted.inlineCallbacks
    def test_propagation_time(self, nodes) -> None:
        """20 writes on A, each timed until B's subscriber sees it (printed, not asserted)."""
        a, b = nodes(), nodes()
        yield defer.gatherResults([a.backend.start(), b.backend.start()])
        version, times, writes = None, [], []
        for i in range(20):
            text = f"/svc=>/$/inet/10.98.0.{i + 1}/9"
            started = time.monotonic()
            out = yield a.backend.write("http", text, version, "alice")
            writes.append((time.monotonic() - started) * 1000)
            assert isinstance(out, Written), out
            version = out.current.version
            yield eventually(lambda: b.texts("http")[-1:] == [text])
            times.append((b.seen[-1][2] - started) * 1000)
        for what, ms in (("A's write answered", writes), ("A's write -> B's subscriber", times)):
            ms.sort()
            print(f"\nio.l5d.k8s.configMap {what}, {len(ms)} writes: min {ms[0]:.1f} ms, "
                  f"median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms")


class CompareAndSwapTests:
    """A stale version changes nothing; of two racing writers exactly one wins."""

    @pytest_twisted.inlineCallbacks
    def test_stale_write_gets_conflict_and_changes_nothing(self, nodes, k8s_api: ApiServer,
                                                           k8s_namespace: str) -> None:
        a, b = nodes(), nodes()
        yield defer.gatherResults([a.backend.start(), b.backend.start()])
        first = yield a.backend.write("http", ONE, None, "alice")
        second = yield a.backend.write("http", TWO, first.current.version, "alice")
        assert isinstance(second, Written), second
        path = f"/api/v1/namespaces/{k8s_namespace}/configmaps/{NAME}"
        before = k8s_api.get(path)
        # B may not have seen the second write yet; either way the API server decides
        stale = yield b.backend.write("http", THREE, first.current.version, "bob")
        assert isinstance(stale, Conflict), stale
        assert stale.current == second.current
        again = yield b.backend.write("http", THREE, None, "bob")  # "nothing stored": stale too
        assert isinstance(again, Conflict) and again.current == second.current, again
        after = k8s_api.get(path)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["data"] == {"http": TWO}
        yield eventually(lambda: b.backend.read("http") == second.current)

    @pytest_twisted.inlineCallbacks
    def test_racing_writes_with_the_same_version_one_wins(self, nodes, k8s_api: ApiServer,
                                                          k8s_namespace: str) -> None:
        """Both the creation race (POST) and the update race (PUT): one Written, one
        Conflict whose current is the winner's."""
        a, b = nodes(), nodes()
        yield defer.gatherResults([a.backend.start(), b.backend.start()])
        for expected in (None, "from the winner"):
            if expected is not None:
                expected = a.backend.read("http").version
                yield eventually(lambda: b.backend.read("http") is not None
                                 and b.backend.read("http").version == expected)
            outs = yield defer.gatherResults([
                a.backend.write("http", TWO if expected else ONE, expected, "alice"),
                b.backend.write("http", THREE, expected, "bob")])
            won = [o for o in outs if isinstance(o, Written)]
            lost = [o for o in outs if isinstance(o, Conflict)]
            assert len(won) == 1 and len(lost) == 1, outs
            assert lost[0].current == won[0].current
            stored = k8s_api.get(f"/api/v1/namespaces/{k8s_namespace}/configmaps/{NAME}")
            assert stored["data"]["http"] == won[0].change.dtab
            assert stored["metadata"]["resourceVersion"] == won[0].current.version
            yield eventually(lambda: a.backend.read("http") == b.backend.read("http")
                             == won[0].current)


class KubectlTests:
    """An operator's edits with kubectl are routed on, attributed to kubectl."""

    @pytest_twisted.inlineCallbacks
    def test_create_edit_break_and_remove_with_kubectl(self, nodes, k8s_api: ApiServer,
                                                       k8s_namespace: str,
                                                       tmp_path: Path) -> None:
        a = nodes()
        yield a.backend.start()
        ns = k8s_namespace
        yield kubectl(k8s_api, tmp_path, ns, "create", "configmap", NAME,
                      f"--from-literal=http={ONE}")
        yield eventually(lambda: a.texts("http") == [ONE])
        [change] = a.backend.history("http")
        assert change.who == "kubectl-create (outside l5d)", change
        yield kubectl(k8s_api, tmp_path, ns, "patch", "configmap", NAME, "--type", "merge",
                      "-p", '{"data": {"http": "%s"}}' % TWO)
        yield eventually(lambda: a.texts("http") == [ONE, TWO])
        assert a.backend.history("http")[0].who == "kubectl-patch (outside l5d)"
        assert a.backend.history("http")[0].previous == ONE
        # l5d writes on top of kubectl's version, then kubectl's own annotations do not
        # survive a later kubectl edit of the text
        out = yield a.backend.write("http", THREE, a.backend.read("http").version, "alice")
        assert isinstance(out, Written), out
        yield kubectl(k8s_api, tmp_path, ns, "patch", "configmap", NAME, "--type", "merge",
                      "-p", '{"data": {"http": "%s"}}' % ONE)
        yield eventually(lambda: a.texts("http")[-1:] == [ONE])
        assert a.backend.history("http")[0].who == "kubectl-patch (outside l5d)"
        # a dtab that does not parse keeps the last good one (with the map's version)
        yield kubectl(k8s_api, tmp_path, ns, "patch", "configmap", NAME, "--type", "merge",
                      "-p", '{"data": {"http": "/svc => ("}}')
        yield eventually(lambda: a.backend.read("http").version != out.current.version
                         and a.backend.map.object["data"]["http"] == "/svc => (")
        assert a.backend.read("http").dtab == Dtab.read(ONE)
        assert a.texts("http")[-1:] == [ONE]
        # removing the key: the config's dtab applies again (subscriber gets None)
        yield kubectl(k8s_api, tmp_path, ns, "patch", "configmap", NAME, "--type", "json",
                      "-p", '[{"op": "remove", "path": "/data/http"}]')
        yield eventually(lambda: a.texts("http")[-1:] == [None])
        assert a.backend.read("http") is None


class ManifestAccountTests:
    """The Role of daemonset/l5d-rbac.yml is enough, with in-pod credentials."""

    @pytest_twisted.inlineCallbacks
    def test_two_pods_with_the_manifest_role(self, k8s_api: ApiServer, k8s_namespace: str,
                                             tmp_path: Path) -> None:
        """Two backends built by from_access() from a pod's service-account files, granted
        exactly the manifest's Role: create, watch and update the map."""
        [role] = [d for d in yaml.safe_load_all(RBAC.read_text()) if d and d["kind"] == "Role"]
        pod = k8s_api.service_account_dir(k8s_namespace, "l5d", role["rules"],
                                          tmp_path / "serviceaccount")
        access = choose(None, None, None, None, None, pod.env)
        assert access.mode == SERVICE_ACCOUNT and access.auto
        access = Access(SERVICE_ACCOUNT, account_dir=str(pod.dir))
        backends = [from_access(reactor, access, pod.env, random.Random(i), time.time,
                                namespace=k8s_namespace, **FAST) for i in range(2)]
        a, b = backends
        try:
            yield defer.gatherResults([a.start(), b.start()])
            first = yield a.write("outgoing", ONE, None, "alice")
            assert isinstance(first, Written), first
            yield eventually(lambda: b.read("outgoing") == first.current)
            second = yield b.write("outgoing", TWO, first.current.version, "bob")
            assert isinstance(second, Written), second
            yield eventually(lambda: a.read("outgoing") == second.current)
            assert a.reflector.errors == b.reflector.errors == 0, a.reflector.last_error
        finally:
            yield defer.gatherResults([a.stop(), b.stop()])


class RefusedTests:
    """What the backend cannot do is a Refused with the reason, never an exception."""

    @pytest_twisted.inlineCallbacks
    def test_read_only_account_is_refused_with_the_api_message(
            self, k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
        ns = k8s_namespace
        k8s_api.create_or_replace(f"/api/v1/namespaces/{ns}/serviceaccounts", {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}})
        k8s_api.grant(ns, "reader", [{"apiGroups": [""], "resources": ["configmaps"],
                                      "verbs": ["get", "list", "watch"]}])
        token = k8s_api.token_request(ns, "reader")
        node = Node(kube_client(k8s_api, tmp_path / "kubeconfig", token), ns)
        try:
            yield node.backend.start()
            out = yield node.backend.write("http", ONE, None, "alice")
            assert isinstance(out, Refused), out
            assert "403" in out.reason and "forbidden" in out.reason, out.reason
        finally:
            yield node.backend.stop()

    @pytest_twisted.inlineCallbacks
    def test_a_label_that_is_no_configmap_key_is_refused(self, nodes) -> None:
        """The API's 422 (an invalid data key) is a Refused with its message."""
        a = nodes()
        yield a.backend.start()
        out = yield a.backend.write("in/out", ONE, None, "alice")
        assert isinstance(out, Refused) and "422" in out.reason and "in/out" in out.reason, out
        assert a.backend.read("in/out") is None

    @pytest_twisted.inlineCallbacks
    def test_unreachable_api_starts_and_refuses(self, k8s_namespace: str) -> None:
        """start() fires (the config's dtabs apply), a write is Refused, nothing is read."""
        api = ApiClient(reactor, f"http://127.0.0.1:{free_port()}",
                        description=Access(PROXY).describe())
        node = Node(api, k8s_namespace, start_timeout_s=2.0)
        try:
            yield node.backend.start()
            assert node.backend.read("http") is None
            out = yield node.backend.write("http", ONE, None, "alice")
            assert isinstance(out, Refused) and "unreachable" in out.reason, out
        finally:
            yield node.backend.stop()


class WatchRecoveryTests:
    """A watch cut off for longer than etcd keeps history relists (410) and catches up."""

    @pytest_twisted.inlineCallbacks
    def test_cut_off_node_refuses_writes_keeps_its_dtab_and_catches_up(
            self, k8s_api: ApiServer, k8s_namespace: str, tmp_path: Path) -> None:
        """While A cannot reach the API its writes are Refused and it keeps routing on what
        it last saw; when the API is back it reconnects (backoff) and sees B's change."""
        ns = k8s_namespace
        with FaultProxy("127.0.0.1", k8s_api.port) as fault:
            a = Node(kube_client(k8s_api, tmp_path / "a", port=fault.port), ns)
            b = Node(kube_client(k8s_api, tmp_path / "b"), ns)
            try:
                yield defer.gatherResults([a.backend.start(), b.backend.start()])
                first = yield b.backend.write("http", ONE, None, "bob")
                yield eventually(lambda: a.backend.read("http") == first.current)
                fault.refuse(True)
                fault.cut()
                out = yield a.backend.write("http", THREE, first.current.version, "alice")
                assert isinstance(out, Refused), out
                second = yield b.backend.write("http", TWO, first.current.version, "bob")
                yield sleep(1.0)
                assert a.backend.read("http") == first.current
                fault.refuse(False)
                yield eventually(lambda: a.backend.read("http") == second.current)
                assert a.texts("http") == [ONE, TWO] and a.backend.reflector.errors >= 1
            finally:
                yield defer.gatherResults([a.backend.stop(), b.backend.stop()])

    @pytest_twisted.inlineCallbacks
    def test_too_old_relists_and_sees_the_change_made_in_the_gap(
            self, k8s_api_compacting: ApiServer, tmp_path: Path) -> None:
        api = k8s_api_compacting
        ns = f"c{int(time.time() * 1000) % 10**9}"
        api.create_namespace(ns)
        with FaultProxy("127.0.0.1", api.port) as fault:
            a = Node(kube_client(api, tmp_path / "a", port=fault.port), ns)
            b = Node(kube_client(api, tmp_path / "b"), ns)
            try:
                yield defer.gatherResults([a.backend.start(), b.backend.start()])
                first = yield b.backend.write("http", ONE, None, "bob")
                yield eventually(lambda: a.texts("http") == [ONE])
                fault.refuse(True)
                fault.cut()
                second = yield b.backend.write("http", TWO, first.current.version, "bob")
                assert isinstance(second, Written), second
                for i in range(5):  # move etcd's revision on, then let compaction pass it
                    api.create_or_replace(f"/api/v1/namespaces/{ns}/configmaps", {
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "other"}, "data": {"i": str(i)}})
                yield sleep(12)
                assert a.texts("http") == [ONE]
                fault.refuse(False)
                yield eventually(lambda: a.texts("http") == [ONE, TWO], timeout_s=40)
                assert a.backend.read("http") == second.current
                assert a.backend.reflector.relists >= 1, a.backend.reflector.last_error
            finally:
                yield defer.gatherResults([a.backend.stop(), b.backend.stop()])
