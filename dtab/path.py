"""Path: an immutable sequence of labels, Finagle's ``com.twitter.finagle.Path`` (pure).

Concrete syntax (``Path.read`` / ``Path.show``)::

    path  ::= '/' | ('/' label)+
    label ::= (labelchar | '\\x' hex hex)+
    labelchar ::= [0-9A-Za-z_:.#$%-]

Labels are byte strings in Finagle. Here a label is a ``str``; a byte that is not
valid UTF-8 is kept with ``surrogateescape`` so every byte sequence round-trips;
a ``str`` label that no byte sequence reads back as (a lone surrogate, or escaped
bytes that form valid UTF-8) is rejected, so the law below holds for every Path.
A label made only of label characters is shown as-is; any other label is shown
entirely as ``\\xHH`` escapes of its UTF-8 bytes, as Finagle does.

Laws: ``Path.read(p.show()) == p`` for every path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

LABEL_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_:.#$%-")


def is_showable(label: str) -> bool:
    """True when ``label`` can be printed without escapes."""
    return bool(label) and all(c in LABEL_CHARS for c in label)


def show_label(label: str) -> str:
    """One label in concrete syntax."""
    if is_showable(label):
        return label
    return "".join(f"\\x{b:02x}" for b in label.encode("utf-8", "surrogateescape"))


def _is_canonical(label: str) -> bool:
    """True when ``label`` is what reading its bytes back gives (no stray surrogates)."""
    try:
        return label.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape") == label
    except UnicodeEncodeError:
        return False


@dataclass(frozen=True, slots=True)
class Path:
    """A sequence of non-empty labels. ``Path()`` is the empty path ``/``."""

    elems: tuple[str, ...] = ()
    _shown: str | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.elems, tuple):
            raise ValueError(f"elems: expected a tuple, got {type(self.elems).__name__}")
        for elem in self.elems:
            if not isinstance(elem, str) or not elem:
                raise ValueError(f"elems: labels must be non-empty strings, got {elem!r}")
            if not elem.isascii() and not _is_canonical(elem):
                raise ValueError(f"elems: label is not a byte string read back as itself: {elem!r}")
        # paths are dictionary keys on the request path (bindings, clients, stats): hash once
        object.__setattr__(self, "_hash", hash(self.elems))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, *elems: str) -> "Path":
        """``Path.of("svc", "hello")`` is ``/svc/hello``."""
        return cls(tuple(elems))

    @classmethod
    def read(cls, text: str) -> "Path":
        """Parse concrete syntax; raises :class:`dtab.errors.DtabParseError`."""
        from dtab._parser import parse_path

        return parse_path(text)

    def show(self) -> str:
        """Concrete syntax, ``/`` for the empty path (computed once per path)."""
        shown = self._shown
        if shown is None:
            shown = "/" + "/".join(show_label(e) for e in self.elems) if self.elems else "/"
            object.__setattr__(self, "_shown", shown)
        return shown

    # sequence-like algebra -------------------------------------------------
    def __len__(self) -> int:
        return len(self.elems)

    def __iter__(self) -> Iterator[str]:
        return iter(self.elems)

    def __bool__(self) -> bool:
        return bool(self.elems)

    def __add__(self, other: "Path") -> "Path":
        if not isinstance(other, Path):
            return NotImplemented
        if not other.elems:
            return self
        if not self.elems:
            return other
        return Path(self.elems + other.elems)

    @property
    def is_empty(self) -> bool:
        return not self.elems

    def take(self, n: int) -> "Path":
        return Path(self.elems[:n])

    def drop(self, n: int) -> "Path":
        return Path(self.elems[n:]) if n else self

    def startswith(self, prefix: "Path") -> bool:
        n = len(prefix.elems)
        return self.elems[:n] == prefix.elems

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"Path.read({self.show()!r})"


EMPTY_PATH = Path()
