"""RSS of l5d's processes (issue 14, deliverable 3): idle, and with many names bound.

Not a test: it starts real ``python -m l5d CONFIG`` processes, reads ``VmRSS`` from
``/proc/<pid>/status`` and prints a Markdown table (median, min and max of ``--runs``
starts per scenario). Loopback only; every file lives in a temporary directory.

``--workers N`` writes ``workers: N`` into every config (default 1: one process that does
everything, the scenarios as they were before workers existed). With N >= 2 each row is one
process: the control (``l5d CONFIG``) and each of its workers (its children whose command
line has ``--worker``, in pid order).

Scenarios:

* ``local``: examples/local.yaml (one router, io.l5d.fs namer, prometheus and
  recentRequests telemeters, the admin server, an io.l5d.fs dtab store) on free ports,
  idle after start.
* ``daemonset``: daemonset/l5d.yml's ConfigMap config (two routers, io.l5d.k8s namer, the
  daemonset and localnode transformers, the k8s.configMap dtab store) with the API
  server pointed at a closed loopback port: the Kubernetes code is loaded and its
  watches retry, but nothing answers. Idle after start.
* ``bound``: the ``local`` config over an io.l5d.fs directory of ``--services`` files
  with ``--endpoints`` "host port" lines each (distinct 127.x.y.z addresses, all
  answered by one backend on 0.0.0.0, which runs in its own process and is not
  counted), then one GET per service through the router so that every name is bound
  and has a client with its endpoints and one open upstream connection (``idleTimeMs`` is
  set to 10 minutes so that none closes while a slow machine sends the rest); RSS is read
  after the last response. With
  N >= 2 workers the requests go to the shared router port on fresh connections (closed
  with a reset), one per service through each worker: ``SO_REUSEPORT`` sends a connection
  to a worker by a hash of its addresses, so the bench first finds a client source port
  that each worker accepts (which worker owns the accepted socket: ``/proc/<pid>/fd``
  against ``/proc/net/tcp``) and sends that worker's requests from it. Then it checks
  that each worker holds an upstream connection to one of every service's addresses, so
  every worker has bound every service, as the one process did with one request each.

    .venv/bin/python bench/rss_bench.py                 # all, 3 runs each
    .venv/bin/python bench/rss_bench.py --runs 5 --only bound
    .venv/bin/python bench/rss_bench.py --workers 2     # control + each worker
    .venv/bin/python bench/rss_bench.py --only bound --idle-cpu 10  # + CPU with no traffic
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from l5d.workers.procs import socket_inodes, worker_pids

ROOT = Path(__file__).resolve().parent.parent

BACKEND = r"""
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1024)
RESP = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
def serve(c):
    buf = b""
    try:
        while True:
            d = c.recv(65536)
            if not d:
                return
            buf += d
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                c.sendall(RESP)
    except OSError:
        pass
    finally:
        c.close()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


#: ``--workers``: written into every config
WORKERS = [1]


def local_config(rootdir: str, admin: int, port: int) -> str:
    """examples/local.yaml on other ports, over ``rootdir`` (no admin token file)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "examples" / "local.yaml").read_text())
    cfg["workers"] = WORKERS[0]
    cfg["admin"] = {"ip": "127.0.0.1", "port": admin}
    cfg["namers"][0]["rootDir"] = rootdir
    cfg["routers"][0]["servers"][0]["port"] = port
    return _yaml(cfg)


def bound_config(rootdir: str, admin: int, port: int) -> str:
    """``local_config`` whose upstream connections stay open however long the requests take
    on a busy machine (``idleTimeMs`` 10 minutes; the default is one)."""
    import yaml

    cfg = yaml.safe_load(local_config(rootdir, admin, port))
    cfg["routers"][0]["client"] = {"hostConnectionPool": {"idleTimeMs": 600_000}}
    return _yaml(cfg)


def daemonset_config(admin: int, port: int, port2: int, k8s: int) -> str:
    """daemonset/l5d.yml's config with the Kubernetes API on closed loopback port ``k8s``."""
    import yaml

    docs = yaml.safe_load_all((ROOT / "daemonset" / "l5d.yml").read_text())
    cm = next(d for d in docs if d and d.get("kind") == "ConfigMap")
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
    cfg["workers"] = WORKERS[0]
    cfg["admin"] = {"ip": "127.0.0.1", "port": admin}
    api = {"host": "127.0.0.1", "port": k8s}
    cfg["dtabStore"].update(api)
    for namer in cfg["namers"]:
        namer.update(api)
    for router, p in zip(cfg["routers"], (port, port2)):
        router["servers"] = [{"ip": "127.0.0.1", "port": p}]
        for t in router["interpreter"]["transformers"]:
            if t["kind"] == "io.l5d.k8s.daemonset":
                t.update(k8sHost="127.0.0.1", k8sPort=k8s)
    return _yaml(cfg)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"l5d exited {proc.returncode}: {log_tail(proc)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


