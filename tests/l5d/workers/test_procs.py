"""worker_pids over a /proc laid out by the test (and the real one: test_workers.py)."""

from __future__ import annotations

import os
from pathlib import Path

from l5d.workers.procs import socket_inodes, worker_pids


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


def test_socket_inodes_of_a_process(tmp_path: Path) -> None:
    """Only its socket fds count; a process that is gone has none."""
    fd = tmp_path / "42" / "fd"
    fd.mkdir(parents=True)
    (fd / "0").symlink_to("/dev/null")
    (fd / "3").symlink_to("socket:[1234]")
    (fd / "4").symlink_to("pipe:[99]")
    (fd / "5").symlink_to("socket:[5678]")
    assert socket_inodes(42, str(tmp_path)) == {1234, 5678}
    assert socket_inodes(43, str(tmp_path)) == set()
