"""io.l5d.k8s: lookups over watches driven by hand (in memory, on a Clock).

The cases of Linkerd's EndpointsNamerTest: initial list, scale up and down, a
watch error then reconnect, unknown port names, mixed-case names, a service that
disappears and comes back, numeric ports through the Service's targetPort,
labelSelector, EndpointSlices; and the shared, expiring watches. The same namer
runs against a real kube-apiserver in tests/integration/k8s.
"""

from __future__ import annotations

import random

from twisted.internet.task import Clock

from dtab import NEG, PENDING, Address, AddrBound, Leaf, Ok, Path
from l5d.k8s.watches import Watches
from l5d.namers.k8s import K8sNamer
from tests.helpers.fake_k8s_api import FakeApi

PREFIX = Path.read("/#/io.l5d.k8s")


def endpoints(rv: str, *ips: str, port: int = 8080, name: str = "web", ns: str = "ns") -> dict:
    subsets = [{"addresses": [{"ip": ip, "nodeName": f"node-{ip.split('.')[2]}"} for ip in ips],
                "ports": [{"name": "http", "port": port}]}] if ips else []
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
            "subsets": subsets}


def service(rv: str, target: object, name: str = "web") -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target}]}}


def listing(rv: str, *items: dict) -> dict:
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


def setup(**namer_options):
    clock, api = Clock(), FakeApi()
    watches = Watches(clock, api, random.Random(3), idle_ttl_s=100.0, sweep_s=10.0)
    watches.start()
    return clock, api, watches, K8sNamer(watches, PREFIX, **namer_options)


def tick(clock: Clock, seconds: float, step: float = 5.0) -> None:
    """Advance in steps, so every periodic sweep in between runs."""
    for _ in range(int(seconds / step)):
        clock.advance(step)


def ips(state) -> set[str]:
    assert isinstance(state, Ok) and isinstance(state.value, Leaf), state
    return {a.show() for a in state.value.value.addr.addresses}


