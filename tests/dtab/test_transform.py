"""dtab.transform: transformers over bound trees and delegate trees (tables, pure)."""

from __future__ import annotations

import pytest

from dtab import (
    ADDR_NEG, NEG, PENDING, Address, AddrBound, BoundName, Dtab, Interpreter, LeafTransformer,
    Leaf, Ok, Path, TransformedNamer, Union, delegate_tree_json, filter_bound, gateway_bound,
    port_bound, same_subnet,
)
from dtab.nametree import Weighted

PFX = Path.read("/%/t")


def bound(*addresses: Address, id: str = "/#/k8s/ns/http/web") -> BoundName:
    return BoundName(Path.read(id), Path.read("/rest"), AddrBound(frozenset(addresses)))


A1 = Address("10.244.1.2", 8080, (("nodeName", "n1"),))
A2 = Address("10.244.2.2", 8080, (("nodeName", "n2"),))
G1 = Address("10.244.1.1", 4141, (("nodeName", "n1"),))
G2 = Address("10.244.2.1", 4141, (("nodeName", "n2"),))
G3 = Address("10.244.3.1", 4141, (("nodeName", "n3"),))


def subnet(a: Address, g: Address) -> bool:
    return same_subnet(a.ip, g.ip, 24)


class BuildingBlockTests:
    def test_filter_keeps_what_matches_and_prefixes_the_id(self) -> None:
        out = filter_bound(bound(A1, A2), PFX, lambda a: a.ip.startswith("10.244.1."))
        assert out.id == Path.read("/%/t/#/k8s/ns/http/web") and out.residual == Path.read("/rest")
        assert out.addr == AddrBound(frozenset({A1}))

    def test_a_filter_that_empties_the_set_is_addr_neg_not_name_neg(self) -> None:
        out = filter_bound(bound(A1), PFX, lambda a: False)
        assert out.addr is ADDR_NEG  # still a bound leaf: no dtab fallback

    def test_gateways_on_the_same_subnet(self) -> None:
        gws = frozenset({G1, G2, G3})
        out = gateway_bound(bound(A1, A2), PFX, gws, subnet)
        assert out.addr == AddrBound(frozenset({G1, G2}))
        lonely = gateway_bound(bound(Address("10.244.9.9", 80)), PFX, gws, subnet)
        assert lonely.addr is ADDR_NEG

    def test_port(self) -> None:
        out = port_bound(bound(A1, A2), PFX, 4141)
        assert {a.port for a in out.addr.addresses} == {4141}
        assert {a.meta for a in out.addr.addresses} == {A1.meta, A2.meta}

    @pytest.mark.parametrize("a,b,bits,expected", [
        ("10.244.1.2", "10.244.1.200", 24, True), ("10.244.1.2", "10.244.2.2", 24, False),
        ("10.244.1.2", "10.244.1.2", 32, True), ("10.244.1.2", "10.244.1.3", 32, False),
        ("fd00::1", "fd00::2", 64, True), ("10.0.0.1", "fd00::1", 24, False),
        ("web", "10.0.0.1", 24, False),
    ])
    def test_same_subnet(self, a, b, bits, expected) -> None:
        assert same_subnet(a, b, bits) is expected


def only_node_1(b: BoundName) -> BoundName:
    return filter_bound(b, PFX, lambda a: a.meta_dict().get("nodeName") == "n1")


class LeafTransformerTests:
    def test_every_leaf_of_a_union_and_negs_untouched(self) -> None:
        t = LeafTransformer("X", only_node_1)
        tree = Union((Weighted(1.0, Leaf(bound(A1, A2))), Weighted(2.0, NEG)))
        out = t.transform(tree)
        assert out.value.weighted[0].tree.value.addr == AddrBound(frozenset({A1}))
        assert out.value.weighted[1].tree is NEG

    def test_pending_anywhere_is_pending(self) -> None:
        t = LeafTransformer("X", lambda b: None)
        assert t.transform(Leaf(bound(A1))) is PENDING
        assert t.transform(NEG) == Ok(NEG)


