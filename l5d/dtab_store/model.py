"""The dtab store's values (pure): a versioned dtab, one accepted change, and the outcomes
of a write (values, not exceptions)."""

from __future__ import annotations

from dataclasses import dataclass

from dtab import Dtab

__all__ = ["Change", "Conflict", "Invalid", "Refused", "Versioned", "Written"]


@dataclass(frozen=True, slots=True)
class Versioned:
    """A router's dtab and its opaque version."""

    dtab: Dtab
    version: str


@dataclass(frozen=True, slots=True)
class Change:
    """One accepted write, as history and the change log show it (``at``: epoch seconds)."""

    router: str
    version: str
    dtab: str
    previous_version: str | None
    previous: str | None
    who: str
    at: float


@dataclass(frozen=True, slots=True)
class Written:
    """The write was accepted: the new current dtab and the change it made."""

    current: Versioned
    change: Change


@dataclass(frozen=True, slots=True)
class Conflict:
    """The expected version was stale (HTTP 409); ``current`` is what is stored now."""

    current: Versioned | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """The text does not parse (HTTP 400), with the parser's position."""

    message: str
    offset: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The backend could not write (e.g. the API server is down: HTTP 503)."""

    reason: str
