"""The real kube-apiserver launcher and its helpers work (no l5d code involved).

These tests pin down the server behaviour a Kubernetes namer relies on: list and watch of
Endpoints (newline-delimited JSON events over chunked HTTP/1.1), RBAC-limited in-cluster
credentials, the in-band 410 for a compacted resourceVersion, a restart on the same port,
connection faults through :class:`~tests.helpers.fault_proxy.FaultProxy`, ``kubectl proxy``,
and EndpointSlice ``discovery.k8s.io/v1beta1`` (v1 is not served by 1.20).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers.fault_proxy import FaultProxy
from tests.helpers.k8s_api import (
    LOOPBACK_REFUSAL,
    ApiError,
    ApiServer,
    StreamBroken,
    kubectl_binary,
    plain_session,
)

ENDPOINTS_READER = [{"apiGroups": [""], "resources": ["endpoints"],
                     "verbs": ["get", "list", "watch"]}]
COMPACTION_WAIT_S = 25.0


def subsets(*ips: str, port: int = 8080) -> list[dict]:
    """:return: one Endpoints subset with ``ips`` on the named port ``http``."""
    return [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "http", "port": port}]}]


def endpoints_path(ns: str) -> str:
    """:return: the Endpoints collection of namespace ``ns``."""
    return f"/api/v1/namespaces/{ns}/endpoints"


def ips_of(endpoints: dict) -> list[str]:
    """:return: every address IP of an Endpoints object, in order."""
    return [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses", [])]


def test_admin_lists_endpoints(k8s_api: ApiServer, k8s_namespace: str) -> None:
    k8s_api.apply_service(k8s_namespace, "web", [{"name": "http", "port": 80, "targetPort": 8080}])
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2", "10.244.1.3"))

    listing = k8s_api.get(endpoints_path(k8s_namespace))

    assert listing["kind"] == "EndpointsList"
    assert listing["metadata"]["resourceVersion"]
    [web] = listing["items"]
    assert web["metadata"]["name"] == "web"
    assert ips_of(web) == ["10.244.1.2", "10.244.1.3"]
    assert web["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_put_endpoints_replaces_and_loopback_is_refused(k8s_api: ApiServer,
                                                        k8s_namespace: str) -> None:
    first = k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
    second = k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.2.9"))
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert ips_of(k8s_api.get(f"{endpoints_path(k8s_namespace)}/web")) == ["10.244.2.9"]

    with pytest.raises(ApiError) as refused:
        k8s_api.put_endpoints(k8s_namespace, "local", subsets("127.0.0.1"))
    assert refused.value.status == 422
    assert refused.value.reason == "Invalid"
    assert LOOPBACK_REFUSAL in refused.value.message


def test_stale_put_is_a_409_conflict(k8s_api: ApiServer, k8s_namespace: str) -> None:
    stale = k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.3"))

    with pytest.raises(ApiError) as conflict:
        k8s_api.put(f"{endpoints_path(k8s_namespace)}/web",
                    dict(stale, subsets=subsets("10.1.1.1")))
    assert conflict.value.status == 409
    assert conflict.value.reason == "Conflict"


def test_watch_is_newline_delimited_json_over_chunked_http11(k8s_api: ApiServer,
                                                             k8s_namespace: str) -> None:
    rv = k8s_api.get(endpoints_path(k8s_namespace))["metadata"]["resourceVersion"]
    with k8s_api.watch(endpoints_path(k8s_namespace), {"resourceVersion": rv}) as stream:
        assert (stream.status, stream.version) == (200, 11)
        assert stream.headers["Transfer-Encoding"] == "chunked"
        assert stream.headers["Content-Type"] == "application/json"

        k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
        k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2", "10.244.1.3"))
        k8s_api.delete_endpoints(k8s_namespace, "web")
        events = stream.next_events(3)

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert sum(stream.chunks) == sum(map(len, stream.lines))
    assert [ips_of(e["object"]) for e in events] == [
        ["10.244.1.2"], ["10.244.1.2", "10.244.1.3"], ["10.244.1.2", "10.244.1.3"]]
    versions = [e["object"]["metadata"]["resourceVersion"] for e in events]
    assert len(set(versions)) == 3
    for line in stream.lines[:3]:
        assert line.endswith(b"\n") and b"\n" not in line[:-1]
        assert set(json.loads(line)) == {"type", "object"}


def test_watch_without_resource_version_starts_with_synthetic_added(k8s_api: ApiServer,
                                                                    k8s_namespace: str) -> None:
    k8s_api.put_endpoints(k8s_namespace, "a", subsets("10.244.1.2"))
    k8s_api.put_endpoints(k8s_namespace, "b", subsets("10.244.1.3"))

    with k8s_api.watch(endpoints_path(k8s_namespace),
                       {"fieldSelector": "metadata.name=b"}) as stream:
        [event] = stream.next_events(1)

    assert event["type"] == "ADDED"
    assert event["object"]["metadata"]["name"] == "b"


def test_watch_ends_cleanly_at_timeout_seconds(k8s_api: ApiServer, k8s_namespace: str) -> None:
    with k8s_api.watch(endpoints_path(k8s_namespace), {"timeoutSeconds": "1"}) as stream:
        assert stream.next_event(timeout_s=15) is None


def test_rbac_limited_service_account_lists_and_watches_but_not_secrets(
        k8s_api: ApiServer, k8s_namespace: str, tmp_path) -> None:
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
    sa = k8s_api.service_account_dir(k8s_namespace, "router", ENDPOINTS_READER,
                                     tmp_path / "serviceaccount")

    assert sorted(p.name for p in sa.dir.iterdir()) == ["ca.crt", "namespace", "token"]
    assert (sa.dir / "namespace").read_text() == k8s_namespace
    assert (sa.dir / "token").read_text() == sa.token
    assert (sa.dir / "ca.crt").read_text() == Path(k8s_api.ca_file).read_text()
    assert sa.env == {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                      "KUBERNETES_SERVICE_PORT": str(k8s_api.port)}

    base = f"https://{sa.env['KUBERNETES_SERVICE_HOST']}:{sa.env['KUBERNETES_SERVICE_PORT']}"
    with k8s_api.session(sa.token) as session:
        session.verify = str(sa.dir / "ca.crt")
        listing = session.get(base + endpoints_path(k8s_namespace), timeout=10)
        secrets = session.get(f"{base}/api/v1/namespaces/{k8s_namespace}/secrets", timeout=10)
        cluster_wide = session.get(f"{base}/api/v1/endpoints", timeout=10)
    assert listing.status_code == 200
    assert [i["metadata"]["name"] for i in listing.json()["items"]] == ["web"]
    assert secrets.status_code == 403
    assert secrets.json()["reason"] == "Forbidden"
    assert cluster_wide.status_code == 403

    with k8s_api.watch(endpoints_path(k8s_namespace), token=sa.token) as stream:
        assert stream.status == 200
        assert stream.next_event()["type"] == "ADDED"
    with k8s_api.watch(f"/api/v1/namespaces/{k8s_namespace}/secrets", token=sa.token) as denied:
        assert denied.status == 403


def test_compacted_resource_version_gives_in_band_410(k8s_api_compacting: ApiServer) -> None:
    api = k8s_api_compacting
    ns = f"compact-{uuid.uuid4().hex[:10]}"
    api.create_namespace(ns)
    old_rv = api.put_endpoints(ns, "web", subsets("10.244.1.2"))["metadata"]["resourceVersion"]
    api.put_endpoints(ns, "web", subsets("10.244.1.3"))
    api.put_endpoints(ns, "web", subsets("10.244.1.4"))

    event = first_event_once_compacted(api, endpoints_path(ns), old_rv)

    assert event == {"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "The resourceVersion for the provided watch is too old.",
        "reason": "Expired", "code": 410}}
    with pytest.raises(ApiError) as gone:
        api.get(endpoints_path(ns), {"resourceVersion": old_rv, "resourceVersionMatch": "Exact"})
    assert gone.value.status == 410
    assert gone.value.reason == "Expired"


def first_event_once_compacted(api: ApiServer, path: str, rv: str) -> dict:
    """Re-watch from ``rv`` until the answer is the in-band ERROR; that stream then ends.

    :return: the ERROR event.
    """
    deadline = time.monotonic() + COMPACTION_WAIT_S
    while True:
        with api.watch(path, {"resourceVersion": rv}) as stream:
            assert stream.status == 200
            event = stream.next_event()
            if event["type"] == "ERROR":
                assert stream.next_event() is None
                return event
        assert time.monotonic() < deadline, f"rv {rv} still replayable after compaction"
        time.sleep(0.5)


def test_two_instances_run_side_by_side(k8s_api: ApiServer,
                                        k8s_api_compacting: ApiServer) -> None:
    assert k8s_api.port != k8s_api_compacting.port
    assert k8s_api.etcd_url != k8s_api_compacting.etcd_url
    for api in (k8s_api, k8s_api_compacting):
        assert api.get("/version")["gitVersion"] == "v1.20.2"


def test_restart_keeps_port_and_data(k8s_api: ApiServer, k8s_namespace: str) -> None:
    old_rv = k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))[
        "metadata"]["resourceVersion"]
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.3"))
    url, port = k8s_api.url, k8s_api.port
    rv = k8s_api.get(endpoints_path(k8s_namespace))["metadata"]["resourceVersion"]
    with k8s_api.watch(endpoints_path(k8s_namespace), {"resourceVersion": rv}) as stream:
        k8s_api.restart()
        with pytest.raises(StreamBroken):  # killed: no terminating chunk
            stream.next_event()

    assert (k8s_api.url, k8s_api.port) == (url, port)
    listing = k8s_api.get(endpoints_path(k8s_namespace))
    assert [ips_of(e) for e in listing["items"]] == [["10.244.1.3"]]
    new_rv = listing["metadata"]["resourceVersion"]
    with k8s_api.watch(endpoints_path(k8s_namespace), {"resourceVersion": new_rv}) as stream:
        k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.4"))
        assert stream.next_event()["type"] == "MODIFIED"
    # The restarted watch cache starts at the RV it listed: anything older is "too old".
    with k8s_api.watch(endpoints_path(k8s_namespace), {"resourceVersion": old_rv}) as stream:
        event = stream.next_event()
    assert (event["type"], event["object"]["code"]) == ("ERROR", 410)


def test_fault_proxy_cuts_a_watch(k8s_api: ApiServer, k8s_namespace: str) -> None:
    with FaultProxy("127.0.0.1", k8s_api.port) as proxy:
        with k8s_api.watch(endpoints_path(k8s_namespace), port=proxy.port) as stream:
            k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
            assert stream.next_event()["type"] == "ADDED"
            assert proxy.cut() == 1
            with pytest.raises(StreamBroken):
                stream.next_event()

        with k8s_api.watch(endpoints_path(k8s_namespace), port=proxy.port) as again:
            assert again.next_event()["type"] == "ADDED"
        assert proxy.accepted == 2


def test_fault_proxy_stalls_a_watch(k8s_api: ApiServer, k8s_namespace: str) -> None:
    with (FaultProxy("127.0.0.1", k8s_api.port) as proxy,
          k8s_api.watch(endpoints_path(k8s_namespace), port=proxy.port) as stream):
        proxy.stall(True)
        k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
        with pytest.raises(TimeoutError):
            stream.next_event(timeout_s=1.0)
        assert proxy.active == 1
        proxy.stall(False)
        assert stream.next_event()["type"] == "ADDED"


def test_fault_proxy_refuses_new_connections(k8s_api: ApiServer, k8s_namespace: str) -> None:
    with FaultProxy("127.0.0.1", k8s_api.port) as proxy:
        proxy.refuse(True)
        with pytest.raises((OSError, http.client.HTTPException)):
            k8s_api.watch(endpoints_path(k8s_namespace), port=proxy.port)
        proxy.refuse(False)
        with k8s_api.watch(endpoints_path(k8s_namespace), {"timeoutSeconds": "1"},
                           port=proxy.port) as stream:
            assert stream.status == 200
        assert (proxy.accepted, proxy.refused) == (2, 1)


def test_kubectl_proxy_answers_without_auth(k8s_api: ApiServer, k8s_namespace: str) -> None:
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
    with k8s_api.kubectl_proxy() as proxy, plain_session() as session:
        reply = session.get(f"{proxy.url}{endpoints_path(k8s_namespace)}/web", timeout=10)
    assert proxy.url.startswith("http://127.0.0.1:")
    assert reply.status_code == 200
    assert ips_of(reply.json()) == ["10.244.1.2"]


def test_kubeconfig_drives_kubectl_1_20(k8s_api: ApiServer, k8s_namespace: str,
                                         tmp_path) -> None:
    k8s_api.put_endpoints(k8s_namespace, "web", subsets("10.244.1.2"))
    config = k8s_api.kubeconfig(tmp_path / "kubeconfig")

    done = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={config}", f"--cache-dir={tmp_path / 'cache'}",
         "-n", k8s_namespace, "get", "endpoints", "web", "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert ips_of(json.loads(done.stdout)) == ["10.244.1.2"]


def test_endpointslice_is_v1beta1_only(k8s_api: ApiServer, k8s_namespace: str) -> None:
    k8s_api.put_endpointslice_v1beta1(
        k8s_namespace, "web-abc", "web",
        [{"addresses": ["10.244.1.2"], "conditions": {"ready": True},
          "topology": {"kubernetes.io/hostname": "node-a"}}],
        [{"name": "http", "port": 8080, "protocol": "TCP"}])
    k8s_api.put_endpointslice_v1beta1(k8s_namespace, "other-xyz", "other",
                                      [{"addresses": ["10.244.9.9"]}], [{"port": 80}])

    listing = k8s_api.get(f"/apis/discovery.k8s.io/v1beta1/namespaces/{k8s_namespace}"
                          "/endpointslices", {"labelSelector": "kubernetes.io/service-name=web"})

    [web] = listing["items"]
    assert web["metadata"]["name"] == "web-abc"
    assert web["endpoints"][0]["addresses"] == ["10.244.1.2"]
    assert web["endpoints"][0]["topology"] == {"kubernetes.io/hostname": "node-a"}
    with pytest.raises(ApiError) as missing:
        k8s_api.get("/apis/discovery.k8s.io/v1")
    assert missing.value.status == 404
