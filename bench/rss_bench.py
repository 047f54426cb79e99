"""RSS of one l5d process (issue 14, deliverable 3): idle, and with many names bound.

Not a test: it starts real ``python -m l5d CONFIG`` processes, reads ``VmRSS`` from
``/proc/<pid>/status`` and prints a Markdown table (median, min and max of ``--runs``
starts per scenario). Loopback only; every file lives in a temporary directory.

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
  and has a client with its endpoints; RSS is read after the last response.

    /work/main/.venv/bin/python bench/rss_bench.py                 # all, 3 runs each
    /work/main/.venv/bin/python bench/rss_bench.py --runs 5 --only bound
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def local_config(rootdir: str, admin: int, port: int) -> str:
    """examples/local.yaml on other ports, over ``rootdir`` (no admin token file)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "examples" / "local.yaml").read_text())
    cfg["admin"] = {"ip": "127.0.0.1", "port": admin}
    cfg["namers"][0]["rootDir"] = rootdir
    cfg["routers"][0]["servers"][0]["port"] = port
    return _yaml(cfg)


def daemonset_config(admin: int, port: int, port2: int, k8s: int) -> str:
    """daemonset/l5d.yml's config with the Kubernetes API on closed loopback port ``k8s``."""
    import yaml

    docs = yaml.safe_load_all((ROOT / "daemonset" / "l5d.yml").read_text())
    cm = next(d for d in docs if d and d.get("kind") == "ConfigMap")
    cfg = yaml.safe_load(cm["data"]["config.yaml"])
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
            raise RuntimeError(f"l5d exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout}s")


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


def start_l5d(config_text: str, tmp: str, env_extra: dict | None = None) -> subprocess.Popen:
    path = os.path.join(tmp, "l5d.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    argv = ["-c", TRACED, path, *TRACE] if TRACE else ["-m", "l5d", path]
    return subprocess.Popen([sys.executable, *argv], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


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
            time.sleep(settle)
            if TRACE:
                dump_trace(proc)
            return {"rss": rss_kib(proc.pid), "modules": None}
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
            proc = start_l5d(local_config(disco, admin, port), tmp)
            try:
                wait_port(port, proc)
                time.sleep(settle)
                before = rss_kib(proc.pid)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                bad = 0
                t0 = time.monotonic()
                for i in range(services):
                    conn.request("GET", "/", headers={"Host": f"svc{i}"})
                    resp = conn.getresponse()
                    resp.read()
                    bad += resp.status != 200
                conn.close()
                took = time.monotonic() - t0
                time.sleep(settle)
                after = rss_kib(proc.pid)
                if TRACE:
                    dump_trace(proc)
                return {"rss": after, "before": before, "bad": bad, "took": took}
            finally:
                stop(proc)
        finally:
            stop(backend)


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
    args = ap.parse_args()
    if args.tracemalloc:
        TRACE[:] = [os.path.abspath(args.tracemalloc), str(args.frames)]
    kinds = args.only or ["local", "daemonset", "bound"]
    print("| scenario | target MiB | median MiB | min | max | notes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for kind in kinds:
        results = [bound(args.services, args.endpoints, args.settle) if kind == "bound"
                   else idle(kind, args.settle) for _ in range(args.runs)]
        mib = [r["rss"] / 1024 for r in results]
        note, target = "idle", 40
        if kind == "bound":
            target = 48
            note = (f"{args.services} services x {args.endpoints} endpoints; before requests "
                    f"{statistics.median(r['before'] for r in results) / 1024:.1f} MiB; "
                    f"non-200: {sum(r['bad'] for r in results)}; "
                    f"{statistics.median(r['took'] for r in results):.1f} s for the requests")
        print(f"| {kind} | {target} | {statistics.median(mib):.1f} | {min(mib):.1f} | "
              f"{max(mib):.1f} | {note} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
