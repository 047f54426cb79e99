"""The protocol every dtab store backend implements (Twisted shell)."""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from twisted.internet.defer import Deferred

from l5d.dtab_store.model import Change, Versioned

__all__ = ["DtabBackend"]


@runtime_checkable
class DtabBackend(Protocol):
    """Where routers' dtabs are stored. Reactor-thread only."""

    def start(self) -> Deferred:
        """Load what is stored (and start watching, where the backend watches)."""

    def stop(self) -> Deferred:
        """Stop watching; release connections."""

    def read(self, router: str) -> Versioned | None:
        """The current stored dtab, from memory (``None``: nothing stored for ``router``)."""

    def write(self, router: str, text: str, expected_version: str | None,
              who: str) -> Deferred:
        """Compare-and-swap: ``Written``, ``Conflict`` or ``Refused`` (``expected_version``
        ``None``: nothing stored yet). ``text`` has already been parsed by the store."""

    def history(self, router: str) -> list[Change]:
        """The changes seen, newest first (may be empty)."""

    def subscribe(self, callback: Callable[[str, Versioned], None]) -> None:
        """Call ``callback(router, versioned)`` for every change the backend sees."""
