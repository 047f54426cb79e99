"""The ``l5d dtab bind`` JSON report of a bound tree (pure).

Shape::

    {"result": "bound" | "neg" | "fail" | "empty",
     "tree": TREE,
     "addrs": [{"id": "/$/inet/127.0.0.1/8080", "residual": "/x", "weight": 1.0,
                "addr": "127.0.0.1:8080"}]}

``TREE`` nodes are ``{"type": "leaf", "id", "residual"}``,
``{"type": "alt", "trees": [...]}``, ``{"type": "union", "weighted": [{"weight",
"tree"}]}``, ``{"type": "neg"}``, ``{"type": "fail"}``, ``{"type": "empty"}``.
``addrs`` has one entry per address of every bound name the tree selects, with
the weight of the innermost union branch holding it (1.0 outside unions); a
bound name whose address set is empty, negative, pending or failed appears once
with ``"addr": null`` and ``"state"`` saying which. It is empty unless
``result`` is ``bound``.
"""

from __future__ import annotations

from dtab.name import ADDR_NEG, ADDR_PENDING, AddrBound, BoundName
from dtab.nametree import DEFAULT_WEIGHT, EMPTY, FAIL, NEG, Alt, Leaf, NameTree, Union


def tree_json(tree: NameTree) -> dict:
    """A bound (or unbound) tree as plain JSON values."""
    match tree:
        case Leaf(BoundName() as b):
            return {"type": "leaf", "id": b.id.show(), "residual": b.residual.show()}
        case Leaf(value):
            return {"type": "leaf", "id": value.show(), "residual": "/"}
        case Alt(trees):
            return {"type": "alt", "trees": [tree_json(t) for t in trees]}
        case Union(weighted):
            return {"type": "union",
                    "weighted": [{"weight": w.weight, "tree": tree_json(w.tree)} for w in weighted]}
        case _ if tree is NEG:
            return {"type": "neg"}
        case _ if tree is FAIL:
            return {"type": "fail"}
        case _ if tree is EMPTY:
            return {"type": "empty"}
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


def result_kind(tree: NameTree) -> str:
    """``bound`` when evaluation selects at least one bound name; a union of
    nothing but ``$`` is ``empty``, as ``$`` itself is."""
    if tree is NEG:
        return "neg"
    if tree is FAIL:
        return "fail"
    if tree is EMPTY or not selected(tree):
        return "empty"
    return "bound"


def selected(tree: NameTree, weight: float = DEFAULT_WEIGHT) -> list[tuple[BoundName, float]]:
    """Bound names evaluation selects, each with its innermost union weight."""
    match tree:
        case Leaf(BoundName() as b):
            return [(b, weight)]
        case Leaf():
            return []
        case Alt(trees):
            for t in trees:  # first non-negative branch, as evaluation does
                if t is NEG:
                    continue
                if t is FAIL:
                    return []
                return selected(t, weight)
            return []
        case Union(weighted):
            out: list[tuple[BoundName, float]] = []
            for w in weighted:
                out.extend(selected(w.tree, w.weight))
            return out
        case _:
            return []


def _addr_state(addr) -> str:
    if isinstance(addr, AddrBound):
        return "bound"
    if addr is ADDR_NEG:
        return "neg"
    if addr is ADDR_PENDING:
        return "pending"
    return "failed"


def bind_report(tree: NameTree) -> dict:
    """The report for a successfully bound tree (see the module docstring)."""
    kind = result_kind(tree)
    addrs: list[dict] = []
    if kind == "bound":
        for bound, weight in selected(tree):
            base = {"id": bound.id.show(), "residual": bound.residual.show(), "weight": weight}
            if isinstance(bound.addr, AddrBound) and bound.addr.addresses:
                for a in sorted(bound.addr.addresses, key=lambda a: (a.ip, a.port)):
                    addrs.append({**base, "addr": a.show()})
            else:
                addrs.append({**base, "addr": None, "state": _addr_state(bound.addr)})
    return {"result": kind, "tree": tree_json(tree), "addrs": addrs}
