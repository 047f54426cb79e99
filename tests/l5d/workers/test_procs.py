"""worker_pids over a /proc laid out by the test (and the real one: test_workers.py)."""

from __future__ import annotations

import os
from pathlib import Path

from l5d.workers.procs import worker_pids


def proc_entry(root: Path, pid: int, ppid: int, comm: str, argv: list[str] | None) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560\n")
    if argv is not None:  # None: the process ended between the two reads
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_the_controls_children_started_with_worker(tmp_path: Path) -> None:
    py = "/venv/bin/python"
    proc_entry(tmp_path, 100, 1, "python", [py, "-m", "l5d", "l5d.yaml"])  # the control
    proc_entry(tmp_path, 130, 100, "python", [py, "-m", "l5d", "--worker"])
    proc_entry(tmp_path, 120, 100, "weird) (name", [py, "-m", "l5d", "--worker"])
    proc_entry(tmp_path, 140, 100, "sh", ["sh", "-c", "echo --worker"])  # not the argument
    proc_entry(tmp_path, 150, 100, "python", None)  # gone
    proc_entry(tmp_path, 160, 200, "python", [py, "-m", "l5d", "--worker"])  # another l5d's
    (tmp_path / "self").mkdir()
    (tmp_path / "170").mkdir()  # no stat: gone
    assert worker_pids(100, str(tmp_path)) == [120, 130]
    assert worker_pids(200, str(tmp_path)) == [160]
    assert worker_pids(1, str(tmp_path)) == []


def test_no_workers_for_one_process() -> None:
    """This test's own process has no worker children in the real /proc."""
    assert worker_pids(os.getpid()) == []