def log_tail(proc: subprocess.Popen) -> str:
    with open(proc.log_path, errors="replace") as f:  # type: ignore[attr-defined]
        return f.read()[-2000:]


def wait_started(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until l5d logs its start line (with workers: all of them listen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"l5d exited {proc.returncode}: {log_tail(proc)}")
        with open(proc.log_path, errors="replace") as f:  # type: ignore[attr-defined]
            if " started (config " in f.read():
                return
        time.sleep(0.1)
    raise RuntimeError(f"l5d not started after {timeout}s: {log_tail(proc)}")


def process_rss(proc: subprocess.Popen) -> list[int]:
    """KiB: ``[l5d]`` with one process; ``[control, worker, ...]`` with workers."""
    return [rss_kib(pid) for pid in process_pids(proc)]


def process_pids(proc: subprocess.Popen) -> list[int]:
    """``[l5d]``, or ``[control, worker, ...]`` (the order of :func:`process_rss`)."""
    if WORKERS[0] < 2:
        return [proc.pid]
    pids = worker_pids(proc.pid)
    if len(pids) != WORKERS[0]:
        raise RuntimeError(f"expected {WORKERS[0]} workers, found pids {pids}")
    return [proc.pid] + pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU over ``seconds`` of no traffic, in % of one core."""
    before = [cpu_seconds(pid) for pid in pids]
    time.sleep(seconds)
    return [100.0 * (cpu_seconds(pid) - b) / seconds for pid, b in zip(pids, before)]


def upstream_services(pid: int, bport: int) -> set[int]:
    """The services ``pid`` holds an upstream connection to: remote 127.a.b.c:bport is
    service (a - 1) * 250 + b (the addresses :func:`bound` writes)."""
    inodes = socket_inodes(pid)
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote, inode = fields[2], int(fields[9])
            ip_hex, port_hex = remote.split(":")
            if inode not in inodes or int(port_hex, 16) != bport:
                continue
            _, a, b, _ = struct.pack("<I", int(ip_hex, 16))  # 127.a.b.c
            found.add((a - 1) * 250 + b)
    return found


def request_fresh(port: int, host: str, source_port: int = 0, timeout: float = 120.0) -> int:
    """One GET for ``host`` on a new connection (from ``source_port``, if given), closed with
    a reset (no TIME_WAIT, so the source port can be used again at once); its status."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind(("127.0.0.1", source_port))
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                       if k.strip().lower() == "content-length"), 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed in the body")
            body += chunk
        return int(lines[0].split()[1])
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def _accepted_by(pids: list[int], port: int, source_port: int) -> int | None:
    """The pid whose socket is the server end of 127.0.0.1:source_port -> port."""
    inodes = {pid: socket_inodes(pid) for pid in pids}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if (int(local.split(":")[1], 16) == port
                    and int(remote.split(":")[1], 16) == source_port):
                for pid, socks in inodes.items():
                    if inode in socks:
                        return pid
    return None


