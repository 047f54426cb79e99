"""The protocol every dtab store backend implements (Twisted shell).

A backend keeps, per router label, the saved dtab and its version, and does the
compare-and-swap. It never parses: :class:`~l5d.dtab_store.store.DtabStore` parses first
and hands the backend only text that parsed (and the parsed dtab, as ``Versioned``
values carry one). Every method runs on the reactor thread.

Kinds (``dtabStore.kind``): ``io.l5d.inMemory`` (:mod:`~l5d.dtab_store.memory`, the
default), ``io.l5d.fs`` (:mod:`~l5d.dtab_store.fs`) and ``io.l5d.k8s.configMap``
(``l5d/dtab_store/configmap.py``). :mod:`~l5d.dtab_store.build` makes one from config.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from twisted.internet.defer import Deferred

from l5d.dtab_store.model import Change, Conflict, Refused, Versioned, Written

__all__ = ["DtabBackend", "Subscriber"]

#: called with (router label, its new Versioned) for every change a backend sees; ``None``
#: when nothing is stored for that router any more (a ConfigMap key removed)
Subscriber = Callable[[str, "Versioned | None"], None]


@runtime_checkable
class DtabBackend(Protocol):
    """Where saved dtabs live.

    Laws (tested for every backend in ``tests/l5d/dtab_store``):

    * after ``write(r, t, read(r).version or None, w)`` fires with :class:`Written`,
      ``read(r)`` is that ``Written.current`` and ``history(r)[0]`` its ``change``;
    * a write whose ``expected_version`` is not the current version (``None`` when
      nothing is stored) fires with :class:`Conflict` and changes nothing;
    * versions of one router never repeat: each write's version differs from every
      earlier one (``io.l5d.inMemory`` and ``io.l5d.fs`` count up: ``"1"``, ``"2"``, ...);
    * subscribers hear every change, in order, the backend's own writes included (after
      ``read`` already returns it).
    """

    #: the ``dtabStore.kind`` (``io.l5d.fs``), shown by the admin API as ``store``
    kind: str

    def start(self) -> "Deferred[None]":
        """Load what is stored (and, for a shared store, start watching it). The routers
        serve only after it fires; a failure stops l5d from starting."""

    def stop(self) -> "Deferred[None]":
        """Stop watching; release files and connections."""

    def read(self, router: str) -> Versioned | None:
        """The stored dtab of ``router`` from memory (synchronous); ``None`` when nothing
        is stored for it (the config's ``dtab`` applies)."""

    def write(self, router: str, text: str, expected_version: str | None,
              who: str) -> "Deferred[Written | Conflict | Refused]":
        """Store ``text`` (already parsed by the store) as ``router``'s dtab if its current
        version is ``expected_version`` (``None``: only if nothing is stored yet).

        :param who: who asked, kept in the :class:`~l5d.dtab_store.model.Change`.
        :return: fires with :class:`Written`, :class:`Conflict` (stale version, nothing
            changed) or :class:`Refused` (could not write: nothing changed); never fails.
        """

    def history(self, router: str) -> list[Change]:
        """The accepted changes of ``router`` the backend keeps, newest first (may be
        empty)."""

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(router, versioned)`` on the reactor thread for every change seen,
        this backend's own writes and other nodes' alike."""
