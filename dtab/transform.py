"""Transformers: post-processing of bound trees (Linkerd's ``NameTreeTransformer``), pure.

A transformer rewrites every bound name of a bound tree, after the interpreter (a
router's ``interpreter.transformers``) or after one namer (a namer's
``transformers``). Each rewritten id gets the transformer's prefix (``/%/...``), so
clients, stats and ``l5d-dst-client`` name the transformed destination, as in Linkerd.

The building blocks, all from Linkerd's ``io.buoyant.namer`` and ``transformer``:

* :func:`filter_bound`: keep the addresses a predicate accepts. A set emptied by the
  filter becomes ``ADDR_NEG`` *inside a bound leaf*: the binding succeeded, so there
  is no dtab fallback and the request fails with a 502 (``FilteringNameTreeTransformer``);
* :func:`gateway_bound`: replace each address by the gateways that match it (the
  l5d pods on the same /24, or with the same ``nodeName``); none is ``ADDR_NEG``
  (``GatewayTransformer``);
* :func:`port_bound`: every address on another port (``PortTransformer``).

:class:`LeafTransformer` applies a per-bound-name function to a tree and to a
``DelegateTree`` (each bound leaf becomes a :class:`~dtab.delegate.Transformation`
node, as Linkerd's ``transformDelegate``). :class:`TransformedNamer` applies
transformers to one namer's answers. A transformer whose inputs are not known yet
(a watch not synced) answers ``PENDING``; ``generation`` changes when its answers may.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from dtab.activity import PENDING, Ok, State
from dtab.delegate import (
    Delegate, DelegateAlt, DelegateLeaf, DelegateTree, DelegateUnion, DelegateWeighted,
    Transformation,
)
from dtab.name import ADDR_NEG, Address, AddrBound, BoundName
from dtab.nametree import EMPTY, FAIL, NEG, Alt, Leaf, NameTree, Union, Weighted
from dtab.path import Path

__all__ = ["LeafTransformer", "TransformedNamer", "Transformer", "filter_bound",
           "gateway_bound", "port_bound", "same_subnet", "transform_all"]


@runtime_checkable
class Transformer(Protocol):
    """What the interpreter needs of a transformer."""

    name: str  # shown in /delegator.json ``transformation`` nodes
    generation: Any

    def transform(self, tree: NameTree) -> State: ...

    def delegate(self, tree: DelegateTree) -> State: ...


def _new_id(prefix: Path, bound: BoundName) -> Path:
    return prefix + bound.id


def filter_bound(bound: BoundName, prefix: Path, keep: Callable[[Address], bool]) -> BoundName:
    """Only the addresses ``keep`` accepts, under ``prefix ++ id``; none left is ``ADDR_NEG``."""
    addr = bound.addr
    if isinstance(addr, AddrBound):
        kept = frozenset(a for a in addr.addresses if keep(a))
        addr = AddrBound(kept, addr.meta) if kept else ADDR_NEG
    return BoundName(_new_id(prefix, bound), bound.residual, addr)


def gateway_bound(bound: BoundName, prefix: Path, gateways: frozenset[Address],
                  match: Callable[[Address, Address], bool]) -> BoundName:
    """Each address replaced by the gateways that ``match`` it; none at all is ``ADDR_NEG``."""
    addr = bound.addr
    if isinstance(addr, AddrBound):
        chosen = frozenset(g for a in addr.addresses for g in gateways if match(a, g))
        addr = AddrBound(chosen, addr.meta) if chosen else ADDR_NEG
    return BoundName(_new_id(prefix, bound), bound.residual, addr)


def port_bound(bound: BoundName, prefix: Path, port: int) -> BoundName:
    """Every address on ``port`` (metadata kept)."""
    addr = bound.addr
    if isinstance(addr, AddrBound):
        addr = AddrBound(frozenset(Address(a.host, port, a.meta) for a in addr.addresses),
                         addr.meta)
    return BoundName(_new_id(prefix, bound), bound.residual, addr)


def same_subnet(a: str, b: str, prefix_len: int) -> bool:
    """Whether two IP literals share their first ``prefix_len`` bits (a netmask); a host name
    or a mix of IPv4 and IPv6 never does (Linkerd's ``Netmask.local``)."""
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if x.version != y.version:
        return False
    shift = x.max_prefixlen - prefix_len
    return int(x) >> shift == int(y) >> shift


class LeafTransformer:
    """A transformer that maps each bound name on its own.

    :param name: the ``transformation`` node name (Linkerd's class name).
    :param map_bound: ``BoundName -> BoundName``, or ``None`` when it cannot answer yet.
    """

    def __init__(self, name: str, map_bound: Callable[[BoundName], BoundName | None],
                 generation: Callable[[], Any] = lambda: 0) -> None:
        self.name = name
        self._map = map_bound
        self._generation = generation

    @property
    def generation(self) -> Any:
        return self._generation()

    def transform(self, tree: NameTree) -> State:
        out = _map_tree(tree, self._map)
        return PENDING if out is None else Ok(out)

    def delegate(self, tree: DelegateTree) -> State:
        out = _map_delegate(tree, self._map, self.name)
        return PENDING if out is None else Ok(out)


def _map_tree(tree: NameTree, f: Callable[[BoundName], BoundName | None]) -> NameTree | None:
    match tree:
        case Leaf(BoundName() as bound):
            new = f(bound)
            return None if new is None else Leaf(new)
        case Leaf():
            return tree
        case Alt(trees):
            mapped = [_map_tree(t, f) for t in trees]
            return None if any(m is None for m in mapped) else Alt(tuple(mapped))  # type: ignore
        case Union(weighted):
            branches = [(w.weight, _map_tree(w.tree, f)) for w in weighted]
            if any(t is None for _, t in branches):
                return None
            return Union(tuple(Weighted(w, t) for w, t in branches))  # type: ignore[arg-type]
        case _ if tree is NEG or tree is FAIL or tree is EMPTY:
            return tree
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


def _map_delegate(tree: DelegateTree, f: Callable[[BoundName], BoundName | None],
                  name: str) -> DelegateTree | None:
    match tree:
        case DelegateLeaf(path, dentry, BoundName() as bound):
            new = f(bound)
            if new is None:
                return None
            return Transformation(path, name, bound, DelegateLeaf(new.id, dentry, new))
        case Delegate(path, dentry, child):
            mapped = _map_delegate(child, f, name)
            return None if mapped is None else Delegate(path, dentry, mapped)
        case DelegateAlt(path, dentry, trees):
            mapped = [_map_delegate(t, f, name) for t in trees]
            if any(m is None for m in mapped):
                return None
            return DelegateAlt(path, dentry, tuple(mapped))  # type: ignore[arg-type]
        case DelegateUnion(path, dentry, weighted):
            branches = [(w.weight, _map_delegate(w.tree, f, name)) for w in weighted]
            if any(t is None for _, t in branches):
                return None
            return DelegateUnion(path, dentry, tuple(
                DelegateWeighted(w, t) for w, t in branches))  # type: ignore[arg-type]
        case Transformation(path, tname, value, child):
            mapped = _map_delegate(child, f, name)
            return None if mapped is None else Transformation(path, tname, value, mapped)
        case _:
            return tree  # neg, fail, empty, exception and unbound leaves are left alone


def transform_all(transformers: Sequence[Transformer], state: State, delegating: bool = False
                  ) -> State:
    """Apply ``transformers`` in order to an ``Ok`` tree (a NameTree, or a DelegateTree when
    ``delegating``); anything else goes through unchanged."""
    for transformer in transformers:
        if not isinstance(state, Ok):
            return state
        state = (transformer.delegate if delegating else transformer.transform)(state.value)
    return state


def _fully_bound(tree: NameTree) -> bool:
    match tree:
        case Leaf(value):
            return isinstance(value, BoundName)
        case Alt(trees):
            return all(_fully_bound(t) for t in trees)
        case Union(weighted):
            return all(_fully_bound(w.tree) for w in weighted)
        case _:
            return True


class TransformedNamer:
    """A namer whose bound answers go through ``transformers`` (a namer's ``transformers``);
    answers that still hold paths to delegate are left as they are (Linkerd's ``wrap``)."""

    def __init__(self, namer: Any, transformers: Sequence[Transformer]) -> None:
        self.namer = namer
        self.transformers = tuple(transformers)

    @property
    def generation(self) -> Any:
        return (getattr(self.namer, "generation", 0),) + tuple(
            t.generation for t in self.transformers)

    def lookup(self, path: Path) -> State:
        state = self.namer.lookup(path)
        if isinstance(state, Ok) and _fully_bound(state.value):
            return transform_all(self.transformers, state)
        return state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.namer, name)  # start, stop, admin state of the wrapped namer
