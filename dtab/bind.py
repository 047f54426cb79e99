"""Binding names: Finagle's ``Namer.bind`` and Linkerd's default interpreter (pure).

:func:`bind` evaluates a tree of paths into a tree of :class:`BoundName` leaves:

* ``Leaf(path)``: look the path up and bind the answer (depth + 1);
* ``Leaf(bound)``, ``NEG``, ``FAIL``, ``EMPTY``: themselves, except that a bound
  name inside a union gets the weight of its innermost branch in its address
  set's metadata (``ADDR_WEIGHT_KEY``), as Finagle does;
* ``Alt``: bind children in order; ``NEG`` falls through to the next, ``FAIL``
  stops with ``FAIL``, anything else (including ``EMPTY``) is the answer. A
  pending or failed child makes the whole Alt pending or failed;
* ``Union``: no branch is ``NEG``; one branch is that branch;
  otherwise bind every branch; if any is Ok the union is Ok (Neg and Fail
  branches vanish, pending or failed siblings are ignored); otherwise the first
  failure, otherwise pending.

The result holds no Alt. Deeper than ``max_depth`` lookups (a dtab loop) is
``Failed(BindDepthExceeded)``.

:class:`Interpreter` is Linkerd's ``ConfiguredNamersInterpreter``: a path is
looked up in the dtab; only when that is ``NEG`` the configured namers whose
prefix starts the path are asked in order (a ``NEG`` answer tries the next);
then Finagle's global ``/$/`` namer.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

from dtab.activity import PENDING, Failed, Ok, State
from dtab.dtab import Dtab
from dtab.errors import BindDepthExceeded, BindTooLarge
from dtab.name import AddrBound, BoundName
from dtab.nametree import NEG, FAIL, EMPTY, Alt, Leaf, NameTree, Union, Weighted, simplify
from dtab.namers import global_lookup
from dtab.path import Path
from dtab.transform import transform_all

MAX_DEPTH = 100
#: Key under which a bound name's union weight is put in its address set's metadata
#: (Finagle's ``Namer.AddrWeightKey``).
ADDR_WEIGHT_KEY = "namer_nametree_weight"
#: Namer lookups one binding may make (see :class:`BindTooLarge`).
MAX_STEPS = 10_000

Lookup = Callable[[Path], State]


@runtime_checkable
class Namer(Protocol):
    """What a configured namer (``/#/<prefix>``) offers the interpreter.

    ``lookup`` receives the path **after** the namer's prefix and answers with a
    snapshot: ``Ok(tree)``, ``PENDING`` or ``Failed(error)``. ``generation``
    changes whenever any answer may have changed, so cached bindings are redone.
    """

    generation: int

    def lookup(self, path: Path) -> State: ...


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit


def bind(lookup: Lookup, tree: NameTree, max_depth: int = MAX_DEPTH, max_steps: int = MAX_STEPS) -> State:
    """Bind ``tree`` through ``lookup``; see the module docstring for the rules.

    More than ``max_steps`` lookups in all is ``Failed(BindTooLarge)``.
    """
    return _bind(lookup, tree, 0, max_depth, _Budget(max_steps), None)


def _safe_lookup(lookup: Lookup, path: Path) -> State:
    try:
        return lookup(path)
    except Exception as e:  # a namer's bug fails this name, not the router
        return Failed(e)


def _weighted(bound: BoundName, weight: float) -> BoundName:
    addr = bound.addr
    if not isinstance(addr, AddrBound):
        return bound
    meta = tuple(kv for kv in addr.meta if kv[0] != ADDR_WEIGHT_KEY) + ((ADDR_WEIGHT_KEY, weight),)
    return BoundName(bound.id, bound.residual, AddrBound(addr.addresses, meta))


def _bind(
    lookup: Lookup, tree: NameTree, depth: int, max_depth: int, budget: _Budget,
    weight: float | None,
) -> State:
    if depth > max_depth:
        return Failed(BindDepthExceeded(max_depth))
    match tree:
        case Leaf(Path() as path):
            budget.left -= 1
            if budget.left < 0:
                return Failed(BindTooLarge(budget.limit))
            state = _safe_lookup(lookup, path)
            if isinstance(state, Ok):
                return _bind(lookup, state.value, depth + 1, max_depth, budget, weight)
            return state
        case Leaf(BoundName() as bound) if weight is not None:
            return Ok(Leaf(_weighted(bound, weight)))
        case Leaf():
            return Ok(tree)
        case _ if tree is NEG or tree is FAIL or tree is EMPTY:
            return Ok(tree)
        case Alt(trees):
            for child in trees:
                state = _bind(lookup, child, depth, max_depth, budget, weight)
                if not isinstance(state, Ok):
                    return state
                if state.value is NEG:
                    continue
                return state
            return Ok(NEG)
        case Union(weighted):
            if not weighted:
                return Ok(NEG)
            if len(weighted) == 1:
                w = weighted[0]
                return _bind(lookup, w.tree, depth, max_depth, budget, w.weight)
            oks: list[Weighted] = []
            failed: Failed | None = None
            for w in weighted:
                state = _bind(lookup, w.tree, depth, max_depth, budget, w.weight)
                if isinstance(state, Ok):
                    oks.append(Weighted(w.weight, state.value))
                elif isinstance(state, Failed):
                    if isinstance(state.error, BindTooLarge):
                        return state  # a blown budget fails the whole binding
                    if failed is None:
                        failed = state
            if oks:
                return Ok(simplify(Union(tuple(oks))))
            return failed if failed is not None else PENDING
        case _:
            raise AssertionError(f"not a NameTree: {tree!r}")


class Interpreter:
    """The ``default`` interpreter: dtab, then configured namers, then ``/$/``.

    :param namers: ``(prefix, namer)`` pairs in preference order; a prefix is a
        path such as ``/#/io.l5d.fs``.
    :param transformers: applied in order to every bound tree (a router's
        ``interpreter.transformers``; :mod:`dtab.transform`).
    :param max_depth: the delegation depth limit (Finagle: 100).

    Stateless apart from the namers and transformers it holds; safe to share.
    """

    def __init__(
        self,
        namers: Sequence[tuple[Path, Namer]] = (),
        max_depth: int = MAX_DEPTH,
        max_steps: int = MAX_STEPS,
        transformers: Sequence = (),
    ) -> None:
        self.namers: tuple[tuple[Path, Namer], ...] = tuple(namers)
        self.transformers = tuple(transformers)
        self.max_depth = max_depth
        self.max_steps = max_steps

    @property
    def generation(self) -> tuple:
        """The namers' (and transformers') generations; a different value means bindings
        may be stale."""
        namers = self.namers
        if self.transformers:
            return tuple([getattr(n, "generation", 0) for _, n in namers]
                         + [t.generation for t in self.transformers])
        if not namers:
            return ()
        if len(namers) == 1:
            return (getattr(namers[0][1], "generation", 0),)
        return tuple([getattr(n, "generation", 0) for _, n in namers])

    def namer_lookup(self, path: Path) -> State:
        """Ask the configured namers (first match whose answer is not NEG), then ``/$/``."""
        for prefix, namer in self.namers:
            if path.startswith(prefix):
                state = _safe_lookup(namer.lookup, path.drop(len(prefix)))
                if isinstance(state, Ok) and state.value is NEG:
                    continue
                return state
        return global_lookup(path)

    def lookup(self, dtab: Dtab, path: Path) -> State:
        """One step: the dtab's answer, or the namers' when the dtab has none."""
        tree = dtab.lookup(path)
        if tree is not NEG:
            return Ok(tree)
        return self.namer_lookup(path)

    def bind(self, dtab: Dtab, path: Path) -> State:
        """Bind ``path`` with ``dtab``: ``Ok(bound tree)``, ``PENDING`` or ``Failed``; the
        transformers are applied to the bound tree."""
        state = bind(lambda p: self.lookup(dtab, p), Leaf(path), self.max_depth, self.max_steps)
        if self.transformers:
            return transform_all(self.transformers, state)
        return state

    def delegate(self, dtab: Dtab, path: Path) -> State:
        """The step-by-step :class:`dtab.delegate.DelegateTree` of binding ``path``, with a
        ``transformation`` node for every bound name a transformer rewrote."""
        from dtab.delegate import delegate

        state = delegate(self, dtab, path)
        if self.transformers:
            return transform_all(self.transformers, state, delegating=True)
        return state
