"""``io.l5d.fs``: service discovery from a directory of files (Twisted shell).

``/#/io.l5d.fs/<service>/<residual...>`` binds to the addresses listed in
``rootDir/<service>``; a missing file is ``NEG`` (so dtab fallback applies).
The directory is read once when the namer is built and then polled every
``poll_interval_s`` on the injected reactor; a changed, added or removed file
bumps :attr:`generation` so cached bindings are redone.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from dtab import NEG, PENDING, BoundName, Leaf, Ok, Path
from dtab.activity import State
from l5d.namers.fs_model import parse_endpoints

log = Logger()

DEFAULT_POLL_INTERVAL_S = 1.0
MAX_FILE_BYTES = 1024 * 1024


class FsNamer:
    """Namer over a directory. Reactor-thread only.

    :param prefix: the dtab prefix, e.g. ``Path.read("/#/io.l5d.fs")`` (part of bound ids).
    """

    def __init__(self, reactor: Any, root_dir: str, prefix: Path,
                 poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        self._reactor = reactor
        self.root_dir = root_dir
        self.prefix = prefix
        self.poll_interval_s = poll_interval_s
        self.generation = 0
        self._files: dict[str, tuple[tuple[int, int, int], Any]] = {}
        self._loop: LoopingCall | None = None
        self.loaded = False

    def start(self) -> None:
        """Read the directory now, then poll it."""
        if not self.loaded:
            self.refresh()
        if self._loop is None:
            self._loop = LoopingCall(self.refresh)
            self._loop.clock = self._reactor
            self._loop.start(self.poll_interval_s, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def refresh(self) -> bool:
        """Re-read changed files; returns True when anything changed."""
        try:
            names = [n for n in os.listdir(self.root_dir) if not n.startswith(".")]
        except OSError as e:
            names = []
            if self._files:
                log.warn("io.l5d.fs: cannot list {dir}: {err}", dir=self.root_dir, err=e)
        changed = False
        seen = set()
        for name in names:
            full = os.path.join(self.root_dir, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            if not os.path.isfile(full) or st.st_size > MAX_FILE_BYTES:
                continue
            seen.add(name)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            old = self._files.get(name)
            if old is not None and old[0] == key:
                continue
            try:
                with open(full, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                log.warn("io.l5d.fs: cannot read {file}: {err}", file=full, err=e)
                continue
            parsed = parse_endpoints(text)
            for err in parsed.errors:
                log.warn("io.l5d.fs: {file}: {err}", file=full, err=err)
            if old is None or old[1] != parsed.addr:
                changed = True
                self._files[name] = (key, parsed.addr)
            else:
                self._files[name] = (key, old[1])
        for name in [n for n in self._files if n not in seen]:
            del self._files[name]
            changed = True
        if changed or not self.loaded:
            self.generation += 1
        self.loaded = True
        return changed

    def lookup(self, path: Path) -> State:
        """``path`` is what follows the prefix: ``/<service>/<residual...>``.

        ``PENDING`` until the directory has been read once (:meth:`start`)."""
        if not self.loaded:
            return PENDING
        if not path.elems:
            return Ok(NEG)
        entry = self._files.get(path.elems[0])
        if entry is None:
            return Ok(NEG)
        return Ok(Leaf(BoundName(self.prefix + path.take(1), path.drop(1), entry[1])))

    def names(self) -> list[str]:
        return sorted(self._files)

    def bound_names(self) -> list[str]:
        """Every name this namer can bind now (``/bound-names.json``)."""
        return [(self.prefix + Path.of(n)).show() for n in sorted(self._files)]
