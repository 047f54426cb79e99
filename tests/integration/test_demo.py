"""`make run` is the real demo: hello calls world through l5d, and curl gets both answers.

Runs scripts/run-demo.sh (what `make run` runs) on the fixed ports of
examples/local.yaml (4140, 9990, 7777, 7778), so those must be free.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _curl_hello() -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "-m", "5", "http://hello/"], capture_output=True,
                          text=True, env=dict(os.environ, http_proxy="127.0.0.1:4140"),
                          timeout=15)


DEMO_PORTS = (4140, 9990, 7777, 7778)


def _in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port`` (a person's own demo)."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DemoTests:
    """The command the demo prints answers 'Hello (...) world (...)!!'."""

    def test_make_run_demo_answers_through_l5d(self, tmp_path: Path) -> None:
        """http_proxy=127.0.0.1:4140 curl http://hello/ -> Hello (127.0.0.1) world (127.0.0.1)!!

        (examples/local.yaml with its saved dtabs in a fresh directory: edits a person saved
        in .l5d/dtabs while trying the demo must not change what this test sees.)"""
        busy = [p for p in DEMO_PORTS if _in_use(p)]
        # otherwise the test would talk to that process and fail with its answers
        assert not busy, (f"127.0.0.1 ports {busy} are in use: stop the `make run` demo (or "
                          f"whatever listens there) before running this test")
        local = (ROOT / "examples/local.yaml").read_text(encoding="utf-8")
        assert "dir: .l5d/dtabs" in local
        config = tmp_path / "local.yaml"
        config.write_text(local.replace("dir: .l5d/dtabs", f"dir: {tmp_path / 'dtabs'}"))
        proc = subprocess.Popen(["bash", "scripts/run-demo.sh", sys.executable, str(config)],
                                cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            out = None
            while time.monotonic() < deadline:
                out = _curl_hello()
                if out.stdout.startswith("Hello"):
                    break
                time.sleep(0.2)
            assert out is not None and out.stdout == "Hello (127.0.0.1) world (127.0.0.1)!!", out
            # the script prints how to curl once its own readiness check passes
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any(
                    "http_proxy=127.0.0.1:4140 curl http://hello/" in line for line in list(lines)):
                time.sleep(0.1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            reader.join(5)
        printed = "".join(lines)
        assert "http_proxy=127.0.0.1:4140 curl http://hello/" in printed, printed
        assert "http://127.0.0.1:9990/admin/login" in printed, printed
        assert '-H "Authorization: Bearer $(cat .l5d/admin-token)"' in printed, printed
