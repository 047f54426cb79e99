"""The file an access log appends to: rolling, pruning, and reopening when moved.

Plain blocking file I/O, run by :class:`~l5d.telemetry.access_log.AccessLogWriter` in its
writer thread (never on the reactor, except :meth:`AccessLogFile.open` once at start, so
a path that cannot be written stops l5d from starting). One thread at a time.

* **Appending** uses ``O_APPEND``: after ``logrotate``'s ``copytruncate`` the next line
  lands at the start of the emptied file, not past a hole.
* **Moved away** (``logrotate``'s default ``create``, or ``mv``): at most every
  ``check_interval_s`` (and before every write after that) the path is ``stat``\\ ed; when
  it is gone or names another file than the one open, the old file is closed (what was
  written to it stays there) and the path is opened again, created if need be.
* **Rolling** (``httpAccessLogRollPolicy``), as util-logging's ``FileHandler``:
  ``hourly``/``daily``/``weekly(n)`` roll at the first write after the next hour, the next
  midnight, the next midnight starting day ``n`` (UTC, where Linkerd used the JVM's
  zone); a size policy rolls before a line that would take the file past the size (a
  file is never left empty for it). Rolling renames ``<dir>/<stem><ext>`` to
  ``<dir>/<stem>-<time><ext>``, ``<time>`` being when the file was opened (``%Y%m%d-%H``
  hourly, ``%Y%m%d`` daily and weekly, ``%Y%m%d-%H%M%S`` by size; ``-1``, ``-2``... is
  added if that name is taken), opens a new file, and deletes the oldest rolled files
  beyond ``httpAccessLogRotateCount`` (-1 keeps them all). ``sighup`` rolls nothing: the
  file is reopened when l5d gets SIGHUP (:meth:`AccessLogFile.write` with ``reopen``).
  ``never`` rolls nothing.
* **Several writers** (``workers: N``): each worker appends to the same path. Only the
  one made with ``rolls`` (worker 0) rolls and prunes; the others follow the roll as they
  follow any move, within ``check_interval_s``, so their last lines before it land in the
  rolled file. A worker's file is made with ``keep``: the control emptied it once at start
  (``httpAccessLogAppend: false``), and a worker that starts later, or again after dying,
  must not empty it again.
"""

from __future__ import annotations

import errno
import os
import re
import time
from typing import Callable

from l5d.config.access_log import AccessLogConfig, RollKind, RollPolicy

__all__ = ["AccessLogFile", "CHECK_INTERVAL_S", "next_roll", "rolled_name"]

CHECK_INTERVAL_S = 1.0

_SUFFIX_FORMATS = {
    RollKind.HOURLY: "%Y%m%d-%H",
    RollKind.DAILY: "%Y%m%d",
    RollKind.WEEKLY: "%Y%m%d",
    RollKind.SIZE: "%Y%m%d-%H%M%S",
}