def _below_ephemeral() -> range:
    """Client ports below the kernel's ephemeral range: l5d's own upstream connections
    never take them, so the bench can bind them again and again."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(low - 2000, low)


def source_ports(pids: list[int], port: int) -> dict[int, int]:
    """A client source port per worker whose connections to ``port`` that worker accepts:
    ``SO_REUSEPORT`` picks a listener by a hash of the addresses, so a port seen going to a
    worker always goes to it (while the same workers listen)."""
    found: dict[int, int] = {}
    for sport in _below_ephemeral():
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(10)
            try:
                s.bind(("127.0.0.1", sport))
            except OSError:
                continue  # taken by someone else
            s.connect(("127.0.0.1", port))
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                pid = _accepted_by(pids, port, sport)
                if pid is not None:
                    found.setdefault(pid, sport)
                    break
                time.sleep(0.01)
        finally:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        if len(found) == len(pids):
            return found
    raise RuntimeError(f"no source port found for some of the workers {pids}: {found}")


#: ``--tracemalloc``: l5d under tracemalloc; SIGUSR1 writes the top allocation sites
TRACED = r"""
import signal, sys, tracemalloc
OUT, FRAMES = sys.argv[2], int(sys.argv[3])
tracemalloc.start(FRAMES)
def dump(*_):
    snap = tracemalloc.take_snapshot()
    with open(OUT, "a") as f:
        for kind in ("filename", "traceback" if FRAMES > 1 else "lineno"):
            total = sum(s.size for s in snap.statistics(kind)) >> 10
            f.write(f"--- by {kind}, total {total} KiB\n")
            for stat in snap.statistics(kind)[:25]:
                f.write(f"{stat.size >> 10:8} KiB {stat.count:8} blocks  {stat.traceback}\n")
        f.write("--- end\n")
