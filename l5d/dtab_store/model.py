"""Values of the dtab store (pure): a versioned dtab, one accepted change, write outcomes.

A write's outcome is a value, never an exception (STYLE.md 3.1, rule 2):

* :class:`Written`: accepted; the new :class:`Versioned` and the :class:`Change` made;
* :class:`Conflict`: the version named is not the current one (HTTP 409), nothing changed;
* :class:`Invalid`: the text does not parse (HTTP 400), with the parser's position;
* :class:`Refused`: the backend could not write (HTTP 503), nothing changed.

Versions are opaque strings compared for equality only. :data:`CONFIG_VERSION` is the
version of a router whose dtab was never saved (its config's ``dtab`` applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from dtab import Dtab, DtabParseError

__all__ = ["CONFIG_VERSION", "Change", "Conflict", "Invalid", "Outcome", "Refused",
           "Versioned", "Written", "change_json", "invalid_from", "parse_dtab_text"]

#: the version of a router's dtab while nothing is stored for it (its config's ``dtab``)
CONFIG_VERSION = "config"


@dataclass(frozen=True, slots=True)
class Versioned:
    """A router's dtab and its opaque version."""

    dtab: Dtab
    version: str


@dataclass(frozen=True, slots=True)
class Change:
    """One accepted write, as history and the change log show it.

    :param router: the router's label.
    :param version: the version the write made.
    :param dtab: the new dtab's text (one dentry per line).
    :param previous_version: the version it replaced (``None``: nothing was stored).
    :param previous: the replaced dtab's text (``None``: nothing was stored).
    :param who: who wrote it (``token@127.0.0.1``, ``session:alice@10.0.0.9``).
    :param at: when, epoch seconds (from an injected ``wall``).
    """

    router: str
    version: str
    dtab: str
    previous_version: str | None
    previous: str | None
    who: str
    at: float


@dataclass(frozen=True, slots=True)
class Written:
    """An accepted write."""

    current: Versioned
    change: Change


@dataclass(frozen=True, slots=True)
class Conflict:
    """A stale version: ``current`` is what is stored now (``None``: nothing is)."""

    current: Versioned | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """Unparsable text: the parser's message and position (0-based ``offset``, 1-based
    ``line`` and ``column``)."""

    message: str
    offset: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The backend could not write (its store is unreachable, a file cannot be written)."""

    reason: str


Outcome = Union[Written, Conflict, Invalid, Refused]


def invalid_from(err: DtabParseError) -> Invalid:
    """The :class:`Invalid` of a parse error: its one-line message and its position."""
    return Invalid(err.line_message(), err.position, err.line, err.column)


def parse_dtab_text(text: str) -> Dtab | Invalid:
    """``text`` as a dtab (Finagle's grammar: dentries separated by ``;``, whitespace and
    newlines free, ``#`` comments), or :class:`Invalid` at the parser's position."""
    try:
        return Dtab.read(text)
    except DtabParseError as err:
        return invalid_from(err)


def change_json(change: Change) -> dict[str, Any]:
    """A :class:`Change` as the admin API and history files show it."""
    return {"router": change.router, "version": change.version, "dtab": change.dtab,
            "previous_version": change.previous_version, "previous": change.previous,
            "who": change.who, "at": change.at}
