"""DelegateTree: the step-by-step trace of a delegation (pure).

This is Linkerd's ``io.buoyant.namer.DelegateTree`` and the delegation of its
``ConfiguredNamersInterpreter``: every node records the path reached and the
dentry that produced it, so the admin playground can show which rule fired at
each step. Unlike binding, every branch of an Alt is followed (to show the
fallbacks too). :meth:`to_json` gives exactly the shape of Linkerd's
``/delegator.json``; :func:`render` gives an indented text tree.

Node ``dentry`` is ``None`` for the root (Linkerd's ``Dentry.nop``, omitted in JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union as TypingUnion

from dtab.activity import PENDING, Failed, Ok, State
from dtab.dtab import Dentry, Dtab
from dtab.errors import BindDepthExceeded, BindTooLarge
from dtab.name import ADDR_NEG, ADDR_PENDING, AddrBound, AddrFailed, BoundName
from dtab.nametree import EMPTY, FAIL, NEG, Alt, Leaf, NameTree, Union, show_weight
from dtab.path import Path

_FAIL_PATH = Path.of("$", "fail")


@dataclass(frozen=True, slots=True)
class DelegateException:
    path: Path
    dentry: Dentry | None
    error: BaseException


@dataclass(frozen=True, slots=True)
class DelegateEmpty:
    path: Path
    dentry: Dentry | None


@dataclass(frozen=True, slots=True)
class DelegateFail:
    path: Path
    dentry: Dentry | None


@dataclass(frozen=True, slots=True)
class DelegateNeg:
    path: Path
    dentry: Dentry | None


@dataclass(frozen=True, slots=True)
class Delegate:
    path: Path
    dentry: Dentry | None
    tree: "DelegateTree"


@dataclass(frozen=True, slots=True)
class DelegateLeaf:
    """``value`` is a :class:`Path` (still to delegate) or a :class:`BoundName`."""

    path: Path
    dentry: Dentry | None
    value: Any


@dataclass(frozen=True, slots=True)
class DelegateWeighted:
    weight: float
    tree: "DelegateTree"


@dataclass(frozen=True, slots=True)
class DelegateAlt:
    path: Path
    dentry: Dentry | None
    trees: tuple["DelegateTree", ...]


@dataclass(frozen=True, slots=True)
class DelegateUnion:
    path: Path
    dentry: Dentry | None
    weighted: tuple[DelegateWeighted, ...]


@dataclass(frozen=True, slots=True)
class Transformation:
    """A transformer rewrote ``value`` (the bound name before) into ``tree``."""

    path: Path
    name: str
    value: BoundName
    tree: "DelegateTree"


DelegateTree = TypingUnion[
    DelegateException, DelegateEmpty, DelegateFail, DelegateNeg, Delegate,
    DelegateLeaf, DelegateAlt, DelegateUnion, Transformation,
]


# ---------------------------------------------------------------------------
# construction

def from_name_tree(path: Path, dentry: Dentry | None, tree: NameTree) -> DelegateTree:
    """A NameTree answered for ``path`` (reached through ``dentry``) as delegate nodes."""
    match tree:
        case Leaf(value):
            return DelegateLeaf(path, dentry, value)
        case Alt(trees):
            return DelegateAlt(path, dentry, tuple(from_name_tree(path, dentry, t) for t in trees))
        case Union(weighted):
            return DelegateUnion(
                path, dentry,
                tuple(DelegateWeighted(w.weight, from_name_tree(path, dentry, w.tree)) for w in weighted),
            )
        case _ if tree is EMPTY:
            return DelegateEmpty(path, dentry)
        case _ if tree is FAIL:
            return DelegateFail(path, dentry)
        case _ if tree is NEG:
            return DelegateNeg(Path(), dentry)
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


def delegate(interpreter, dtab: Dtab, path: Path) -> State:
    """Delegate ``path`` through ``dtab`` and the interpreter's namers.

    :returns: ``Ok(simplified DelegateTree)``, ``PENDING`` when a namer has not
        answered yet, or ``Failed(BindDepthExceeded)`` for a delegation loop.
    """
    from dtab.bind import MAX_STEPS, _Budget

    steps = _Budget(getattr(interpreter, "max_steps", MAX_STEPS))
    state = _dbind(interpreter, dtab, 0, DelegateLeaf(path, None, path), steps)
    if isinstance(state, Ok):
        return Ok(simplify(state.value))
    return state


def _dlookup(interpreter, dtab: Dtab, dentry: Dentry | None, path: Path) -> State:
    matches = [from_name_tree(path, d, t) for d, t in dtab.matching(path)]
    if len(matches) == 1:
        return Ok(Delegate(path, dentry, matches[0]))
    if matches:
        return Ok(DelegateAlt(path, dentry, tuple(matches)))
    state = interpreter.namer_lookup(path)
    if isinstance(state, Failed):
        return Ok(DelegateException(path, dentry, state.error))
    if not isinstance(state, Ok):
        return state
    if state.value is NEG:
        return Ok(DelegateNeg(path, dentry))
    return Ok(from_name_tree(path, dentry, state.value))


def _dbind(interpreter, dtab: Dtab, depth: int, tree: DelegateTree, steps) -> State:
    """Linkerd's ``delegateBind``; ``steps`` is the remaining lookup budget (shared)."""
    if depth > interpreter.max_depth:
        return Failed(BindDepthExceeded(interpreter.max_depth))
    match tree:
        case DelegateException() | DelegateEmpty() | DelegateFail() | DelegateNeg():
            return Ok(tree)
        case DelegateLeaf(_, dentry, Path() as target):
            steps.left -= 1
            if steps.left < 0:
                return Failed(BindTooLarge(steps.limit))
            state = _dlookup(interpreter, dtab, dentry, target)
            if not isinstance(state, Ok):
                return state
            return _dbind(interpreter, dtab, depth + 1, state.value, steps)
        case DelegateLeaf():
            return Ok(tree)
        case Delegate(p, d, child):
            state = _dbind(interpreter, dtab, depth, child, steps)
            return Ok(Delegate(p, d, state.value)) if isinstance(state, Ok) else state
        case DelegateAlt(p, d, trees):
            if not trees:
                return Ok(DelegateNeg(p, d))
            if len(trees) == 1:
                state = _dbind(interpreter, dtab, depth, trees[0], steps)
                return Ok(Delegate(p, d, state.value)) if isinstance(state, Ok) else state
            out = []
            for child in trees:
                state = _dbind(interpreter, dtab, depth, child, steps)
                if isinstance(state, Failed):
                    if isinstance(state.error, BindTooLarge):
                        return state
                    out.append(DelegateException(p, d, state.error))
                elif isinstance(state, Ok):
                    out.append(state.value)
                else:
                    return PENDING
            return Ok(DelegateAlt(p, d, tuple(out)))
        case DelegateUnion(p, d, weighted):
            if not weighted:
                return Ok(DelegateNeg(p, d))
            if len(weighted) == 1:
                state = _dbind(interpreter, dtab, depth, weighted[0].tree, steps)
                return Ok(Delegate(p, d, state.value)) if isinstance(state, Ok) else state
            branches = []
            for w in weighted:
                state = _dbind(interpreter, dtab, depth, w.tree, steps)
                if isinstance(state, Failed):
                    if isinstance(state.error, BindTooLarge):
                        return state
                    branches.append(DelegateWeighted(w.weight, DelegateException(p, d, state.error)))
                elif isinstance(state, Ok):
                    branches.append(DelegateWeighted(w.weight, state.value))
                else:
                    return PENDING
            return Ok(DelegateUnion(p, d, tuple(branches)))
        case Transformation():
            return Ok(tree)
        case _:
            raise AssertionError(f"not a DelegateTree: {tree!r}")


