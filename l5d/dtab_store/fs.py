"""``io.l5d.fs``: saved dtabs as files in a directory, surviving restarts (Twisted shell).

Layout of ``dir`` (made at start when missing), per router label (file names are the label
percent-encoded, so any label is one safe name)::

    <label>.json                    the current version: a Change as JSON
                                    ({"router", "version", "dtab", "previous_version",
                                      "previous", "who", "at"})
    <label>.history/<version>.json  the changes kept, newest ``historySize`` of them

Every file is written to a temporary file in the same directory, flushed and fsync'd,
then moved over the old one with ``os.replace`` (atomic on POSIX) and the directory
fsync'd: a crash leaves the old version or the new one, never a mix. The history file of a
version is written before the current file names it. Versions count up (``"1"``, ``"2"``,
...) from the highest one found in either place, so they never repeat, even after the
history was trimmed or the current file removed by hand.

At :meth:`FsBackend.start` the stored files are read (a restarted l5d routes with the saved
dtab); a file that does not parse stops l5d from starting with its path and the parser's
message. Files edited while l5d runs are not watched (restart, or save through the admin).
One l5d per directory: the compare-and-swap is against what this process holds. File
calls are small and run on the reactor thread.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from twisted.internet import defer

from dtab import Dtab, DtabParseError
from l5d.dtab_store.backend import Subscriber
from l5d.dtab_store.model import (
    Change, Conflict, Refused, Versioned, Written, change_json,
)

__all__ = ["FsBackend", "KIND"]

KIND = "io.l5d.fs"


class FsBackend:
    """Saved dtabs in ``directory``. Reactor-thread only.

    :param directory: where the files live.
    :param wall: epoch seconds, for the changes' ``at``.
    :param history_size: how many changes per router are kept as history files (>= 1).
    """

    kind = KIND

    def __init__(self, directory: str | os.PathLike[str], wall: Callable[[], float],
                 history_size: int = 20) -> None:
        self.directory = Path(directory)
        self._wall = wall
        self._history_size = max(1, history_size)
        self._current: dict[str, tuple[Versioned, Change]] = {}
        self._top: dict[str, int] = {}  # router -> highest version number seen
        self._subscribers: list[Subscriber] = []

    # -- files ---------------------------------------------------------------
    def _current_file(self, router: str) -> Path:
        return self.directory / f"{quote(router, safe='')}.json"

    def _history_dir(self, router: str) -> Path:
        return self.directory / f"{quote(router, safe='')}.history"

    def start(self) -> "defer.Deferred[None]":
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.directory.glob("*.json")):
                change = _read_change(path)
                versioned = Versioned(_parse(path, change.dtab), change.version)
                self._current[change.router] = (versioned, change)
                self._top[change.router] = max(self._top.get(change.router, 0),
                                               _number(change.version))
                for old in self._history_files(change.router):
                    self._top[change.router] = max(self._top[change.router],
                                                   _number(old.stem))
        except (OSError, ValueError) as err:
            return defer.fail(err)
        return defer.succeed(None)

    def stop(self) -> "defer.Deferred[None]":
        return defer.succeed(None)

    def read(self, router: str) -> Versioned | None:
        entry = self._current.get(router)
        return None if entry is None else entry[0]

    def write(self, router: str, text: str, expected_version: str | None,
              who: str) -> "defer.Deferred[Written | Conflict | Refused]":
        entry = self._current.get(router)
        current = None if entry is None else entry[0]
        if (None if current is None else current.version) != expected_version:
            return defer.succeed(Conflict(current))
        top = max([self._top.get(router, 0)]
                  + [_number(p.stem) for p in self._history_files(router)])
        new = Versioned(Dtab.read(text), str(top + 1))
        change = Change(router, new.version, text,
                        None if current is None else current.version,
                        None if current is None else current.dtab.show_lines(),
                        who, self._wall())
        try:
            history = self._history_dir(router)
            history.mkdir(parents=True, exist_ok=True)
            _write_json(history / f"{new.version}.json", change_json(change))
            _write_json(self._current_file(router), change_json(change))
            self._trim(router)
        except OSError as err:
            return defer.succeed(Refused(f"cannot write {self.directory}: "
                                         f"{err.strerror or err}"))
        self._top[router] = top + 1
        self._current[router] = (new, change)
        for callback in list(self._subscribers):
            callback(router, new)
        return defer.succeed(Written(new, change))

    def history(self, router: str) -> list[Change]:
        out = []
        for path in self._history_files(router):
            try:
                out.append(_read_change(path))
            except (OSError, ValueError):
                continue  # a damaged history file is skipped, not fatal
        return out

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def _history_files(self, router: str) -> list[Path]:
        """The history files of ``router``, newest (highest version) first."""
        folder = self._history_dir(router)
        if not folder.is_dir():
            return []
        files = [p for p in folder.glob("*.json") if p.stem.isdigit()]
        return sorted(files, key=lambda p: int(p.stem), reverse=True)

    def _trim(self, router: str) -> None:
        for old in self._history_files(router)[self._history_size:]:
            old.unlink()


def _number(version: str) -> int:
    return int(version) if version.isdigit() else 0


def _read_change(path: Path) -> Change:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Change(str(doc["router"]), str(doc["version"]), str(doc["dtab"]),
                      _opt(doc.get("previous_version")), _opt(doc.get("previous")),
                      str(doc.get("who", "")), float(doc.get("at", 0.0)))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a saved dtab ({err})") from None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse(path: Path, text: str) -> Dtab:
    try:
        return Dtab.read(text)
    except DtabParseError as err:
        raise ValueError(f"{path}: the saved dtab does not parse: {err.line_message()} "
                         f"(line {err.line}, column {err.column})") from None


def _write_json(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` atomically: temp file, fsync, ``os.replace``, fsync
    of the directory."""
    data = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
