"""``workers: auto`` (the CPUs l5d may use) and the control's reserved router ports."""

from __future__ import annotations

import socket

import pytest
from twisted.internet.error import CannotListenError

from l5d.workers.cpus import usable_cpus
from l5d.workers.reserve import reserve_port


@pytest.mark.parametrize("affinity, cpu_max, v1, expected", [
    (8, None, None, 8),                      # no cgroup limit: the affinity mask
    (8, "max 100000\n", None, 8),            # cgroup v2 without a quota
    (8, "150000 100000\n", None, 2),         # 1.5 CPUs -> 2 workers
    (8, "100000 100000", None, 1),
    (8, "50000 100000", None, 1),            # half a CPU: still one
    (2, "400000 100000", None, 2),           # the mask is smaller than the quota
    (8, None, ("-1", "100000"), 8),          # cgroup v1 without a quota
    (8, None, ("300000", "100000"), 3),
    (8, "garbage", None, 8),                 # unreadable: no quota
    (0, None, None, 1),
])
def test_usable_cpus(affinity, cpu_max, v1, expected) -> None:
    quota, period = v1 if v1 else (None, None)
    assert usable_cpus(affinity, cpu_max, quota, period) == expected


def test_a_reserved_port_takes_the_address_and_resolves_port_0() -> None:
    held = reserve_port("127.0.0.1", 0)
    try:
        port = held.getHost().port
        assert port > 0 and held.getHost().host == "127.0.0.1"
        # a worker listens on it with SO_REUSEPORT and gets the connections
        worker = socket.socket()  # as Twisted's listening ports: SO_REUSEADDR too
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind(("127.0.0.1", port))
        worker.listen(8)
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        accepted, _ = worker.accept()
        accepted.close()
        client.close()
        worker.close()
        # anything else (one process, or another l5d of workers) is refused
        with pytest.raises(CannotListenError):
            reserve_port("127.0.0.1", port)
        plain = socket.socket()
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
        plain.close()
    finally:
        held.stopListening()
    again = reserve_port("127.0.0.1", port)  # released
    again.stopListening()


def test_a_taken_port_cannot_be_reserved() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(CannotListenError):
            reserve_port("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