# ---------------------------------------------------------------------------
# simplify (Linkerd DelegateTree.simplify)

def _with_dentry(tree: DelegateTree, dentry: Dentry | None) -> DelegateTree:
    match tree:
        case Transformation():
            return tree
        case DelegateException(p, _, e):
            return DelegateException(p, dentry, e)
        case DelegateEmpty(p, _):
            return DelegateEmpty(p, dentry)
        case DelegateFail(p, _):
            return DelegateFail(p, dentry)
        case DelegateNeg(p, _):
            return DelegateNeg(p, dentry)
        case Delegate(p, _, t):
            return Delegate(p, dentry, t)
        case DelegateLeaf(p, _, v):
            return DelegateLeaf(p, dentry, v)
        case DelegateAlt(p, _, ts):
            return DelegateAlt(p, dentry, ts)
        case DelegateUnion(p, _, ws):
            return DelegateUnion(p, dentry, ws)
        case _:
            raise AssertionError(f"not a DelegateTree: {tree!r}")


def simplify(tree: DelegateTree) -> DelegateTree:
    """Collapse steps that did not change the path; flatten Alts at the same path."""
    match tree:
        case Delegate(p, d, child):
            s = simplify(child)
            if not isinstance(s, (DelegateNeg, DelegateFail, DelegateEmpty)) and s.path == p:
                return _with_dentry(s, d)
            return Delegate(p, d, s)
        case DelegateAlt(p, d, trees):
            if not trees:
                return DelegateNeg(p, d)
            if len(trees) == 1:
                return simplify(Delegate(p, d, trees[0]))
            out: list[DelegateTree] = []
            for child in trees:
                s = simplify(child)
                if isinstance(s, DelegateAlt) and s.path == p:
                    out.extend(s.trees)
                else:
                    out.append(s)
            return DelegateAlt(p, d, tuple(out))
        case DelegateUnion(p, d, weighted):
            if not weighted:
                return DelegateNeg(p, d)
            if len(weighted) == 1:
                return simplify(Delegate(p, d, weighted[0].tree))
            return DelegateUnion(p, d, tuple(DelegateWeighted(w.weight, simplify(w.tree)) for w in weighted))
        case _:
            return tree