class FakeNamer:
    generation = 0

    def __init__(self, answer) -> None:
        self.answer = answer

    def lookup(self, path: Path):
        return self.answer


class InterpreterTests:
    def test_router_transformers_apply_after_binding_in_order(self) -> None:
        namer = FakeNamer(Ok(Leaf(bound(A1, A2, id="/#/k8s"))))
        first = LeafTransformer("First", only_node_1)
        second = LeafTransformer("Second", lambda b: port_bound(b, Path.read("/%/p"), 4141))
        interp = Interpreter([(Path.read("/#/k8s"), namer)], transformers=[first, second])
        state = interp.bind(Dtab.read("/svc=>/#/k8s"), Path.read("/svc/web"))
        leaf = state.value.value
        assert leaf.id == Path.read("/%/p/%/t/#/k8s")
        assert leaf.addr == AddrBound(frozenset({Address("10.244.1.2", 4141, A1.meta)}))

    def test_delegate_shows_a_transformation_node(self) -> None:
        namer = FakeNamer(Ok(Leaf(bound(A1, A2, id="/#/k8s"))))
        interp = Interpreter([(Path.read("/#/k8s"), namer)],
                             transformers=[LeafTransformer("SubnetLocalTransformer",
                                                           only_node_1)])
        tree = interp.delegate(Dtab.read("/svc=>/#/k8s"), Path.read("/svc/web")).value
        js = delegate_tree_json(tree)
        node = js["delegate"]
        assert node["type"] == "transformation" and node["name"] == "SubnetLocalTransformer"
        assert node["bound"]["id"] == "/#/k8s"
        assert node["tree"]["type"] == "leaf" and node["tree"]["path"] == "/%/t/#/k8s"
        assert [a["ip"] for a in node["tree"]["bound"]["addr"]["addrs"]] == ["10.244.1.2"]

    def test_generation_includes_transformers(self) -> None:
        class T(LeafTransformer):
            pass
        counter = {"g": 0}
        t = LeafTransformer("X", only_node_1, generation=lambda: counter["g"])
        interp = Interpreter([(Path.read("/#/k8s"), FakeNamer(Ok(NEG)))], transformers=[t])
        g = interp.generation
        counter["g"] += 1
        assert interp.generation != g

    def test_a_namer_transformer_applies_to_that_namer_only(self) -> None:
        k8s = TransformedNamer(FakeNamer(Ok(Leaf(bound(A1, A2, id="/#/k8s")))),
                               [LeafTransformer("X", only_node_1)])
        other = FakeNamer(Ok(Leaf(bound(A1, A2, id="/#/fs"))))
        interp = Interpreter([(Path.read("/#/k8s"), k8s), (Path.read("/#/fs"), other)])
        dtab = Dtab.read("/a=>/#/k8s; /b=>/#/fs")
        assert interp.bind(dtab, Path.read("/a")).value.value.addr == AddrBound(frozenset({A1}))
        assert len(interp.bind(dtab, Path.read("/b")).value.value.addr.addresses) == 2

    def test_emptied_by_a_filter_does_not_fall_back(self) -> None:
        k8s = TransformedNamer(FakeNamer(Ok(Leaf(bound(A2, id="/#/k8s")))),
                               [LeafTransformer("X", only_node_1)])
        fallback = FakeNamer(Ok(Leaf(bound(A1, id="/#/fs"))))
        interp = Interpreter([(Path.read("/#/k8s"), k8s), (Path.read("/#/fs"), fallback)])
        state = interp.bind(Dtab.read("/svc=>/#/fs; /svc=>/#/k8s"), Path.read("/svc"))
        assert state.value.value.addr is ADDR_NEG  # a 502 at request time, not /#/fs
        assert state.value.value.id == Path.read("/%/t/#/k8s")
