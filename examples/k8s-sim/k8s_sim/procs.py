"""Host commands and processes: run a command, whether a pid lives, stop pids, bounded waits.

Every wait of the sim is bounded by one of the constants below (seconds).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Bounds (seconds) of every wait.
CMD_TIMEOUT_S = 30
CONTROL_READY_S = 180       # the API server starts in ~5 s; first start may be slower
POD_READY_S = 30
L5D_READY_S = 60
E2E_READY_S = 90
STOP_GRACE_S = 5
CONTROL_STOP_S = 30
HTTP_TIMEOUT_S = 10


class SimError(Exception):
    """Something the sim could not do; the message says what and why."""


def log(msg: str) -> None:
    """Tell the person running the sim (stderr)."""
    print(f"sim: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, check: bool = True,
        timeout: float = CMD_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run a command, capturing its output.

    :raises SimError: if ``check`` and it fails.
    """
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and done.returncode != 0:
        raise SimError(f"{' '.join(argv)} failed ({done.returncode}): "
                       f"{(done.stderr or done.stdout).strip()}")
    return done


def alive(pid: int | None) -> bool:
    """:return: whether ``pid`` runs (a zombie child of ours counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    """:return: ``pid``'s command line, space-separated ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (no zombie left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_pids(pids: list[int], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every pid (each one of ours, by its id), then SIGKILL those left after grace."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for pid in pids:
            reap(pid)
        pids = [p for p in pids if alive(p)]
        if not pids:
            return
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        for pid in pids:
            reap(pid)
        pids = [p for p in pids if alive(p)]
        time.sleep(0.05)


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float,
             failed: Callable[[], str | None] = lambda: None, interval_s: float = 0.1) -> None:
    """Poll ``probe`` until true (its network errors count as false).

    :param failed: says why waiting is pointless (e.g. the process exited), else ``None``.
    :raises SimError: on timeout or when ``failed()`` says why.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if probe():
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        why = failed()
        if why:
            raise SimError(f"{what}: {why}")
        if time.monotonic() >= deadline:
            raise SimError(f"{what}: not ready after {timeout_s:.0f} s")
        time.sleep(interval_s)
