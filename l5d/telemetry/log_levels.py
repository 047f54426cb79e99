"""Log levels that change while l5d runs (``/logging.json``; Twisted shell).

l5d's log lines come two ways: Python ``logging`` loggers (``l5d.router``, ``l5d.linker``,
...) and ``twisted.logger`` events (``l5d.k8s.apis``, Twisted's own), which ``l5d/main.py``
filters with a ``LogLevelFilterPredicate`` and hands to ``logging`` under their namespace.
:class:`LogLevels` sets a name's level in both places at once, so ``l5d`` at ``debug``
shows the debug lines of every ``l5d.*`` logger and namespace. A name's level applies to
the names below it unless they have their own. By default ``logging`` passes ``info`` and
Twisted events ``warn`` (Twisted's own info lines are noise); the level listed is
``logging``'s.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.logger import LogLevel, LogLevelFilterPredicate

__all__ = ["LEVELS", "LogLevels"]

#: the level names, most verbose first (Twisted's, which Linkerd's ``/logging.json`` map to)
LEVELS = ("debug", "info", "warn", "error", "critical")
_TO_LOGGING = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
               "error": logging.ERROR, "critical": logging.CRITICAL}
#: the names always listed (more appear as loggers are made)
_ROOTS = ("l5d", "admin_ui", "twisted")


class LogLevels:
    """The levels of l5d's loggers.

    :param predicate: the filter of ``twisted.logger`` events (main's observer holds it).
    :param manager: the ``logging`` registry (``logging.root.manager``).
    """

    def __init__(self, predicate: LogLevelFilterPredicate,
                 manager: Any = None) -> None:
        self._predicate = predicate
        self._manager = manager if manager is not None else logging.root.manager
        self._set: dict[str, str] = {}

    def level(self, name: str) -> str:
        """The ``logging`` level in force for ``name`` (inherited when it has none of its
        own). Twisted events are further held at ``warn`` (main's default) until a level is
        set here for their namespace or one above it."""
        effective = self._manager.getLogger(name).getEffectiveLevel() \
            if name else logging.root.level
        for level in LEVELS:
            if _TO_LOGGING[level] >= effective:
                return level
        return "critical"

    def loggers(self) -> list[dict[str, str]]:
        """``[{"name", "level"}]``: the root (``""``), l5d's, admin_ui's and Twisted's
        loggers, sorted by name."""
        names = {n for n in self._manager.loggerDict
                 if n.split(".")[0] in _ROOTS} | set(_ROOTS) | set(self._set)
        return [{"name": "", "level": self.level("")}] + [
            {"name": n, "level": self.level(n)} for n in sorted(names)]

    def set(self, name: str, level: str) -> None:
        """Set ``name``'s level (``""``: the root) in ``logging`` and for Twisted events.

        :raises ValueError: ``level`` is not one of :data:`LEVELS`, or ``name`` is not a
            dotted name.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r} (levels: {', '.join(LEVELS)})")
        if name and (any(not part for part in name.split("."))
                     or any(c.isspace() for c in name) or len(name) > 200):
            raise ValueError(f"not a logger name: {name!r}")
        if name:
            self._manager.getLogger(name).setLevel(_TO_LOGGING[level])
            self._predicate.setLogLevelForNamespace(name, LogLevel.levelWithName(level))
        else:
            logging.root.setLevel(_TO_LOGGING[level])
            self._predicate.defaultLogLevel = LogLevel.levelWithName(level)
        self._set[name] = level