def next_roll(policy: RollPolicy, opened: float) -> float | None:
    """When a file opened at ``opened`` (epoch seconds) is due to roll, or ``None``."""
    kind = policy.kind
    if kind is RollKind.HOURLY:
        return (opened // 3600 + 1) * 3600
    if kind is RollKind.DAILY:
        return (opened // 86400 + 1) * 86400
    if kind is RollKind.WEEKLY:
        day = opened // 86400 + 1
        while _java_weekday(day) != policy.weekday:
            day += 1
        return day * 86400
    return None


def _java_weekday(day: float) -> int:
    """Java's DAY_OF_WEEK (1 = Sunday) of day number ``day`` since the epoch (a Thursday)."""
    return (int(day) + 4) % 7 + 1


def split_name(path: str) -> tuple[str, str, str]:
    """``(directory, stem, extension)``: ``logs/access.log`` -> ``("logs", "access", ".log")``."""
    directory, base = os.path.split(path)
    dot = base.rfind(".")
    if dot > 0:
        return directory, base[:dot], base[dot:]
    return directory, base, ""


def rolled_name(path: str, policy: RollPolicy, opened: float, n: int = 0) -> str:
    """The name the file at ``path`` opened at ``opened`` is rolled to (``n``: the
    ``-N`` added when that name is taken)."""
    directory, stem, ext = split_name(path)
    stamp = time.strftime(_SUFFIX_FORMATS.get(policy.kind, "%Y"), time.gmtime(opened))
    return os.path.join(directory, f"{stem}-{stamp}{f'-{n}' if n else ''}{ext}")


class AccessLogFile:
    """One access log file.

    :param wall: epoch seconds (rolling times, rolled names).
    :param now: monotonic seconds (when to check the path again).
    :param rolls: roll and prune by the policy (``False``: one of several writers that is
        not the roller; it only follows moves and reopens on SIGHUP).
    :param keep: never empty the file, even with ``httpAccessLogAppend: false``.
    """

    def __init__(self, config: AccessLogConfig, wall: Callable[[], float] = time.time,
                 now: Callable[[], float] = time.monotonic,
                 check_interval_s: float = CHECK_INTERVAL_S, *, rolls: bool = True,
                 keep: bool = False) -> None:
        self.path = config.path
        self.policy = config.roll_policy
        self.rolls = rolls
        self._truncate_first = not (config.append or keep)
        self.rotate_count = config.rotate_count
        self._wall = wall
        self._now = now
        self.check_interval_s = check_interval_s
        self._fd = -1
        self._ident: tuple[int, int] = (0, 0)
        self.size = 0  # bytes in the open file (as far as this writer knows)
        self.opened_at = 0.0
        self._roll_at: float | None = None
        self._checked_at = 0.0
        #: how many times the file was reopened after being moved, and rolled
        self.reopened = 0
        self.rolled = 0
        _, stem, ext = split_name(self.path)
        self._rolled_re = re.compile(
            re.escape(stem) + r"-(\d{8}(?:-\d{2}(?:\d{4})?)?)(?:-(\d+))?" + re.escape(ext) + r"\Z")

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    def open(self) -> None:
        """Open (or create) the file; ``httpAccessLogAppend: false`` empties it, the first
        time only. :raises OSError: it cannot be opened."""
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        if self._truncate_first:
            flags |= os.O_TRUNC
        fd = os.open(self.path, flags, 0o644)
        self._truncate_first = False
        st = os.fstat(fd)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self.size = st.st_size
        self.opened_at = self._wall()
        self._roll_at = next_roll(self.policy, self.opened_at) if self.rolls else None
        self._checked_at = self._now()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def write(self, lines: list[str], reopen: bool = False) -> None:
        """Append ``lines`` (each ends with ``\\n``), rolling and reopening as due.

        :param reopen: reopen the path first (SIGHUP).
        :raises OSError: writing failed (the lines not written are lost; the next call
            tries again, reopening the path if the file was closed).
        """
        if self._fd < 0 or reopen:
            self._reopen()
        elif self._now() - self._checked_at >= self.check_interval_s:
            self._check_moved()
        if self._roll_at is not None and self._wall() >= self._roll_at:
            self.roll()
        if self.policy.kind is RollKind.SIZE and self.rolls:
            self._write_sized(lines)
        else:
            self._write_all("".join(lines).encode("latin-1", "replace"))

    def _write_sized(self, lines: list[str]) -> None:
        limit = self.policy.max_bytes
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            data = line.encode("latin-1", "replace")
            if self.size + chunk_size + len(data) > limit and self.size + chunk_size > 0:
                self._write_all(b"".join(chunk))
                chunk, chunk_size = [], 0
                self.roll()
            chunk.append(data)
            chunk_size += len(data)
        self._write_all(b"".join(chunk))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            self.size += n
            view = view[n:]

    def _check_moved(self) -> None:
        """Reopen when the path is gone or names another file; else re-read the size
        (``copytruncate`` shrinks it)."""
        self._checked_at = self._now()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.reopened += 1
            self._reopen()
            return
        if (st.st_dev, st.st_ino) != self._ident:
            self.reopened += 1
            self._reopen()
        else:
            self.size = os.fstat(self._fd).st_size

    def _reopen(self) -> None:
        self.close()
        self.open()

    def roll(self) -> None:
        """Rename the file to its rolled name, open a new one, prune old rolled files."""
        self.close()
        n = 0
        target = rolled_name(self.path, self.policy, self.opened_at)
        while os.path.exists(target):
            n += 1
            target = rolled_name(self.path, self.policy, self.opened_at, n)
        try:
            os.rename(self.path, target)
        except FileNotFoundError:
            pass  # moved away meanwhile: nothing to roll
        self.rolled += 1
        self.open()
        self.prune()

    def rolled_files(self) -> list[str]:
        """The rolled files of this log, oldest first."""
        directory = os.path.dirname(self.path) or "."
        try:
            names = os.listdir(directory)
        except OSError as err:
            if err.errno == errno.ENOENT:
                return []
            raise
        found = []
        for name in names:
            m = self._rolled_re.match(name)
            if m:
                found.append(((m.group(1), int(m.group(2) or 0)), name))
        found.sort()
        return [os.path.join(os.path.dirname(self.path), name) for _, name in found]

    def prune(self) -> None:
        """Delete the oldest rolled files beyond ``rotate_count``."""
        if self.rotate_count < 0:
            return
        rolled = self.rolled_files()
        for path in rolled[:max(0, len(rolled) - self.rotate_count)]:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

