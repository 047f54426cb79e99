"""NameTree: Finagle's algebra of names (pure).

A tree is one of :class:`Leaf`, :class:`Alt` (fallback, ``a | b``),
:class:`Union` (weighted load balancing, ``0.3 * a & 0.7 * b``), or one of the
singletons :data:`NEG` (``~``, no such name here: keep looking), :data:`FAIL`
(``!``, the name exists and must fail: stop looking) and :data:`EMPTY` (``$``,
the name exists but has no members now: stop looking).

Module-level functions carry the algorithms; the methods are one-line
delegates. Laws (tested on random trees):

* ``NameTree.read(show(t)) == t`` for trees the parser can produce (every Alt
  and Union has at least two children, leaves are paths);
* ``simplify(simplify(t)) == simplify(t)`` (simplify is a fixpoint);
* ``evaluate(simplify(t)) == evaluate(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Union as TypingUnion

DEFAULT_WEIGHT = 1.0


class _Singleton:
    __slots__ = ()
    _symbol = "?"

    def show(self) -> str:
        return self._symbol

    def __str__(self) -> str:
        return self._symbol

    def __reduce__(self) -> str:
        return self._name  # type: ignore[attr-defined]


class _Neg(_Singleton):
    __slots__ = ()
    _symbol = "~"
    _name = "NEG"

    def __repr__(self) -> str:
        return "NEG"


class _Fail(_Singleton):
    __slots__ = ()
    _symbol = "!"
    _name = "FAIL"

    def __repr__(self) -> str:
        return "FAIL"


class _Empty(_Singleton):
    __slots__ = ()
    _symbol = "$"
    _name = "EMPTY"

    def __repr__(self) -> str:
        return "EMPTY"


NEG = _Neg()
FAIL = _Fail()
EMPTY = _Empty()


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf holding a value: a :class:`dtab.path.Path` or a :class:`dtab.name.BoundName`."""

    value: Any

    def show(self) -> str:
        return show(self)

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class Weighted:
    """One branch of a :class:`Union` with its weight (default 1.0)."""

    weight: float
    tree: "NameTree"

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise ValueError(f"weight: expected a number, got {self.weight!r}")
        if not self.weight >= 0.0 or self.weight == float("inf"):
            raise ValueError(f"weight: expected a finite non-negative number, got {self.weight!r}")


@dataclass(frozen=True, slots=True)
class Alt:
    """Fallback: the first non-negative child wins."""

    trees: tuple["NameTree", ...]

    def __post_init__(self) -> None:
        if not isinstance(self.trees, tuple):
            raise ValueError("trees: expected a tuple")

    @classmethod
    def of(cls, *trees: "NameTree") -> "Alt":
        return cls(tuple(trees))

    def show(self) -> str:
        return show(self)

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, slots=True)
class Union:
    """Load-balanced union of weighted branches."""

    weighted: tuple[Weighted, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.weighted, tuple) or not all(
            isinstance(w, Weighted) for w in self.weighted
        ):
            raise ValueError("weighted: expected a tuple of Weighted")

    @classmethod
    def of(cls, *trees: "NameTree") -> "Union":
        """A union with default weights: ``Union.of(a, b)`` is ``a & b``."""
        return cls(tuple(Weighted(DEFAULT_WEIGHT, t) for t in trees))

    def show(self) -> str:
        return show(self)

    def __str__(self) -> str:
        return show(self)


NameTree = TypingUnion[Leaf, Alt, Union, _Neg, _Fail, _Empty]


def read(text: str) -> NameTree:
    """Parse a tree (grammar in :mod:`dtab._parser`); raises DtabParseError."""
    from dtab._parser import parse_tree

    return parse_tree(text)


# ----------------------------------------------------------------------------
# map

def map_tree(f: Callable[[Any], Any], tree: NameTree) -> NameTree:
    """Apply ``f`` to every leaf value, keeping the shape."""
    match tree:
        case Leaf(value):
            return Leaf(f(value))
        case Alt(trees):
            return Alt(tuple(map_tree(f, t) for t in trees))
        case Union(weighted):
            return Union(tuple(Weighted(w.weight, map_tree(f, w.tree)) for w in weighted))
        case _Neg() | _Fail() | _Empty():
            return tree
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


# ----------------------------------------------------------------------------
# simplify