# ---------------------------------------------------------------------------
# JSON: Linkerd's /delegator.json

def dentry_json(dentry: Dentry) -> dict:
    from dtab.nametree import show as show_tree

    return {"prefix": dentry.prefix.show(), "dst": show_tree(dentry.dst)}


def addr_json(addr) -> dict:
    """Linkerd's ``Addr`` JSON: bound (with ``addrs`` and ``meta``), neg, failed, pending."""
    if isinstance(addr, AddrBound):
        addrs = sorted(addr.addresses, key=lambda a: (a.ip, a.port))
        return {
            "type": "bound",
            "addrs": [{"ip": a.ip, "port": a.port, "meta": dict(a.meta)} for a in addrs],
            "meta": dict(addr.meta),
        }
    if addr is ADDR_NEG:
        return {"type": "neg"}
    if addr is ADDR_PENDING:
        return {"type": "pending"}
    if isinstance(addr, AddrFailed):
        return {"type": "failed", "cause": addr.cause}
    raise AssertionError(f"not an Addr: {addr!r}")


def bound_json(bound: BoundName) -> dict:
    return {"addr": addr_json(bound.addr), "id": bound.id.show(), "path": bound.residual.show()}


def _head(kind: str, path: str, dentry: Dentry | None) -> dict:
    out: dict = {"type": kind, "path": path}
    if dentry is not None:
        out["dentry"] = dentry_json(dentry)
    return out


