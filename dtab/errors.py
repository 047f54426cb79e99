"""Exceptions of the dtab package (pure).

Outcomes such as Neg, Fail, Empty and Pending are values, not exceptions; these
are for invalid input (:class:`DtabParseError`) and for delegation that cannot
terminate (:class:`BindDepthExceeded`). Both are ``ValueError`` subclasses.
"""

from __future__ import annotations


class DtabError(ValueError):
    """Base class of every error raised by :mod:`dtab`."""


class DtabParseError(DtabError):
    """Concrete syntax that does not parse.

    :param text: the whole input.
    :param position: 0-based index of the offending character (``len(text)`` at
        end of input).
    :param expected: what the grammar wanted there, e.g. ``"'=>'"``.
    :param found: what was there, e.g. ``"'}'"`` or ``"end of input"``.

    The message follows Finagle's ``NameTreeParsers``: the bad character is
    bracketed, as in ``label char expected but '{' found at '/[{]}'``.
    """

    def __init__(self, text: str, position: int, expected: str, found: str) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        self.found = found
        if position >= len(text):
            shown = f"{text}[]"
        else:
            shown = f"{text[:position]}[{text[position]}]{text[position + 1:]}"
        super().__init__(f"{expected} expected but {found} found at '{shown}'")

    def line_message(self) -> str:
        """The same message with only the offending line shown (for multi-line input)."""
        start = self.text.rfind("\n", 0, self.position) + 1
        end = self.text.find("\n", self.position)
        if end < 0:
            end = len(self.text)
        line = self.text[start:end]
        col = self.position - start
        shown = f"{line}[]" if col >= len(line) else f"{line[:col]}[{line[col]}]{line[col + 1:]}"
        return f"{self.expected} expected but {self.found} found at '{shown}'"

    @property
    def line(self) -> int:
        """1-based line of :attr:`position`."""
        return self.text.count("\n", 0, self.position) + 1

    @property
    def column(self) -> int:
        """1-based column of :attr:`position` within its line."""
        return self.position - (self.text.rfind("\n", 0, self.position) + 1) + 1


class BindDepthExceeded(DtabError):
    """Delegation went deeper than the limit (a dtab loop such as ``/a=>/b;/b=>/a``)."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"Max recursion level: {max_depth} reached in Namer lookup")


class UnknownNamer(DtabError):
    """A ``/$/<kind>`` path names no built-in namer (Finagle: ClassNotFoundException)."""

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path
        super().__init__(f"Unknown namer: {kind} for path: {path}")


class BindTooLarge(DtabError):
    """A delegation needed more namer lookups than the limit.

    Unions (and, in the delegator, Alts) are followed branch by branch, so a dtab
    such as ``/a => /a/x & /a/y`` grows exponentially before it hits the depth
    limit. Finagle has no such guard; a router that accepts ``l5d-dtab`` from
    clients needs one.
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps
        super().__init__(f"Delegation needed more than {max_steps} lookups")