def simplify(tree: NameTree) -> NameTree:
    """An evaluation-equivalent, smaller tree; a fixpoint (``simplify∘simplify = simplify``).

    Alt: Neg children are dropped, everything after a Fail is dropped, one child
    collapses to itself, none is Neg. Union: a single branch is its tree (so a
    lone Fail stays Fail, as in Finagle); otherwise Neg and Fail branches vanish
    (Empty stays), one remaining branch collapses to its tree, none is Neg.
    """
    match tree:
        case Leaf() | _Neg() | _Fail() | _Empty():
            return tree
        case Alt(trees):
            out: list[NameTree] = []
            for child in trees:
                s = simplify(child)
                if s is NEG:
                    continue
                out.append(s)
                if s is FAIL:
                    break
            if not out:
                return NEG
            if len(out) == 1:
                return out[0]
            return Alt(tuple(out))
        case Union(weighted) if len(weighted) == 1:  # Finagle: Union(Weighted(_, t)) => t
            return simplify(weighted[0].tree)
        case Union(weighted):
            kept: list[Weighted] = []
            for w in weighted:
                s = simplify(w.tree)
                if s is NEG or s is FAIL:
                    continue
                kept.append(w if s is w.tree else Weighted(w.weight, s))
            if not kept:
                return NEG
            if len(kept) == 1:
                return kept[0].tree
            return Union(tuple(kept))
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


# ----------------------------------------------------------------------------
# evaluate

def evaluate(tree: NameTree) -> frozenset | None:
    """The set of leaf values a tree selects, or ``None`` when it is negative or failed.

    Alt picks its first child that is not Neg (a Fail child stops it with None);
    Union is the union of its non-negative, non-failed children (None when all
    are); Empty is the empty set, which is not None.
    """
    result = _eval(tree)
    return None if result is None or result is FAIL else result


def _eval(tree: NameTree) -> frozenset | None | _Fail:
    match tree:
        case Leaf(value):
            return frozenset((value,))
        case _Empty():
            return frozenset()
        case _Neg():
            return None
        case _Fail():
            return FAIL
        case Alt(trees):
            for child in trees:
                r = _eval(child)
                if r is None:
                    continue
                return r
            return None
        case Union(weighted) if len(weighted) == 1:  # as its only branch (a Fail stays Fail)
            return _eval(weighted[0].tree)
        case Union(weighted):
            acc: list[frozenset] = []
            for w in weighted:
                r = _eval(w.tree)
                if r is None or r is FAIL:
                    continue
                acc.append(r)
            if not acc:
                return None
            return frozenset().union(*acc)
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


# ----------------------------------------------------------------------------
# show

def show_weight(weight: float) -> str:
    """Finagle prints weights with two decimals; exact digits when two would lose precision."""
    weight = abs(weight)  # -0.0 is a valid weight; '-0.00' would not parse
    two = f"{weight:.2f}"
    if float(two) == weight:
        return two
    # the shortest repr reads back to the same float; write it without an exponent
    return format(Decimal(repr(float(weight))), "f")


def show(tree: NameTree) -> str:
    """Concrete syntax: ``a | b``, ``a & b``, ``0.30*/a``, nested compounds in parentheses."""
    return _show(tree, top=True)


def _show_value(value: Any) -> str:
    show_fn = getattr(value, "show", None)
    if show_fn is None:
        raise AssertionError(f"leaf value cannot be shown: {value!r}")
    return show_fn()


def _show(tree: NameTree, top: bool) -> str:
    match tree:
        case Leaf(value):
            return _show_value(value)
        case _Neg() | _Fail() | _Empty():
            return tree.show()
        case Alt(trees):
            if len(trees) == 1:
                return _show(trees[0], top)
            text = " | ".join(_show(t, False) for t in trees)
            return text if top else f"({text})"
        case Union(weighted):
            if len(weighted) == 1 and weighted[0].weight == DEFAULT_WEIGHT:
                return _show(weighted[0].tree, top)
            parts = []
            for w in weighted:
                inner = _show(w.tree, False)
                parts.append(inner if w.weight == DEFAULT_WEIGHT else f"{show_weight(w.weight)}*{inner}")
            text = " & ".join(parts)
            return text if top or len(weighted) == 1 else f"({text})"
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")
