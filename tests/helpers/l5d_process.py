"""Run a real l5d process on 127.0.0.1 for integration tests.

``with L5d(dtab="/svc=>/$/inet/127.0.0.1/8080") as l5d:`` writes a config with
every listener on port 0, starts ``python -m l5d`` and reads the bound ports
from its output. ``l5d.port`` is the router, ``l5d.admin_port`` the admin,
``l5d.rss_kb()`` the process's resident memory. A config without ``workers`` runs
``workers: 1``: router tests read one router process's state; the tests of workers
say how many. The process is stopped (and
killed if it does not stop) on exit; its output is kept in ``l5d.output()`` (stdout and
stderr together, or, with ``stderr_apart=True``, stdout there and stderr in
``l5d.errors()``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the admin token every test l5d gets ($L5D_ADMIN_TOKEN) unless ``env`` says otherwise
ADMIN_TOKEN = "test-admin-token"
_LISTEN = re.compile(r"l5d: (\S+) listening on https?://([^/]+):(\d+)/")


class L5d:
    """A running l5d. ``router_yaml`` is extra YAML merged into the router (indented keys)."""

    def __init__(self, dtab: str = "", *, router_yaml: str = "", namers_yaml: str = "",
                 config: str | None = None, env: dict | None = None, start_timeout_s: float = 15.0,
                 stderr_apart: bool = False) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="l5d-test-")
        self.dir = Path(self._dir.name)
        if config is None:
            config = config_text(dtab, router=router_yaml, namers=namers_yaml)
        elif config and not any(line.startswith("workers:") for line in config.splitlines()):
            # one router process unless the test asks for workers (see config_text)
            config = "workers: 1\n" + config
        self.config_path = self.dir / "l5d.yaml"
        self.config_path.write_text(config)
        self._env = {**os.environ, "L5D_ADMIN_TOKEN": ADMIN_TOKEN, **(env or {})}
        self._start_timeout_s = start_timeout_s
        self._lines: list[str] = []
        self._err_lines: list[str] = []
        self._stderr_apart = stderr_apart
        self._readers: list[threading.Thread] = []
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}

    def __enter__(self) -> "L5d":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "l5d", str(self.config_path)], cwd=str(ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if self._stderr_apart else subprocess.STDOUT,
            text=True, env=self._env)
        got_admin = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self._lines.append(line)
                m = _LISTEN.search(line)
                if m:
                    name = m.group(1)
                    key = "admin" if name == "admin" else name
                    self.ports.setdefault(key, int(m.group(3)))
                    if name == "admin":
                        got_admin.set()

        def err_reader() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self._err_lines.append(line)

        self._readers = [threading.Thread(target=reader, daemon=True)]
        if self._stderr_apart:
            self._readers.append(threading.Thread(target=err_reader, daemon=True))
        for t in self._readers:
            t.start()
        if not got_admin.wait(self._start_timeout_s):
            self.stop()
            raise RuntimeError("l5d did not start:\n" + self.output() + self.errors())

    @property
    def port(self) -> int:
        """The first router server's port."""
        return next(p for k, p in self.ports.items() if k != "admin")

    @property
    def admin_port(self) -> int:
        return self.ports["admin"]

    @property
    def admin_auth(self) -> dict[str, str]:
        """The ``Authorization`` header admin writes need."""
        return {"Authorization": f"Bearer {self._env.get('L5D_ADMIN_TOKEN', '')}"}

    @property
    def proxy(self) -> str:
        """``127.0.0.1:PORT`` for ``http_proxy``."""
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> dict:
        """``/admin/metrics.json``."""
        import json
        import urllib.request
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.admin_port}/admin/metrics.json", timeout=10) as rsp:
            return json.loads(rsp.read())

    def metric(self, suffix: str) -> float:
        """The sum of every metric whose name ends with ``suffix`` (e.g.
        ``failure_accrual/removals`` over all clients)."""
        return sum(v for k, v in self.metrics().items() if k.endswith(suffix))

    def rss_kb(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def output(self) -> str:
        return "".join(self._lines)

    def errors(self) -> str:
        """stderr so far (``stderr_apart=True``); after :meth:`stop`, all of it."""
        return "".join(self._err_lines)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for t in self._readers:
            t.join(5)  # the pipes reach EOF once the process is gone
        self._dir.cleanup()
        return proc.returncode


def config_text(dtab: str, *, server: str = "", router: str = "", namers: str = "",
                workers: int | str = 1) -> str:
    """A whole l5d.yaml: admin and one router server on 127.0.0.1 port 0.

    ``server`` and ``router`` are extra YAML keys (one per line) for the server and the
    router; ``namers`` is top-level YAML appended as it is. Histograms read the window since
    the previous read of the metrics (``metricsSnapshotIntervalMs: 0``). ``workers`` is 1:
    a router test reads one router process's state (its pools, its failure accrual);
    ``tests/integration/test_workers*.py`` and the tests that pass ``workers`` run several.
    """
    text = textwrap.dedent("""\
        workers: %s
        admin: {ip: 127.0.0.1, port: 0, metricsSnapshotIntervalMs: 0}
        routers:
        - protocol: http
          dtab: '%s'
          servers:
          - ip: 127.0.0.1
            port: 0
        """) % (workers, dtab.replace("'", "''"))
    for line in textwrap.dedent(server).splitlines():
        text += "    " + line + "\n"
    for line in textwrap.dedent(router).splitlines():
        text += "  " + line + "\n"
    return text + textwrap.dedent(namers)


def wait_for(predicate, timeout_s: float = 10.0, interval_s: float = 0.02) -> bool:
    """Poll ``predicate`` until true or the timeout; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
