"""``io.l5d.fs``: service discovery from a directory of files (Twisted shell).

``/#/io.l5d.fs/<service>/<residual...>`` binds to the addresses listed in
``rootDir/<service>``; a missing file is ``NEG`` (so dtab fallback applies).
The directory is read once when the namer is built and then polled every
``poll_interval_s`` on the injected reactor; a changed, added or removed file
bumps :attr:`generation` so cached bindings are redone.

What goes wrong is logged (warnings, at most one line per problem per 10 s, with how many
were held back): a ``rootDir`` that cannot be listed, a file that cannot be read, and a
file with bad lines (once per change of the file: its bad lines are skipped, the rest
is used).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from twisted.internet.task import LoopingCall

from dtab import NEG, PENDING, BoundName, Leaf, Ok, Path
from dtab.activity import State
from l5d.namers.fs_model import parse_endpoints
from l5d.telemetry.limited_log import RateLimitedLog

log = logging.getLogger("l5d.namers.fs")
#: bad lines quoted in a file's warning (the rest are counted)
SHOWN_ERRORS = 3

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
        self.warnings = RateLimitedLog(log, reactor, lambda: reactor.seconds())

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
        self.warnings.flush()

    def refresh(self) -> bool:
        """Re-read changed files; returns True when anything changed."""
        try:
            names = [n for n in os.listdir(self.root_dir) if not n.startswith(".")]
        except OSError as e:
            names = []
            self.warnings.warning(("list",), "io.l5d.fs: cannot list rootDir %s: %s (%s)",
                                  self.root_dir, e.strerror or e,
                                  "its services are gone" if self._files
                                  else "no service can be bound through it")
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
                self.warnings.warning(("read", name), "io.l5d.fs: cannot read %s: %s (%s)",
                                      full, e, "its last addresses are kept" if old is not None
                                      else "the service is not bound")
                continue
            parsed = parse_endpoints(text)
            if parsed.errors:
                errors = parsed.errors
                shown = "; ".join(errors[:SHOWN_ERRORS]) + (
                    f"; and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS
                    else "")
                self.warnings.warning(("parse", name),
                                      "io.l5d.fs: %s: %d bad lines skipped, %d addresses used: %s",
                                      full, len(errors), len(parsed.addr.addresses), shown)
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
