"""Prefix, Dentry and Dtab: Finagle's delegation tables (pure).

A :class:`Dtab` is an ordered list of dentries ``prefix => tree``. Looking up a
path scans the dentries from the **last** to the first; every dentry whose
prefix matches contributes its tree with each leaf extended by the rest of the
path. No match is :data:`NEG`, one match is that tree, several are an
:class:`Alt` with the last dentry first, so later dentries win and earlier ones
stay as fallbacks (Finagle ``DtabBase.lookup``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union as TypingUnion

from dtab.nametree import NEG, Alt, Leaf, NameTree, map_tree, show as show_tree
from dtab.path import Path, show_label


class _AnyElem:
    """The ``*`` prefix element: matches exactly one path element."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


ANY = _AnyElem()

PrefixElem = TypingUnion[str, _AnyElem]


@dataclass(frozen=True, slots=True)
class Prefix:
    """A dentry prefix: labels and ``*`` wildcards. ``Prefix(())`` (``/``) matches every path."""

    elems: tuple[PrefixElem, ...] = ()
    _literal: bool = field(default=True, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.elems, tuple):
            raise ValueError("elems: expected a tuple")
        for e in self.elems:
            if e is not ANY and (not isinstance(e, str) or not e):
                raise ValueError(f"elems: expected non-empty labels or ANY, got {e!r}")
        # without wildcards, matching is one tuple comparison
        object.__setattr__(self, "_literal", all(e is not ANY for e in self.elems))

    @classmethod
    def read(cls, text: str) -> "Prefix":
        from dtab._parser import parse_prefix

        return parse_prefix(text)

    @classmethod
    def of_path(cls, path: Path) -> "Prefix":
        return cls(path.elems)

    def matches(self, path: Path) -> bool:
        elems = self.elems
        if len(elems) > len(path.elems):
            return False
        if self._literal:
            return path.elems[:len(elems)] == elems
        for want, got in zip(elems, path.elems):
            if want is not ANY and want != got:
                return False
        return True

    def __len__(self) -> int:
        return len(self.elems)

    def show(self) -> str:
        if not self.elems:
            return "/"
        return "/" + "/".join("*" if e is ANY else show_label(e) for e in self.elems)

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"Prefix.read({self.show()!r})"


@dataclass(frozen=True, slots=True)
class Dentry:
    """One delegation rule ``prefix => dst``."""

    prefix: Prefix
    dst: NameTree

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, Prefix):
            raise ValueError(f"prefix: expected a Prefix, got {self.prefix!r}")

    @classmethod
    def read(cls, text: str) -> "Dentry":
        from dtab._parser import parse_dentry

        return parse_dentry(text)

    def show(self) -> str:
        return f"{self.prefix.show()}=>{show_tree(self.dst)}"

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"Dentry.read({self.show()!r})"


@dataclass(frozen=True, slots=True)
class Dtab:
    """An ordered, immutable list of dentries. ``a + b`` appends ``b`` after ``a``."""

    dentries: tuple[Dentry, ...] = ()
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.dentries, tuple) or not all(
            isinstance(d, Dentry) for d in self.dentries
        ):
            raise ValueError("dentries: expected a tuple of Dentry")
        # dtabs are cache keys on the request path: hash the tree once
        object.__setattr__(self, "_hash", hash(self.dentries))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def read(cls, text: str) -> "Dtab":
        """Parse ``dentry (';' dentry)*``; an empty string is the empty dtab.

        Grammar (EBNF, see :mod:`dtab._parser` for the whole of it)::

            dtab   ::= [ dentry { ';' dentry } [ ';' ] ]
            dentry ::= prefix '=>' tree

        :raises dtab.errors.DtabParseError: with the position and what was expected.
        """
        from dtab._parser import parse_dtab

        return parse_dtab(text)

    def show(self) -> str:
        return ";".join(d.show() for d in self.dentries)

    def show_lines(self) -> str:
        """One dentry per line, each ending in ``;`` (still a valid dtab)."""
        return "".join(f"{d.show()};\n" for d in self.dentries)

    def __add__(self, other: "Dtab") -> "Dtab":
        if not isinstance(other, Dtab):
            return NotImplemented
        if not other.dentries:
            return self
        if not self.dentries:
            return other
        return Dtab(self.dentries + other.dentries)

    def __len__(self) -> int:
        return len(self.dentries)

    def __iter__(self) -> Iterator[Dentry]:
        return iter(self.dentries)

    def __bool__(self) -> bool:
        return bool(self.dentries)

    def matching(self, path: Path) -> list[tuple[Dentry, NameTree]]:
        """Every matching dentry, last first, with its tree rewritten for ``path``."""
        out = []
        for dentry in reversed(self.dentries):
            if dentry.prefix.matches(path):
                suffix = path.drop(len(dentry.prefix))
                out.append((dentry, _extend(dentry.dst, suffix)))
        return out

    def lookup(self, path: Path) -> NameTree:
        """``NEG`` for no match, the one tree for one, ``Alt`` (last dentry first) for several."""
        matches = self.matching(path)
        if not matches:
            return NEG
        if len(matches) == 1:
            return matches[0][1]
        return Alt(tuple(t for _, t in matches))

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"Dtab.read({self.show()!r})"


EMPTY_DTAB = Dtab()


def _extend(tree: NameTree, suffix: Path) -> NameTree:
    if not suffix.elems:
        return tree
    if isinstance(tree, Leaf):  # the common case, without the generic walk
        return Leaf(tree.value + suffix)
    return map_tree(lambda p: p + suffix, tree)