class K8sNamerTests:
    def test_pending_until_listed_then_bound_with_residual_and_node_names(self) -> None:
        clock, api, watches, namer = setup()
        path = Path.read("/NS/HTTP/Web/rest/of/path")
        assert namer.lookup(path) is PENDING
        call = api.gets[0]
        assert call.path == "/api/v1/namespaces/ns/endpoints"  # lower-cased
        assert call.params == {"fieldSelector": "metadata.name=web"}
        call.answer(200, listing("5", endpoints("4", "10.244.1.2", "10.244.2.2")))
        state = namer.lookup(path)
        bound = state.value.value
        assert bound.id == Path.read("/#/io.l5d.k8s/ns/http/web")
        assert bound.residual == Path.read("/rest/of/path")
        assert bound.addr == AddrBound(frozenset({
            Address("10.244.1.2", 8080, (("nodeName", "node-1"),)),
            Address("10.244.2.2", 8080, (("nodeName", "node-2"),))}))

    def test_scale_up_down_to_zero_and_back(self) -> None:
        clock, api, watches, namer = setup()
        path = Path.read("/ns/http/web")
        namer.lookup(path)
        api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2")))
        watch = api.watches[0]
        g = namer.generation
        watch.send({"type": "MODIFIED", "object": endpoints("6", "10.244.1.2", "10.244.1.3")})
        assert namer.generation > g
        assert ips(namer.lookup(path)) == {"10.244.1.2:8080", "10.244.1.3:8080"}
        watch.send({"type": "MODIFIED", "object": endpoints("7")})
        assert namer.lookup(path) == Ok(NEG)  # no subsets: Neg, so dtab fallback applies
        watch.send({"type": "MODIFIED", "object": endpoints("8", "10.244.3.2")})
        assert ips(namer.lookup(path)) == {"10.244.3.2:8080"}

    def test_deleted_and_recreated(self) -> None:
        clock, api, watches, namer = setup()
        path = Path.read("/ns/http/web")
        namer.lookup(path)
        api.gets[0].answer(200, listing("5"))
        assert namer.lookup(path) == Ok(NEG)  # not there yet: Neg, watch kept
        api.watches[0].send({"type": "ADDED", "object": endpoints("6", "10.244.1.2")})
        assert ips(namer.lookup(path)) == {"10.244.1.2:8080"}
        api.watches[0].send({"type": "DELETED", "object": endpoints("7", "10.244.1.2")})
        assert namer.lookup(path) == Ok(NEG)

    def test_unknown_port_name_and_short_paths_are_neg(self) -> None:
        clock, api, watches, namer = setup()
        namer.lookup(Path.read("/ns/http/web"))
        api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2")))
        assert namer.lookup(Path.read("/ns/grpc/web")) == Ok(NEG)
        assert namer.lookup(Path.read("/ns/http")) == Ok(NEG)

    def test_numeric_port_through_the_service_target_port(self) -> None:
        clock, api, watches, namer = setup()
        path = Path.read("/ns/80/web")
        assert namer.lookup(path) is PENDING
        api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2")))
        assert namer.lookup(path) is PENDING  # the Service is still listing
        svc_call = api.gets[1]
        assert svc_call.path == "/api/v1/namespaces/ns/services"
        svc_call.answer(200, listing("5", service("4", 9000)))
        assert ips(namer.lookup(path)) == {"10.244.1.2:9000"}
        api.watches[1].send({"type": "MODIFIED", "object": service("6", "http")})
        assert ips(namer.lookup(path)) == {"10.244.1.2:8080"}  # named targetPort
        assert namer.lookup(Path.read("/ns/81/web")) == Ok(NEG)  # not a Service port

    def test_label_selector(self) -> None:
        clock, api, watches, namer = setup(label_selector="version")
        assert namer.lookup(Path.read("/ns/http/web")) == Ok(NEG)  # no label value segment
        path = Path.read("/ns/http/web/V2/x")
        namer.lookup(path)
        call = api.gets[0]
        assert call.params == {"fieldSelector": "metadata.name=web",
                               "labelSelector": "version=v2"}
        call.answer(200, listing("5", endpoints("4", "10.244.1.2")))
        state = namer.lookup(path)
        assert state.value.value.id == Path.read("/#/io.l5d.k8s/ns/http/web/v2")
        assert state.value.value.residual == Path.read("/x")

    def test_single_namespace_namer(self) -> None:
        clock, api, watches, namer = setup(namespace="prod")
        namer.lookup(Path.read("/http/web"))
        assert api.gets[0].path == "/api/v1/namespaces/prod/endpoints"
        api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2", ns="prod")))
        assert namer.lookup(Path.read("/http/web")).value.value.id == Path.read(
            "/#/io.l5d.k8s/http/web")

    def test_endpoint_slices_with_the_served_version(self) -> None:
        clock, api, watches, namer = setup(discovery="endpointSlices")
        path = Path.read("/ns/http/web")
        assert namer.lookup(path) is PENDING
        assert api.gets[0].path == "/apis/discovery.k8s.io/v1"
        api.gets[0].answer(404, None)
        assert api.gets[1].path == "/apis/discovery.k8s.io/v1beta1"
        api.gets[1].answer(200, {"kind": "APIResourceList"})
        assert namer.lookup(path) is PENDING
        listed = api.gets[2]
        assert listed.path == "/apis/discovery.k8s.io/v1beta1/namespaces/ns/endpointslices"
        assert listed.params == {"labelSelector": "kubernetes.io/service-name=web"}
        listed.answer(200, listing("9", {
            "metadata": {"name": "web-x", "namespace": "ns", "resourceVersion": "8"},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": True},
                           "topology": {"kubernetes.io/hostname": "node-1"}}]}))
        assert ips(namer.lookup(path)) == {"10.244.1.2:8080"}

    def test_endpoint_slices_fall_back_to_endpoints_when_none_is_served(self) -> None:
        clock, api, watches, namer = setup(discovery="endpointSlices")
        namer.lookup(Path.read("/ns/http/web"))
        api.gets[0].answer(404, None)
        api.gets[1].answer(404, None)
        assert namer.lookup(Path.read("/ns/http/web")) is PENDING
        assert api.gets[2].path == "/api/v1/namespaces/ns/endpoints"


class SharedWatchTests:
    def test_one_watch_per_object_whoever_asks(self) -> None:
        clock, api, watches, a = setup()
        b = K8sNamer(watches, Path.read("/#/other"))
        a.lookup(Path.read("/ns/http/web"))
        b.lookup(Path.read("/ns/admin/web"))
        a.lookup(Path.read("/NS/http/WEB"))
        assert len(api.gets) == 1

    def test_idle_watches_are_marked_then_dropped(self) -> None:
        clock, api, watches, namer = setup()
        path = Path.read("/ns/http/web")
        namer.lookup(path)
        api.gets[0].answer(200, listing("5", endpoints("4", "10.244.1.2")))
        assert namer.bound_names() == []  # nothing bound yet: the lookup was pending
        namer.lookup(path)
        assert namer.bound_names() == ["/#/io.l5d.k8s/ns/http/web"]
        tick(clock, 95)
        g = namer.generation
        tick(clock, 10)  # the sweep at 100 s finds it idle: marked, generation bumped
        assert namer.generation > g and len(watches.reflectors()) == 1
        namer.lookup(path)  # still used: the mark goes
        tick(clock, 20)
        assert len(watches.reflectors()) == 1
        tick(clock, 200)  # unused for two sweeps past the TTL: stopped
        assert watches.reflectors() == [] and api.watches[0].stream.cancelled
        assert namer.bound_names() == []

    def test_pinned_watches_never_expire(self) -> None:
        clock, api, watches, _ = setup()
        pinned = K8sNamer(watches, PREFIX, pin=True)
        pinned.lookup(Path.read("/ns/incoming/l5d"))
        tick(clock, 1000)
        assert len(watches.reflectors()) == 1
