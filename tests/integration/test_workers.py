"""``workers: N``: one control process and N workers sharing the router port (real
processes, real sockets, real clients).

* connections are spread over the workers, and the stats of all of them add up exactly
  in the control's ``/admin/metrics.json`` and Prometheus page;
* a dtab saved through the admin routes every worker's next request;
* a killed worker is started again while the other keeps its connections, and the
  counters never go back;
* SIGTERM drains every worker (a slow request in flight is answered) and ends them all;
* ``workers: 1`` is one process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time

import requests

from l5d.workers.procs import socket_inodes, worker_pids
from tests.helpers.backends import EchoBackend, ScriptedBackend, read_head
from tests.helpers.l5d_process import L5d, config_text, wait_for

TIMEOUT_S = 10.0


def established_to(port: int) -> dict[int, int]:
    """inode -> 1 for every ESTABLISHED TCP socket whose local port is ``port``."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if int(local.split(":")[1], 16) == port and state == "01":
                out[int(inode)] = 1
    return out


def get(sock: socket.socket, host: str, path: str = "/") -> tuple[int, bytes]:
    """One keep-alive GET over ``sock``; (status, body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head, rest = read_head(sock)
    if not head:
        raise ConnectionError("closed without a response")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return status, rest[:length]


def all_reach(l5d: L5d, backend: EchoBackend, n: int = 20) -> bool:
    """``n`` requests, each on a new connection (both workers get some): all 200, and all
    answered by ``backend``."""
    before = len(backend.requests)
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
            assert get(c, "x")[0] == 200
    return len(backend.requests) - before == n


def workers_config(backend: int, n: int = 2, extra: str = "") -> str:
    return config_text(f"/svc/x=>/$/inet/127.0.0.1/{backend}", workers=n) + extra


def test_two_workers_share_the_port_and_their_stats_add_up() -> None:
    with EchoBackend() as b, L5d(config=workers_config(b.port) + (
            "telemetry:\n- kind: io.l5d.prometheus\n")) as l5d:
        assert wait_for(lambda: "2 workers, pids" in l5d.output(), TIMEOUT_S)
        pids = worker_pids(l5d.proc.pid)
        assert len(pids) == 2
        # 40 connections held open: the kernel spreads them over both workers
        conns = [socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S)
                 for _ in range(40)]
        try:
            sent = 0
            for i, c in enumerate(conns):
                for _ in range(1 + i % 3):
                    status, _ = get(c, "x")
                    assert status == 200
                    sent += 1
            ours = established_to(l5d.port)
            per_worker = [len(socket_inodes(pid) & ours.keys()) for pid in pids]
            assert sum(per_worker) == 40 and all(n > 0 for n in per_worker), per_worker
            metrics = l5d.metrics()  # read at once: the control gathers first
            assert metrics["rt/http/service/svc/x/requests"] == sent
            assert metrics["rt/http/client/$/inet/127.0.0.1/%d/requests" % b.port] == sent
            assert metrics["rt/http/server/127.0.0.1/0/requests"] == sent  # as configured
            assert metrics["rt/http/service/svc/x/request_latency_ms.count"] == sent
            # one process's gauges per worker, under its own scope
            for i in range(2):
                assert metrics[f"workers/{i}/process/mem/rss"] > 0
            text = requests.get(f"http://127.0.0.1:{l5d.admin_port}/admin/metrics/prometheus",
                                timeout=TIMEOUT_S).text
            line = next(ln for ln in text.splitlines()
                        if ln.startswith("rt:service:requests{") and 'service="svc/x"' in ln)
            assert float(line.rsplit(" ", 1)[1]) == sent
        finally:
            for c in conns:
                c.close()


def test_a_saved_dtab_routes_every_worker() -> None:
    with EchoBackend() as old, EchoBackend() as new, L5d(config=workers_config(old.port)) as l5d:
        url = f"http://127.0.0.1:{l5d.admin_port}/admin/dtab/http.json"
        doc = requests.get(url, timeout=TIMEOUT_S).json()
        rsp = requests.put(url, json={"dtab": f"/svc/x=>/$/inet/127.0.0.1/{new.port}",
                                      "version": doc["version"]},
                           headers=l5d.admin_auth, timeout=TIMEOUT_S)
        assert rsp.status_code == 200, rsp.text

        assert wait_for(lambda: all_reach(l5d, new), TIMEOUT_S)


def test_a_killed_worker_comes_back_and_the_other_keeps_its_connections() -> None:
    with EchoBackend() as b, L5d(config=workers_config(b.port), stderr_apart=True) as l5d:
        pids = worker_pids(l5d.proc.pid)
        conns = [socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S)
                 for _ in range(20)]
        for c in conns:
            assert get(c, "x")[0] == 200
        ours = established_to(l5d.port)
        owner = {}
        for pid in pids:
            owner[pid] = socket_inodes(pid) & ours.keys()
        victim, survivor = pids
        assert owner[victim] and owner[survivor]
        before = l5d.metrics()["rt/http/service/svc/x/requests"]
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: len(worker_pids(l5d.proc.pid)) == 2
                        and victim not in worker_pids(l5d.proc.pid), TIMEOUT_S)
        # every connection the survivor holds still works
        kept = 0
        for c in conns:
            try:
                status, _ = get(c, "x")
            except OSError:
                continue  # one of the victim's: closed with it
            assert status == 200
            kept += 1
        assert kept >= len(owner[survivor])
        # the new worker listens: new connections all work
        assert wait_for(lambda: "listening again" in l5d.errors(), TIMEOUT_S)
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
                assert get(c, "x")[0] == 200
        after = l5d.metrics()["rt/http/service/svc/x/requests"]
        assert after >= before + kept + 20  # the counter never went back
        assert "worker 0 (pid" in l5d.errors() or "worker 1 (pid" in l5d.errors()
        for c in conns:
            c.close()


def test_workers_share_one_access_log_a_restarted_worker_empties_nothing(tmp_path) -> None:
    """``httpAccessLog`` with ``httpAccessLogAppend: false`` and a size policy, 2 workers: the
    file is emptied once, at start; a worker killed and started again appends to it (it
    emptied it before the fix, losing every line logged so far); worker 0 alone rolls, and
    every request is one line in exactly one of the files."""
    log = tmp_path / "access.log"
    log.write_text("a line from before this start\n")
    router = (f"httpAccessLog: {log}\nhttpAccessLogAppend: false\n"
              "httpAccessLogRollPolicy: 4.kilobytes\n")

    def logged() -> list[str]:
        return [ln for f in sorted(tmp_path.iterdir()) for ln in f.read_text().splitlines()]

    with EchoBackend() as b, L5d(config=config_text(f"/svc/x=>/$/inet/127.0.0.1/{b.port}",
                                                    router=router, workers=2),
                                 stderr_apart=True) as l5d:
        assert wait_for(lambda: "2 workers, pids" in l5d.output() + l5d.errors(), TIMEOUT_S)
        sent = 0
        for path in range(40):  # new connections: both workers log
            with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
                assert get(c, "x", f"/before/{path}")[0] == 200
                sent += 1
        assert wait_for(lambda: len(logged()) == sent, TIMEOUT_S), logged()
        victim = worker_pids(l5d.proc.pid)[1]
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: "listening again" in l5d.errors(), TIMEOUT_S)
        for path in range(40):
            with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
                assert get(c, "x", f"/after/{path}")[0] == 200
                sent += 1
        assert wait_for(lambda: len(logged()) == sent, TIMEOUT_S), len(logged())
        lines = logged()
        assert not any("a line from before" in ln for ln in lines)  # emptied once, at start
        paths = sorted(ln.split('"')[1].split()[1] for ln in lines)
        assert paths == sorted([f"/before/{i}" for i in range(40)]
                               + [f"/after/{i}" for i in range(40)])
        rolled = [f for f in tmp_path.iterdir() if f.name != "access.log"]
        assert rolled, "80 lines of about 100 bytes pass 4 KiB: worker 0 rolled"


def test_sigterm_drains_every_worker() -> None:
    release = threading.Event()

    def slow(conn: socket.socket, log: list) -> None:
        read_head(conn)
        release.wait(TIMEOUT_S)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")

    with ScriptedBackend(slow) as b:
        l5d = L5d(config=workers_config(b.port).replace(
            "metricsSnapshotIntervalMs: 0", "metricsSnapshotIntervalMs: 0, "
            "shutdownGraceMs: 8000"))
        l5d.start()
        try:
            pids = worker_pids(l5d.proc.pid)
            c = socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S)
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wait_for(lambda: b.connections == 1, TIMEOUT_S)
            l5d.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            release.set()
            head, rest = read_head(c)
            assert head.startswith(b"HTTP/1.1 200") and rest.startswith(b"slow")
            assert l5d.proc.wait(TIMEOUT_S) == 0
            assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids), 5)
            c.close()
        finally:
            l5d.stop()


def test_workers_1_is_one_process() -> None:
    with EchoBackend() as b, L5d(config=workers_config(b.port, n=1)) as l5d:
        assert worker_pids(l5d.proc.pid) == []
        with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
            assert get(c, "x")[0] == 200
        assert l5d.metrics()["rt/http/service/svc/x/requests"] == 1


def test_recent_requests_and_client_state_are_gathered_from_every_worker() -> None:
    telemetry = "telemetry:\n- {kind: io.l5d.recentRequests, sampleRate: 1.0, capacity: 100}\n"
    with EchoBackend() as b, L5d(config=workers_config(b.port, extra=telemetry)) as l5d:
        pids = worker_pids(l5d.proc.pid)
        conns = [socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S)
                 for _ in range(16)]
        try:
            for i, c in enumerate(conns):
                assert get(c, "x", f"/r{i}")[0] == 200
            ours = established_to(l5d.port)
            assert all(socket_inodes(pid) & ours.keys() for pid in pids)  # both served
            rows = requests.get(f"http://127.0.0.1:{l5d.admin_port}/requests.json",
                                timeout=TIMEOUT_S).json()
            assert sorted(r["uri"] for r in rows) == sorted(f"/r{i}" for i in range(16))
            started = [r["time"] for r in rows]
            assert started == sorted(started, reverse=True)  # newest first, merged
            state = requests.get(f"http://127.0.0.1:{l5d.admin_port}/client_state.json",
                                 timeout=TIMEOUT_S).json()
            assert state[f"/$/inet/127.0.0.1/{b.port}"] == {
                "state": "bound", "addresses": [f"127.0.0.1:{b.port}"]}
        finally:
            for c in conns:
                c.close()


def test_a_reload_reaches_every_worker_and_workers_cannot_change() -> None:
    with EchoBackend() as old, EchoBackend() as new, L5d(config=workers_config(old.port)) as l5d:
        url = f"http://127.0.0.1:{l5d.admin_port}/admin/reload"
        l5d.config_path.write_text(workers_config(old.port, n=3))
        refused = requests.post(url, headers=l5d.admin_auth, timeout=TIMEOUT_S)
        assert refused.status_code == 400
        assert "workers: the number of router processes cannot change without a restart " \
               "(running 2, the new config asks for 3)" in refused.text
        l5d.config_path.write_text(workers_config(new.port))
        doc = requests.post(url, headers=l5d.admin_auth, timeout=TIMEOUT_S).json()
        assert doc["outcome"] == "reloaded", doc

        assert wait_for(lambda: all_reach(l5d, new), TIMEOUT_S)
        assert len(worker_pids(l5d.proc.pid)) == 2


def test_a_reload_with_a_kept_namer_adds_a_port_on_every_worker(tmp_path) -> None:
    """The workers run no namers; a reload that keeps the control's io.l5d.fs namer and
    adds a server is applied by every worker (the new port answers on both)."""
    with EchoBackend() as b:
        (tmp_path / "x").write_text(f"127.0.0.1 {b.port}\n")

        def config(ports: str) -> str:
            return ("workers: 2\nadmin: {ip: 127.0.0.1, port: 0}\n"
                    f"namers:\n- {{kind: io.l5d.fs, rootDir: {tmp_path}}}\n"
                    "routers:\n- protocol: http\n  dtab: /svc=>/#/io.l5d.fs\n"
                    f"  servers: [{ports}]\n")

        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        port_a = first.getsockname()[1]
        first.close()
        second = socket.socket()
        second.bind(("127.0.0.1", 0))
        port_b = second.getsockname()[1]
        second.close()
        with L5d(config=config(f"{{port: {port_a}}}"), stderr_apart=True) as l5d:
            l5d.config_path.write_text(config(f"{{port: {port_a}}}, {{port: {port_b}}}"))
            doc = requests.post(f"http://127.0.0.1:{l5d.admin_port}/admin/reload",
                                headers=l5d.admin_auth, timeout=TIMEOUT_S).json()
            assert doc["outcome"] == "reloaded", doc

            def both_ports() -> bool:
                try:
                    for port in (port_a, port_b):
                        for _ in range(10):
                            with socket.create_connection(("127.0.0.1", port),
                                                          timeout=TIMEOUT_S) as c:
                                if get(c, "x")[0] != 200:
                                    return False
                except OSError:
                    return False
                return True

            assert wait_for(both_ports, TIMEOUT_S)
            assert "handling 'reload' failed" not in l5d.errors()


def test_each_worker_accrues_failures_on_its_own(tmp_path) -> None:
    """Failure accrual is a worker's own: a dead endpoint among live ones costs no client
    an error (each connect failure is requeued), but each of N workers meets it
    ``consecutiveFailures`` (5) times before marking it down, so the failures absorbed
    underneath are N times one process's (docs/workers.md, docs/reliability.md)."""
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    dead = spare.getsockname()[1]
    spare.close()
    with EchoBackend() as b:
        (tmp_path / "x").write_text(f"127.0.0.1 {b.port}\n127.0.0.1 {dead}\n")
        config = config_text("/svc=>/#/io.l5d.fs", workers=2,
                             namers=f"namers:\n- {{kind: io.l5d.fs, rootDir: {tmp_path}}}\n")
        with L5d(config=config) as l5d:
            statuses = []
            for _ in range(400):  # new connections: both workers get many
                with socket.create_connection(("127.0.0.1", l5d.port), timeout=TIMEOUT_S) as c:
                    statuses.append(get(c, "x")[0])
            assert statuses == [200] * 400
            client = "rt/http/client/#/io.l5d.fs/x/"
            m = l5d.metrics()
            assert m[client + "failure_accrual/removals"] == 2  # once in each worker
            assert m[client + "failures/connect"] == 2 * 5
            assert m[client + "retries/requeues"] == 2 * 5
            assert m[client + "loadbalancer/available"] == 1
