"""``DtabStore``: each router's base dtab, from the config or saved edits (Twisted shell).

What the routers and the admin use. A router reads its base dtab through
:meth:`DtabStore.dtab_for` (a zero-argument callable handed to ``HttpRouter(dtab=...)``,
re-read per request): an accepted write swaps one reference, so new requests see the new
dtab at once and whole, and the router's service cache (which compares the base dtab by
identity) re-binds. Requests in flight keep the dtab they started with.

A write parses first (:class:`~l5d.dtab_store.model.Invalid`, with the parser's position,
changes nothing), then asks the backend to compare-and-swap. Every change, this node's and
those other nodes made (a shared backend reports them through ``subscribe``), is logged::

    rt/http: dtab version 3 by token@127.0.0.1 at 2026-12-07T15:41:07Z (was version 2):
    old: /svc=>/#/io.l5d.fs; new: /svc=>/$/inet/127.0.0.1/8081;
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from twisted.internet import defer

from dtab import Dtab
from l5d.dtab_store.backend import DtabBackend
from l5d.dtab_store.model import (
    CONFIG_VERSION, Change, Conflict, Invalid, Outcome, Refused, Versioned, Written,
    parse_dtab_text,
)

__all__ = ["DtabStore"]

_log = logging.getLogger("l5d.dtab_store")


class DtabStore:
    """The routers' base dtabs. Reactor-thread only.

    :param backend: where saved dtabs live (:class:`~l5d.dtab_store.backend.DtabBackend`).
    :param config_dtabs: router label -> its config's ``dtab`` (what applies while nothing
        is stored; its version is :data:`~l5d.dtab_store.model.CONFIG_VERSION`).
    :param wall: epoch seconds (log lines' times).
    :param log: a ``logging.Logger`` (``l5d.dtab_store``).
    """

    def __init__(self, backend: DtabBackend, config_dtabs: Mapping[str, Dtab],
                 wall: Callable[[], float] = time.time, log: Any = _log) -> None:
        self.backend = backend
        self._config = {label: Versioned(d, CONFIG_VERSION) for label, d in config_dtabs.items()}
        self._current: dict[str, Versioned] = dict(self._config)
        #: what the routers read per request: one attribute load (as cheap as the constant
        #: it replaced: 25 ns per call, against 33 ns for a dict lookup)
        self._cells = {label: _Cell(v.dtab) for label, v in self._config.items()}
        self._wall = wall
        self._log = log
        self._observers: list[Callable[[str, Versioned], None]] = []
        backend.subscribe(self._changed)

    @property
    def kind(self) -> str:
        """The backend's ``dtabStore.kind``."""
        return self.backend.kind

    @property
    def routers(self) -> tuple[str, ...]:
        return tuple(self._config)

    def start(self) -> "defer.Deferred[None]":
        """Start the backend, then take what it stored (logged once per router)."""
        def loaded(_: object) -> None:
            for router in self._config:
                stored = self.backend.read(router)
                if stored is not None:
                    self._current[router] = stored
                    self._cells[router].dtab = stored.dtab
                    self._log.info("rt/%s: dtab version %s from the %s store: %s", router,
                                   stored.version, self.kind, stored.dtab.show())
        return self.backend.start().addCallback(loaded)

    def stop(self) -> "defer.Deferred[None]":
        return self.backend.stop()

    def reconfigure(self, config_dtabs: Mapping[str, Dtab]) -> None:
        """A reload: the routers and their config dtabs are now ``config_dtabs``. A router
        whose config dtab is in force takes the new one at once; one with an edit saved in
        the store keeps that (the saved edit still wins); a new router takes what the store
        has for it, else its config's."""
        old_config = self._config
        self._config = {label: Versioned(d, CONFIG_VERSION) for label, d in config_dtabs.items()}
        for label, versioned in self._config.items():
            current = self._current.get(label)
            if current is None or current.version == CONFIG_VERSION:
                stored = self.backend.read(label) if label not in old_config else None
                current = stored if stored is not None else versioned
            self._current[label] = current
            cell = self._cells.get(label)
            if cell is None:
                self._cells[label] = _Cell(current.dtab)
            else:
                cell.dtab = current.dtab

    def current(self, router: str) -> Versioned:
        """``router``'s base dtab now: the stored one, else its config's (version
        ``"config"``).

        The version is the backend's now (a ConfigMap's moves with every router's write,
        while only a router whose text changed is told), the dtab the one in force.

        :raises KeyError: no router has that label.
        """
        in_force = self._current[router]
        stored = self.backend.read(router)
        if stored is None:
            return self._config[router] if in_force.version != CONFIG_VERSION else in_force
        if stored.version != in_force.version and stored.dtab == in_force.dtab:
            return Versioned(in_force.dtab, stored.version)
        return stored

    def source(self, router: str) -> str:
        """``"store"`` when a saved edit applies, ``"config"`` otherwise."""
        return "config" if self.current(router).version == CONFIG_VERSION else "store"

    def dtab_for(self, router: str) -> Callable[[], Dtab]:
        """A zero-argument callable returning ``router``'s base dtab now (for ``HttpRouter``)."""
        cell = self._cells[router]
        return lambda: cell.dtab

    def history(self, router: str) -> list[Change]:
        """Changes of ``router`` the backend keeps, newest first."""
        return self.backend.history(router)

    def observe(self, callback: Callable[[str, Versioned], None]) -> None:
        """Call ``callback(router, versioned)`` after each change takes effect."""
        self._observers.append(callback)

    def write(self, router: str, text: str, expected_version: str,
              who: str) -> "defer.Deferred[Outcome]":
        """Save ``text`` as ``router``'s base dtab if ``expected_version`` is current.

        :return: fires with :class:`Written` (in force when it fires), :class:`Conflict`,
            :class:`Invalid` or :class:`Refused`; nothing changes unless ``Written``.
        :raises KeyError: no router has that label.
        """
        current = self.current(router)
        parsed = parse_dtab_text(text)
        if isinstance(parsed, Invalid):
            return defer.succeed(parsed)
        if expected_version != current.version:
            return defer.succeed(Conflict(current))
        expected = None if expected_version == CONFIG_VERSION else expected_version
        normal = parsed.show_lines()
        self._log.debug("rt/%s: %d dentries parsed; compare-and-swap at version %s by %s",
                        router, len(parsed), expected_version, who)

        def done(outcome: Any) -> Outcome:
            if isinstance(outcome, Written):  # (a backend may have told _changed already)
                self._take(router, outcome.current, outcome.change)
            elif isinstance(outcome, Conflict) and outcome.current is None:
                return Conflict(self._config[router])
            return outcome

        def failed(failure: Any) -> Refused:
            return Refused(failure.getErrorMessage())

        return self.backend.write(router, normal, expected, who).addCallbacks(done, failed)

    # -- changes -------------------------------------------------------------
    def _changed(self, router: str, new: Versioned | None) -> None:
        """A backend saw a change (ours, or another node's); ``None``: nothing is stored for
        ``router`` any more (a ConfigMap key removed), so its config's dtab applies again."""
        if router not in self._config:
            return
        if new is None:
            self._take(router, self._config[router], None)
            return
        history = self.backend.history(router)
        change = next((c for c in history if c.version == new.version), None)
        self._take(router, new, change)

    def _take(self, router: str, new: Versioned, change: Change | None) -> None:
        old = self._current[router]
        if old.version == new.version and old.dtab == new.dtab:
            return
        self._current[router] = new
        self._cells[router].dtab = new.dtab
        who = change.who if change is not None else "another node"
        at = change.at if change is not None else self._wall()
        self._log.info("rt/%s: dtab version %s by %s at %s (was version %s): old: %s new: %s",
                       router, new.version, who, _iso(at), old.version, old.dtab.show(),
                       new.dtab.show())
        for callback in list(self._observers):
            callback(router, new)


class _Cell:
    """A router's base dtab now (swapped whole on a change)."""

    __slots__ = ("dtab",)

    def __init__(self, dtab: Dtab) -> None:
        self.dtab = dtab


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
