"""A real statsd daemon (etsy's, npm ``statsd``) on 127.0.0.1 for integration tests.

``with StatsdDaemon() as sd:`` starts ``node stats.js`` on a free UDP port with a short
``flushInterval`` and the backend ``tests/helpers/statsd_recorder.js``, which appends one
JSON line per flush (``counters``, ``gauges``, ``timers`` with every value,
``timer_counters``). The daemon is installed by ``scripts/statsd-daemon.sh`` (run by
``make test`` through ``scripts/sysdeps.sh``) into ``~/.cache/l5d-statsd``.

``sd.counter(name)`` sums a counter over every flush (what the daemon received),
``sd.timer(name)`` lists every value, ``sd.gauge(name)`` is the last value.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.l5d_process import ROOT, wait_for
from tests.helpers.processes import terminate

RECORDER = Path(__file__).resolve().parent / "statsd_recorder.js"
INSTALL = ROOT / "scripts" / "statsd-daemon.sh"


def stats_js() -> Path:
    """Where scripts/statsd-daemon.sh put the daemon (a clear failure when it did not)."""
    base = os.environ.get("L5D_STATSD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "l5d-statsd")
    path = Path(base) / "node_modules" / "statsd" / "stats.js"
    assert shutil.which("node"), "node is installed by scripts/sysdeps.sh (make test)"
    assert path.is_file(), f"no statsd daemon at {path}: run `bash {INSTALL}` (make test does)"
    return path


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StatsdDaemon:
    """A running statsd daemon; ``port`` is its UDP port on 127.0.0.1."""

    def __init__(self, flush_interval_ms: int = 100) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="l5d-statsd-")
        self.dir = Path(self._dir.name)
        self.records = self.dir / "flushes.jsonl"
        self.port = free_port()
        self.flush_interval_ms = flush_interval_ms
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "StatsdDaemon":
        config = {
            "address": "127.0.0.1", "port": self.port,
            "mgmt_address": "127.0.0.1", "mgmt_port": free_port(socket.SOCK_STREAM),
            "flushInterval": self.flush_interval_ms,
            "backends": [str(RECORDER)], "recorder": {"file": str(self.records)},
        }
        (self.dir / "config.json").write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            ["node", str(stats_js()), str(self.dir / "config.json")],
            stdout=(self.dir / "statsd.log").open("wb"), stderr=subprocess.STDOUT)
        # ready when a probe sent to its UDP port shows up in a flush
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            def probed() -> bool:
                s.sendto(b"l5d_test.probe:1|c", ("127.0.0.1", self.port))
                return self.counter("l5d_test.probe") > 0
            if not wait_for(probed, 30, 0.05):
                self.__exit__()
                raise RuntimeError("statsd did not start:\n" + self.log())
        return self

    def __exit__(self, *exc) -> None:
        terminate(self.proc)
        self._dir.cleanup()

    def log(self) -> str:
        try:
            return (self.dir / "statsd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def flushes(self) -> list[dict]:
        """Every flush recorded so far (a line being written is left for the next read)."""
        try:
            text = self.records.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines(keepends=True)
                if line.endswith("\n")]

    def counters(self) -> dict[str, float]:
        """Every counter summed over every flush."""
        out: dict[str, float] = {}
        for f in self.flushes():
            for k, v in f["counters"].items():
                out[k] = out.get(k, 0) + v
        return out

    def counter(self, name: str) -> float:
        return self.counters().get(name, 0)

    def timer(self, name: str) -> list[float]:
        """Every value of timer ``name`` the daemon received."""
        return [v for f in self.flushes() for v in f["timers"].get(name, [])]

    def timer_count(self, name: str) -> float:
        """The daemon's count of timer ``name`` (a value marked ``|@r`` counts ``1/r``)."""
        return sum(f["timer_counters"].get(name, 0) for f in self.flushes())

    def gauge(self, name: str) -> float | None:
        found = [f["gauges"][name] for f in self.flushes() if name in f["gauges"]]
        return found[-1] if found else None

    def wait_flushed(self) -> None:
        """Wait until the daemon has flushed twice more (what it got by now is recorded)."""
        n = len(self.flushes())
        assert wait_for(lambda: len(self.flushes()) >= n + 2, 30), self.log()