signal.signal(signal.SIGUSR1, dump)
from l5d.main import run
sys.argv[1:] = sys.argv[1:2]
run()
"""
TRACE: list[str] = []  # [file, frames] when --tracemalloc
IDLE_CPU_S: list[float] = [0.0]  # --idle-cpu


def start_l5d(config_text: str, tmp: str, env_extra: dict | None = None) -> subprocess.Popen:
    path = os.path.join(tmp, "l5d.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    argv = ["-c", TRACED, path, *TRACE] if TRACE else ["-m", "l5d", path]
    log_path = os.path.join(tmp, "l5d.log")
    with open(log_path, "w") as log:  # a file, not a pipe: nobody reads it while l5d runs
        proc = subprocess.Popen([sys.executable, *argv], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def dump_trace(proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Have the traced l5d append its allocation sites to ``TRACE[0]``; wait until it has."""
    ends = open(TRACE[0]).read().count("--- end") if os.path.exists(TRACE[0]) else 0
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(TRACE[0]) and open(TRACE[0]).read().count("--- end") > ends:
            return
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def idle(kind: str, settle: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        admin, port = free_port(), free_port()
        if kind == "local":
            os.mkdir(os.path.join(tmp, "disco"))
            with open(os.path.join(tmp, "disco", "hello"), "w") as f:
                f.write("127.0.0.1 8080\n")
            text, env = local_config(os.path.join(tmp, "disco"), admin, port), {}
        else:
            text = daemonset_config(admin, port, free_port(), free_port())
            env = {"POD_IP": "127.0.0.1", "NODE_NAME": "node", "POD_NAMESPACE": "default"}
        proc = start_l5d(text, tmp, env)
        try:
            wait_port(admin, proc)
            wait_started(proc)
            time.sleep(settle)
            if TRACE:
                dump_trace(proc)
            return {"rss": process_rss(proc)}
        finally:
            stop(proc)


def bound(services: int, endpoints: int, settle: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bport = free_port()
        backend = subprocess.Popen([sys.executable, "-c", BACKEND, str(bport)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            backend.stdout.readline()
            disco = os.path.join(tmp, "disco")
            os.mkdir(disco)
            for i in range(services):
                lines = "".join(f"127.{1 + i // 250}.{i % 250}.{1 + j} {bport}\n"
                                for j in range(endpoints))
                with open(os.path.join(disco, f"svc{i}"), "w") as f:
                    f.write(lines)
            admin, port = free_port(), free_port()
            proc = start_l5d(bound_config(disco, admin, port), tmp)
            try:
                wait_port(port, proc)
                wait_started(proc)
                time.sleep(settle)
                before = process_rss(proc)
                t0 = time.monotonic()
                if WORKERS[0] < 2:
                    bad, sent = bind_one_connection(port, services), services
                else:
                    bad, sent = bind_every_worker(proc, port, bport, services)
                took = time.monotonic() - t0
                time.sleep(settle)
                after = process_rss(proc)
                cpu = idle_cpu(process_pids(proc), IDLE_CPU_S[0]) if IDLE_CPU_S[0] else None
                if TRACE:
                    dump_trace(proc)
                return {"rss": after, "before": before, "bad": bad, "took": took,
                        "sent": sent, "cpu": cpu}
            finally:
                stop(proc)
        finally:
            stop(backend)


def bind_one_connection(port: int, services: int) -> int:
    """One GET per service on one keep-alive connection; the count of non-200s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    bad = 0
    for i in range(services):
        conn.request("GET", "/", headers={"Host": f"svc{i}"})
        resp = conn.getresponse()
        resp.read()
        bad += resp.status != 200
    conn.close()
    return bad


def bind_every_worker(proc: subprocess.Popen, port: int, bport: int,
                      services: int) -> tuple[int, int]:
    """One GET per service through each worker (a fresh connection from a source port that
    worker accepts: :func:`source_ports`), then a check that every worker holds an upstream
    connection to every service (sending again for the pairs that do not);
    ``(non-200s, requests sent)``."""
    from concurrent.futures import ThreadPoolExecutor

    pids = worker_pids(proc.pid)
    ports = source_ports(pids, port)
    todo = {pid: list(range(services)) for pid in pids}
    bad = sent = 0

    def through(pid: int) -> int:
        return sum(request_fresh(port, f"svc{i}", ports[pid]) != 200 for i in todo[pid])

    for _ in range(5):  # again for what is missing (an upstream connection that was closed)
        with ThreadPoolExecutor(len(pids)) as pool:  # the workers bind at the same time
            bad += sum(pool.map(through, pids))
        sent += sum(len(t) for t in todo.values())
        todo = {pid: sorted(set(range(services)) - upstream_services(pid, bport))
                for pid in pids}
        if not any(todo.values()):
            return bad, sent
    raise RuntimeError(f"services not bound, by worker pid: {todo}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before reading RSS")
    ap.add_argument("--only", choices=("local", "daemonset", "bound"), action="append")
    ap.add_argument("--tracemalloc", metavar="FILE", help="append l5d's top allocation sites "
                    "(tracemalloc, after RSS is read) to FILE; RSS figures then include it")
    ap.add_argument("--frames", type=int, default=1, help="with --tracemalloc: frames kept")
    ap.add_argument("--workers", type=int, default=1, help="workers: N in every config; "
                    "with N >= 2 a row per process (the control, then each worker)")
    ap.add_argument("--idle-cpu", type=float, default=0.0, metavar="S",
                    help="bound only: each process's CPU (%% of a core) over S seconds with "
                    "no traffic after the requests (the stats it reads and ships, timers)")
    args = ap.parse_args()
    WORKERS[0] = args.workers
    IDLE_CPU_S[0] = args.idle_cpu
    if args.tracemalloc:
        TRACE[:] = [os.path.abspath(args.tracemalloc), str(args.frames)]
    kinds = args.only or ["local", "daemonset", "bound"]
    print("| scenario | process | target MiB | median MiB | min | max | notes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    names = ["l5d"] if args.workers < 2 else ["control"] + [
        f"worker {i}" for i in range(args.workers)]
    for kind in kinds:
        results = [bound(args.services, args.endpoints, args.settle) if kind == "bound"
                   else idle(kind, args.settle) for _ in range(args.runs)]
        for j, name in enumerate(names):
            mib = [r["rss"][j] / 1024 for r in results]
            note, target = "idle", "40" if name != "control" else ""
            if kind == "bound":
                target = "48" if name != "control" else ""
                note = (f"{args.services} services x {args.endpoints} endpoints; before "
                        f"requests {statistics.median(r['before'][j] for r in results) / 1024:.1f}"
                        f" MiB")
                if args.idle_cpu:
                    note += (f"; idle CPU {statistics.median(r['cpu'][j] for r in results):.1f}"
                             f" % of a core over {args.idle_cpu:g} s")
                if j == 0:
                    note += (f"; {statistics.median(r['sent'] for r in results):.0f} requests, "
                             f"non-200: {sum(r['bad'] for r in results)}; "
                             f"{statistics.median(r['took'] for r in results):.1f} s for them")
            print(f"| {kind} | {name} | {target} | {statistics.median(mib):.1f} | "
                  f"{min(mib):.1f} | {max(mib):.1f} | {note} |", flush=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