def to_json(tree: DelegateTree) -> dict:
    """The tree as Linkerd's ``/delegator.json`` serialises it (field order included)."""
    match tree:
        case DelegateException(p, d, e):
            out = _head("exception", p.show(), d)
            out["message"] = str(e)
            return out
        case DelegateEmpty(p, d):
            return _head("empty", p.show(), d)
        case DelegateFail(p, d):
            return _head("fail", p.show() if p.startswith(_FAIL_PATH) else "!", d)
        case DelegateNeg(p, d):
            return _head("neg", p.show() if p.elems else "~", d)
        case Delegate(p, d, child):
            out = _head("delegate", p.show(), d)
            out["delegate"] = to_json(child)
            return out
        case DelegateLeaf(p, d, value):
            out = _head("leaf", p.show(), d)
            if isinstance(value, BoundName):
                out["bound"] = bound_json(value)
            else:
                out["bound"] = {"addr": {"type": "neg"}, "id": value.show(), "path": "/"}
            return out
        case DelegateAlt(p, d, trees):
            out = _head("alt", p.show(), d)
            out["alt"] = [to_json(t) for t in trees]
            return out
        case DelegateUnion(p, d, weighted):
            out = _head("union", p.show(), d)
            out["union"] = [{"weight": w.weight, "tree": to_json(w.tree)} for w in weighted]
            return out
        case Transformation(p, name, value, child):
            return {"type": "transformation", "path": p.show(), "name": name,
                    "bound": bound_json(value), "tree": to_json(child)}
        case _:
            raise AssertionError(f"not a DelegateTree: {tree!r}")


# ---------------------------------------------------------------------------
# text

def _addr_text(addr) -> str:
    if isinstance(addr, AddrBound):
        addrs = sorted(addr.addresses, key=lambda a: (a.ip, a.port))
        return "[" + ", ".join(a.show() for a in addrs) + "]"
    if addr is ADDR_NEG:
        return "(neg)"
    if addr is ADDR_PENDING:
        return "(pending)"
    if isinstance(addr, AddrFailed):
        return f"(failed: {addr.cause})"
    return "?"


def render(tree: DelegateTree) -> str:
    """An indented text tree; each line is ``path  (dentry)`` and what happened there."""
    lines: list[str] = []
    _render(tree, 0, lines, "")
    return "\n".join(lines) + "\n"


def _via(dentry: Dentry | None) -> str:
    return f"  ({dentry.show()})" if dentry is not None else ""


def _render(tree: DelegateTree, indent: int, lines: list[str], tag: str) -> None:
    pad = "  " * indent + tag
    match tree:
        case DelegateException(p, d, e):
            lines.append(f"{pad}{p.show()}{_via(d)}  error: {e}")
        case DelegateEmpty(p, d):
            lines.append(f"{pad}{p.show()}{_via(d)}  empty ($)")
        case DelegateFail(p, d):
            lines.append(f"{pad}{p.show() if p.startswith(_FAIL_PATH) else '!'}{_via(d)}  fail (!)")
        case DelegateNeg(p, d):
            lines.append(f"{pad}{p.show() if p.elems else '~'}{_via(d)}  neg (~)")
        case Delegate(p, d, child):
            lines.append(f"{pad}{p.show()}{_via(d)}")
            _render(child, indent + 1, lines, "")
        case DelegateLeaf(p, d, value):
            if isinstance(value, BoundName):
                lines.append(
                    f"{pad}{p.show()}{_via(d)}  => bound {value.id.show()}"
                    f" residual {value.residual.show()} {_addr_text(value.addr)}"
                )
            else:
                lines.append(f"{pad}{p.show()}{_via(d)}  => {value.show()}")
        case DelegateAlt(p, d, trees):
            lines.append(f"{pad}{p.show()}{_via(d)}  alt (first non-neg wins):")
            for i, child in enumerate(trees):
                _render(child, indent + 1, lines, f"{i + 1}. ")
        case DelegateUnion(p, d, weighted):
            lines.append(f"{pad}{p.show()}{_via(d)}  union:")
            for w in weighted:
                _render(w.tree, indent + 1, lines, f"{show_weight(w.weight)}* ")
        case Transformation(p, name, value, child):
            lines.append(f"{pad}{p.show()}  transformed by {name} from {value.id.show()}")
            _render(child, indent + 1, lines, "")
        case _:
            raise AssertionError(f"not a DelegateTree: {tree!r}")
