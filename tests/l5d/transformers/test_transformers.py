"""l5d.transformers: Linkerd's transformer kinds built from config (pure, with fakes)."""

from __future__ import annotations

import pytest

from dtab import (
    ADDR_NEG, EMPTY_DTAB, NEG, PENDING, Address, AddrBound, BoundName, Interpreter, Leaf, Ok,
    Path, delegate_tree_json,
)
from l5d.config import ConfigError, parse_config
from l5d.linker import Env, build
from l5d.transformers import filters, gateway, replace

A1 = Address("10.244.1.2", 7777, (("nodeName", "node-1"),))
A2 = Address("10.244.2.2", 7777, (("nodeName", "node-2"),))
A3 = Address("10.244.3.2", 7777, (("nodeName", "node-3"),))
L1 = Address("10.244.1.1", 4141, (("nodeName", "node-1"),))
L2 = Address("10.244.2.1", 4141, (("nodeName", "node-2"),))


def bound(*addresses: Address) -> BoundName:
    return BoundName(Path.read("/#/io.l5d.k8s/default/http/hello"), Path(),
                     AddrBound(frozenset(addresses)))


def addrs(state) -> set[Address] | object:
    b = state.value.value
    return b.addr.addresses if isinstance(b.addr, AddrBound) else b.addr


class LocalNodeTests:
    def test_by_subnet_of_the_pod_ip(self) -> None:
        t = filters.localnode(Path.read("/%/io.l5d.k8s.localnode"), host_network=False,
                              pod_ip="10.244.2.1", node_name=None)
        state = t.transform(Leaf(bound(A1, A2, A3)))
        assert addrs(state) == {A2}
        assert state.value.value.id == Path.read(
            "/%/io.l5d.k8s.localnode/10.244.2.1/#/io.l5d.k8s/default/http/hello")

    def test_by_node_name_with_host_network(self) -> None:
        t = filters.localnode(Path.read("/%/io.l5d.k8s.localnode"), host_network=True,
                              pod_ip=None, node_name="node-3")
        assert addrs(t.transform(Leaf(bound(A1, A2, A3)))) == {A3}
        assert addrs(t.transform(Leaf(bound(A1)))) is ADDR_NEG

    @pytest.mark.parametrize("host_network,env", [(False, {"node_name": "n"}),
                                                  (True, {"pod_ip": "10.0.0.1"})])
    def test_needs_its_variable(self, host_network: bool, env: dict) -> None:
        with pytest.raises(ValueError):
            filters.localnode(Path.read("/%/x"), host_network=host_network,
                              pod_ip=env.get("pod_ip"), node_name=env.get("node_name"))


class FakeK8sNamer:
    generation = 1

    def __init__(self, answer) -> None:
        self.answer = answer
        self.paths: list[Path] = []

    def lookup(self, path: Path):
        self.paths.append(path)
        return self.answer


class DaemonSetTests:
    PFX = Path.read("/%/io.l5d.k8s.daemonset/default/incoming/l5d")

    def gateways(self, *addresses: Address):
        return FakeK8sNamer(Ok(Leaf(BoundName(Path.read("/#/io.l5d.k8s/default/incoming/l5d"),
                                              Path(), AddrBound(frozenset(addresses))))))

    def test_each_address_goes_to_the_l5d_on_its_node(self) -> None:
        namer = self.gateways(L1, L2)
        t = gateway.daemonset(self.PFX, namer, "default", "incoming", "l5d", host_network=False)
        state = t.transform(Leaf(bound(A1, A2, A3)))
        assert addrs(state) == {L1, L2}  # node 3 has no l5d: dropped
        assert namer.paths == [Path.read("/default/incoming/l5d")]
        assert state.value.value.id == self.PFX + Path.read("/#/io.l5d.k8s/default/http/hello")
        assert addrs(t.transform(Leaf(bound(A3)))) is ADDR_NEG

    def test_host_network_matches_node_names(self) -> None:
        far = Address("192.168.0.5", 4141, (("nodeName", "node-2"),))
        t = gateway.daemonset(self.PFX, self.gateways(far), "default", "incoming", "l5d",
                              host_network=True)
        assert addrs(t.transform(Leaf(bound(A1, A2)))) == {far}

    def test_pending_and_neg_gateways(self) -> None:
        t = gateway.daemonset(self.PFX, FakeK8sNamer(PENDING), "default", "incoming", "l5d",
                              host_network=False)
        assert t.transform(Leaf(bound(A1))) is PENDING
        t = gateway.daemonset(self.PFX, FakeK8sNamer(Ok(NEG)), "default", "incoming", "l5d",
                              host_network=False)
        assert addrs(t.transform(Leaf(bound(A1)))) is ADDR_NEG


class ReplaceConstTests:
    def binder(self):
        interp = Interpreter()
        return lambda p: interp.bind(EMPTY_DTAB, p), lambda: interp.generation

    def test_replace_keeps_neg_and_swaps_leaves(self) -> None:
        bind, gen = self.binder()
        t = replace.replace(Path.read("/%/io.l5d.replace"), Path.read("/$/inet/10.0.0.9/80"),
                            bind, gen)
        assert t.transform(NEG) == Ok(NEG)
        out = t.transform(Leaf(bound(A1))).value.value
        assert out.id == Path.read("/%/io.l5d.replace/$/inet/10.0.0.9/80")
        assert out.addr.addresses == {Address("10.0.0.9", 80)}
        js = delegate_tree_json(t.delegate(Interpreter().delegate(
            EMPTY_DTAB, Path.read("/$/inet/10.0.0.1/1")).value).value)
        assert js["type"] == "transformation" and js["name"] == "ReplaceTransformer"

    def test_const_answers_even_for_neg(self) -> None:
        bind, gen = self.binder()
        t = replace.const(Path.read("/%/io.l5d.const"), Path.read("/$/inet/10.0.0.9/80"),
                          bind, gen)
        assert t.transform(NEG).value.value.addr.addresses == {Address("10.0.0.9", 80)}


CONFIG = """\
routers:
- protocol: http
  dtab: /svc => /$/inet/127.0.0.1/1
  interpreter:
    transformers:
    - kind: io.l5d.k8s.localnode
  servers: [{port: 0}]
"""


class BuildTests:
    def test_missing_pod_ip_names_the_transformer(self) -> None:
        from twisted.internet.testing import MemoryReactorClock

        config = parse_config(CONFIG, "l5d.yaml")
        with pytest.raises(ConfigError) as info:
            build(config, Env(), MemoryReactorClock())
        assert str(info.value) == ("<config>: routers[0].interpreter.transformers[0]: "
                                   "io.l5d.k8s.localnode: needs POD_IP set to the pod's IP")
        linker = build(config, Env(pod_ip="10.244.1.1"), MemoryReactorClock())
        assert linker.routers[0].interpreter.transformers[0].name == "SubnetLocalTransformer"

    def test_specific_host_uses_the_injected_resolver(self) -> None:
        from twisted.internet.testing import MemoryReactorClock

        text = CONFIG.replace("io.l5d.k8s.localnode", "io.l5d.specificHost\n      host: box")
        config = parse_config(text, "l5d.yaml")
        with pytest.raises(ConfigError, match="cannot resolve host 'box'"):
            build(config, Env(), MemoryReactorClock())
        linker = build(config, Env(resolve=lambda h: ("10.0.0.7",)), MemoryReactorClock())
        t = linker.routers[0].interpreter.transformers[0]
        near = Address("10.0.0.7", 80)
        assert addrs(t.transform(Leaf(bound(near, A1)))) == {near}
