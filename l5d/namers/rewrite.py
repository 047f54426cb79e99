"""``io.l5d.rewrite``: a namer that rewrites one path into another (pure).

Linkerd's ``RewritingNamer``: the path after the namer's prefix is matched
against a :mod:`~l5d.router.pathmatch` pattern; on a match the answer is the
path ``name`` with the pattern's captures substituted, which the interpreter
binds on through the dtab (a ``Leaf`` of a path, not a bound name). No match
is ``NEG``, so the next dentry or namer gets its turn. Nothing is watched:
the answers never change, so ``generation`` stays 0.
"""

from __future__ import annotations

from dtab import NEG, DtabParseError, Leaf, Ok, Path
from dtab.activity import Failed, State
from l5d.router import pathmatch

__all__ = ["RewriteNamer"]


class RewriteNamer:
    """:param pattern: e.g. ``/{ns}/http/{service}``. :param name: e.g. ``/svc/{service}``."""

    generation = 0

    def __init__(self, pattern: str, name: str) -> None:
        self._matcher = pathmatch.compile(pattern)
        self._name = name

    def lookup(self, path: Path) -> State:
        captures = self._matcher.match(path)
        if captures is None:
            return Ok(NEG)
        try:
            return Ok(Leaf(Path.read(pathmatch.substitute(captures, self._name))))
        except DtabParseError as err:  # a capture that is not a label (e.g. holds '/')
            return Failed(err)

    def __repr__(self) -> str:
        return f"RewriteNamer({self._matcher.show()!r}, {self._name!r})"
