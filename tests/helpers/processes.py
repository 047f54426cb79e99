"""Stopping the daemons tests start (API server, etcd, statsd, tcpdump, Prometheus,
InfluxDB)."""

from __future__ import annotations

import subprocess

STOP_TIMEOUT_S = 10.0


def terminate(proc: subprocess.Popen | None, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop ``proc``: SIGTERM, then SIGKILL after ``timeout_s``.

    :param proc: the process (``None``, or one that has exited, is left alone).
    :param timeout_s: how long SIGTERM is given.
    """
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
