"""Finding a control's worker processes, and which of them holds a socket (Linux ``/proc``),
for the people and tools that look at a running l5d from outside: the sim's
``kill-worker``, the benches, the tests.

A worker is a child of the control process started as ``python -m l5d --worker``
(:mod:`l5d.workers.supervisor`); ``ps --ppid <control pid>`` shows the same.
"""

from __future__ import annotations

import os

__all__ = ["WORKER_FLAG", "socket_inodes", "worker_pids"]

#: the argument a worker process is started with (l5d/main.py)
WORKER_FLAG = "--worker"


def worker_pids(control: int, proc: str = "/proc") -> list[int]:
    """The pids of ``control``'s worker processes, in pid order (none when l5d runs one
    process, or when ``control`` is gone). Processes that end while this reads are
    skipped."""
    flag = WORKER_FLAG.encode()
    pids = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/stat", "rb") as f:
                # the command name (field 2) may hold spaces and parentheses
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            if ppid != control:
                continue
            with open(f"{proc}/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if flag in argv:
            pids.append(int(name))
    return sorted(pids)


def socket_inodes(pid: int, proc: str = "/proc") -> set[int]:
    """The inodes of ``pid``'s sockets (match them with ``/proc/net/tcp``'s inode column to
    see which worker holds a connection); empty when ``pid`` is gone."""
    inodes = set()
    try:
        fds = os.listdir(f"{proc}/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"{proc}/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
