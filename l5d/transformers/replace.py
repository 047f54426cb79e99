"""``io.l5d.replace`` and ``io.l5d.const``: route somewhere else than what was bound (pure).

Both bind a configured path with the router's namers and an empty dtab (Linkerd
binds it with the global interpreter). ``replace`` puts that binding in place of
every bound leaf, so Neg, Fail and Empty stay what they were: a namer can vouch that
a name exists while the traffic goes elsewhere. ``const`` answers that binding
whatever the tree was, even Neg. The replacement's ids get the transformer's prefix.
"""

from __future__ import annotations

from typing import Any, Callable

from dtab import (
    Alt, BoundName, DelegateTree, Leaf, NameTree, Ok, Path, State, Union, Weighted, map_tree,
)
from dtab.transform import LeafTransformer

__all__ = ["const", "replace"]


def _prefixed(state: State, prefix: Path, path: Path) -> State:
    if not isinstance(state, Ok):
        return state
    return Ok(map_tree(lambda b: BoundName(prefix + path, b.residual, b.addr)
                       if isinstance(b, BoundName) else b, state.value))


class _Replace:
    """Every bound leaf replaced by the binding of ``path`` (a tree, possibly a union)."""

    def __init__(self, name: str, prefix: Path, path: Path, bind: Callable[[Path], State],
                 generation: Callable[[], Any], whole: bool) -> None:
        self.name = name
        self._prefix = prefix
        self._path = path
        self._bind = bind
        self._generation = generation
        self._whole = whole

    @property
    def generation(self) -> Any:
        return self._generation()

    def _replacement(self) -> State:
        return _prefixed(self._bind(self._path), self._prefix, self._path)

    def transform(self, tree: NameTree) -> State:
        replacement = self._replacement()
        if self._whole or not isinstance(replacement, Ok):
            return replacement
        return Ok(_replace_leaves(tree, replacement.value))

    def delegate(self, tree: DelegateTree) -> State:
        replacement = self._replacement()
        if not isinstance(replacement, Ok):
            return replacement
        value = replacement.value
        if isinstance(value, Leaf) and isinstance(value.value, BoundName):
            new = value.value
            return LeafTransformer(self.name, lambda _: new).delegate(tree)
        return Ok(tree)  # a replacement that is not one bound name is not drawn


def _replace_leaves(tree: NameTree, replacement: NameTree) -> NameTree:
    match tree:
        case Leaf():
            return replacement
        case Alt(trees):
            return Alt(tuple(_replace_leaves(t, replacement) for t in trees))
        case Union(weighted):
            return Union(tuple(Weighted(w.weight, _replace_leaves(w.tree, replacement))
                               for w in weighted))
        case _:
            return tree  # Neg, Fail and Empty stay


def replace(prefix: Path, path: Path, bind: Callable[[Path], State],
            generation: Callable[[], Any]) -> _Replace:
    return _Replace("ReplaceTransformer", prefix, path, bind, generation, whole=False)


def const(prefix: Path, path: Path, bind: Callable[[Path], State],
          generation: Callable[[], Any]) -> _Replace:
    return _Replace("ConstTransformer", prefix, path, bind, generation, whole=True)
