#!/usr/bin/env python3
"""A three-node Kubernetes-style cluster made of network namespaces, with l5d as a DaemonSet.

Run as root, with the project's virtualenv (it has ``requests`` and ``yaml``)::

    sudo .venv/bin/python examples/k8s-sim/sim.py up [--nodes 3] [--state DIR]
    sudo .venv/bin/python examples/k8s-sim/sim.py curl node-2 http://hello/
    sudo .venv/bin/python examples/k8s-sim/sim.py status
    sudo .venv/bin/python examples/k8s-sim/sim.py scale world-v1 node-3=2
    sudo .venv/bin/python examples/k8s-sim/sim.py measure
    sudo .venv/bin/python examples/k8s-sim/sim.py down

What ``up`` builds (see README.md beside this file):

* a real kube-apiserver 1.20.2 + etcd on 127.0.0.1 (the project's launcher,
  ``tests/helpers/k8s_api.py``), run by a small control process that also forwards
  ``10.244.0.1:443`` (on the bridge) to it, so pods reach it as
  ``https://kubernetes.default.svc:443``;
* a Linux bridge ``l5dsim-br0`` (10.244.0.1/16) in the root namespace and, per node N, a
  network namespace ``l5dsim-nodeN`` joined to it by a veth, holding 10.244.N.1 (the
  node's l5d pod) and 10.244.N.2, .3, ... (demo pods); ``/etc/netns/l5dsim-nodeN/hosts``
  maps ``kubernetes.default.svc`` and every ``node-N`` (to that node's l5d, as its
  hostPort 4140 would be reached). No default route: nothing leaves 10.244.0.0/16;
* in namespace ``default``: ServiceAccount ``l5d`` with the rules of
  ``daemonset/l5d-rbac.yml``, the ``l5d-config`` ConfigMap of ``daemonset/l5d.yml``,
  Services + Endpoints ``hello`` (http 7777), ``world-v1`` (http 7778) and ``l5d``
  (outgoing 4140, incoming 4141, admin 9990), each address with its ``nodeName``;
* per node, l5d running that ConfigMap's ``config.yaml`` verbatim, with a pod's
  environment and the service-account files at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` (a private mount namespace: the
  host's own directory, if any, is never touched), and the hello/world pods
  (``examples/helloworld.py``): hello on every node but the last, world-v1 on the last.

Everything is recorded in the state directory (default ``/tmp/l5d-k8s-sim``) so
``down`` removes it all, also after a crash; ``down`` also works with no state at all
(it finds the namespaces and the bridge by their ``l5dsim`` prefix).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PREFIX = "l5dsim"
BRIDGE = f"{PREFIX}-br0"
BRIDGE_IP = "10.244.0.1"
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")
API_PORT = 443                      # KUBERNETES_SERVICE_PORT, forwarded to the real server
API_HOST = "kubernetes.default.svc"  # a SAN of the launcher's serving certificate
SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE = "default"
SA_NAME = "l5d"
DEFAULT_STATE = Path(os.environ.get("L5D_SIM_STATE", "/tmp/l5d-k8s-sim"))
MANIFEST = ROOT / "daemonset" / "l5d.yml"
RBAC_MANIFEST = ROOT / "daemonset" / "l5d-rbac.yml"
HELLOWORLD = ROOT / "examples" / "helloworld.py"
MAX_NODES = 50

L5D_PORTS = {"outgoing": 4140, "incoming": 4141, "admin": 9990}
KUBECTL_PROXY_PORT = 8001
#: service -> (port name, port, helloworld args)
SERVICES = {
    "hello": ("http", 7777, ["-text", "Hello", "-target", "world"]),
    "world-v1": ("http", 7778, ["-text", "world"]),
}
DEFAULT_RULES = [
    {"apiGroups": [""], "resources": ["endpoints", "services", "pods"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
     "verbs": ["get", "list", "watch"]},
]
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

# Bind-mounts the service-account directory at SA_PATH inside a private mount namespace.
# $1 source dir, $2 target (SA_PATH resolved), $3 where to put a tmpfs first when the
# target does not exist (its nearest existing ancestor: the mkdir then happens in the
# tmpfs, never on the host's file system), "" when it exists; then exec the rest.
MOUNT_SCRIPT = """set -e
src=$1; target=$2; tmpfs_at=$3; shift 3
if [ -n "$tmpfs_at" ]; then mount -t tmpfs -o size=1m,mode=0755 l5dsim "$tmpfs_at"; fi
mkdir -p "$target"
mount --bind "$src" "$target"
mount -o remount,bind,ro "$target"
exec "$@"
"""


class SimError(Exception):
    """Something the sim could not do; the message says what and why."""


# --- small helpers -----------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"sim: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, check: bool = True, timeout: float = CMD_TIMEOUT_S,
        input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing its output. :raises SimError: if ``check`` and it fails."""
    done = subprocess.run(argv, input=input_text, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise SimError(f"{' '.join(argv)} failed ({done.returncode}): "
                       f"{(done.stderr or done.stdout).strip()}")
    return done


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def tail(path: Path | str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def alive(pid: int | None) -> bool:
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
    """Poll ``probe`` until true; :raises SimError: on timeout or when ``failed()`` says why."""
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


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(host: str, port: int, target: str, headers: dict | None = None,
             timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict, bytes]:
    """One plain HTTP/1.1 GET (no proxy settings from the environment)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", target, headers=headers or {})
        rsp = conn.getresponse()
        return rsp.status, {k.lower(): v for k, v in rsp.getheaders()}, rsp.read()
    finally:
        conn.close()


# --- names and addresses -----------------------------------------------------------------


def node_name(n: int) -> str:
    return f"node-{n}"


def netns(n: int) -> str:
    return f"{PREFIX}-node{n}"


def veth(n: int) -> str:
    return f"{PREFIX}-v{n}"


def l5d_ip(n: int) -> str:
    return f"10.244.{n}.1"


def node_index(text: str) -> int:
    """``node-2``, ``2`` or ``l5dsim-node2`` -> 2."""
    m = re.fullmatch(rf"(?:{PREFIX}-node|node-)?(\d+)", text.strip())
    if not m:
        raise SimError(f"not a node: {text!r} (use node-N)")
    return int(m.group(1))


def pod_ip_of(body: bytes | str) -> str | None:
    """The pod IP a helloworld answer names last (``world (10.244.3.2)!`` -> 10.244.3.2)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found = re.findall(r"\((10\.244\.\d+\.\d+)\)", text)
    return found[-1] if found else None


# --- state -------------------------------------------------------------------------------


@dataclass
class Pod:
    name: str
    service: str
    node: int
    ip: str
    port: int
    pid: int = 0
    log: str = ""
    in_service: bool = False


@dataclass
class State:
    """What ``up`` made; ``state.json`` in the state directory."""

    dir: Path
    nodes: int = 0
    namespaces: list = field(default_factory=list)
    bridge: str = BRIDGE
    python: str = sys.executable
    control_pid: int = 0
    api: dict = field(default_factory=dict)
    l5d: dict = field(default_factory=dict)          # node-N -> {pid, log, config, proxy_pid}
    config: str = ""                                 # the l5d config file every node runs
    config_source: str = ""
    kubectl_proxy: bool = False
    pods: list[Pod] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    def save(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k not in ("dir", "pods")}
        data["pods"] = [p.__dict__ for p in self.pods]
        write_json(self.file, data)

    @classmethod
    def load(cls, state_dir: Path) -> State | None:
        data = read_json(Path(state_dir) / "state.json")
        if not isinstance(data, dict):
            return None
        pods = [Pod(**p) for p in data.pop("pods", [])]
        st = cls(dir=Path(state_dir), **data)
        st.pods = pods
        return st

    def pods_of(self, service: str) -> list[Pod]:
        return [p for p in self.pods if p.service == service]


# --- the API server: a control process runs it and forwards 10.244.0.1:443 to it ----------


def attach_api(info: dict) -> Any:
    """An ``ApiServer`` object for the server the control process runs (admin helpers only).

    ``tests/helpers/k8s_api.py``'s ``ApiServer`` is subclassed, not edited: its helpers
    (``put_endpoints``, ``service_account_dir``...) need only the URL, CA and admin token.
    """
    from tests.helpers.k8s_api import ApiServer, Pki

    class AttachedApi(ApiServer):
        def __init__(self) -> None:
            super().__init__(info["workdir"])
            self.state_dir = Path(info["state_dir"])
            pki = self.state_dir / "pki"
            self.pki = Pki(ca_file=pki / "ca.crt", ca_key=pki / "ca.key",
                           cert_file=pki / "apiserver.crt", key_file=pki / "apiserver.key",
                           sa_key=pki / "sa.key", sa_pub=pki / "sa.pub",
                           token_file=pki / "tokens.csv", admin_token=info["admin_token"])
            self.port = int(info["port"])
            self._session = self._admin_session()

        def stop(self) -> None:  # the control process owns the server
            if self._session is not None:
                self._session.close()
                self._session = None

    return AttachedApi()


def control_main(state_dir: Path) -> int:
    """The control process: the API server (dies with this process) and the forwarder."""
    import asyncio

    from tests.helpers.k8s_api import ApiServer

    api_json = state_dir / "api.json"
    api = ApiServer(state_dir / "api")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        api.start()
    except BaseException as e:
        write_json(api_json, {"error": f"{type(e).__name__}: {e}"})
        raise
    try:
        async def pipe(reader: Any, writer: Any) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, asyncio.CancelledError):
                pass

        async def handle(reader: Any, writer: Any) -> None:
            try:
                up_r, up_w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", api.port), 5)
            except (OSError, TimeoutError):
                writer.close()
                return
            try:
                await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
            finally:
                for w in (writer, up_w):
                    w.close()

        async def serve() -> None:
            server = await asyncio.start_server(handle, BRIDGE_IP, API_PORT, reuse_address=True)
            write_json(api_json, {
                "url": api.url, "port": api.port, "ca_file": api.ca_file,
                "admin_token": api.admin_token, "state_dir": str(api.state_dir),
                "workdir": str(api.workdir), "forward": f"{BRIDGE_IP}:{API_PORT}",
                "control_pid": os.getpid(),
                "etcd_pid": api._etcd.pid if api._etcd else 0,
                "apiserver_pid": api._apiserver.pid if api._apiserver else 0,
            })
            async with server:
                while not stop.is_set():
                    # The bridge gone (a `down` without this state dir) ends us too.
                    if not Path(f"/sys/class/net/{BRIDGE}").exists():
                        break
                    await asyncio.sleep(0.5)

        asyncio.run(serve())
    finally:
        api.stop()
    return 0


def start_control(st: State) -> dict:
    """Start the control process and wait for its ``api.json``."""
    api_json = st.dir / "api.json"
    api_json.unlink(missing_ok=True)
    logf = st.dir / "logs" / "control.log"
    with open(logf, "ab") as out:
        proc = subprocess.Popen([st.python, str(Path(__file__).resolve()), "_control",
                                 "--state", str(st.dir)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True, cwd=ROOT)
    st.control_pid = proc.pid
    st.save()

    def failed() -> str | None:
        info = read_json(api_json)
        if isinstance(info, dict) and "error" in info:
            return f"{info['error']}\n{tail(logf)}"
        if proc.poll() is not None:
            return f"control process exited ({proc.returncode}):\n{tail(logf)}"
        return None

    wait_for("API server", lambda: isinstance(read_json(api_json), dict)
             and "url" in read_json(api_json), CONTROL_READY_S, failed)
    info = read_json(api_json)
    st.api = info
    st.save()
    return info


# --- network -----------------------------------------------------------------------------


def sim_netns() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.startswith(f"{PREFIX}-"))


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def check_cidr_free() -> None:
    """Refuse to start if this host already uses 10.244.0.0/16 (our traffic must stay ours)."""
    addrs = json.loads(run(["ip", "-j", "-4", "addr"]).stdout or "[]")
    for link in addrs:
        for a in link.get("addr_info", []):
            if ipaddress.ip_address(a["local"]) in CLUSTER_CIDR and link["ifname"] != BRIDGE:
                raise SimError(f"{link['ifname']} already has {a['local']} (in {CLUSTER_CIDR})")
    routes = json.loads(run(["ip", "-j", "-4", "route"]).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if dst and dst != "default" and r.get("dev") != BRIDGE:
            net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            if net.overlaps(CLUSTER_CIDR):
                raise SimError(f"route {dst} dev {r.get('dev')} overlaps {CLUSTER_CIDR}")


def hosts_file(nodes: int) -> str:
    lines = ["# written by examples/k8s-sim/sim.py",
             "127.0.0.1\tlocalhost",
             f"{BRIDGE_IP}\tkubernetes kubernetes.default {API_HOST} {API_HOST}.cluster.local"]
    lines += [f"{l5d_ip(n)}\t{node_name(n)}" for n in range(1, nodes + 1)]
    return "\n".join(lines) + "\n"


def network_up(nodes: int) -> None:
    check_cidr_free()
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{BRIDGE_IP}/16", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    for n in range(1, nodes + 1):
        ns = netns(n)
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", veth(n), "type", "veth", "peer", "name", "eth0",
             "netns", ns])
        run(["ip", "link", "set", veth(n), "master", BRIDGE])
        run(["ip", "link", "set", veth(n), "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{l5d_ip(n)}/16", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        etc = Path("/etc/netns") / ns   # `ip netns exec` bind-mounts these over /etc/...
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file(nodes))
        # No DNS server: every name the sim uses is in hosts; lookups stay on loopback.
        (etc / "resolv.conf").write_text("# written by examples/k8s-sim/sim.py\n"
                                         "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


def add_pod_ip(n: int, ip: str) -> None:
    done = run(["ip", "-n", netns(n), "addr", "add", f"{ip}/16", "dev", "eth0"], check=False)
    if done.returncode != 0 and "File exists" not in done.stderr:
        raise SimError(f"cannot add {ip} to {netns(n)}: {done.stderr.strip()}")


def network_down() -> None:
    for ns in sim_netns():
        run(["ip", "netns", "del", ns], check=False)
    if Path("/sys/class/net").exists():
        for dev in sorted(os.listdir("/sys/class/net")):
            if dev.startswith(f"{PREFIX}-"):
                run(["ip", "link", "del", dev], check=False)
    etc = Path("/etc/netns")
    if etc.is_dir():
        for d in etc.iterdir():
            if d.name.startswith(f"{PREFIX}-"):
                shutil.rmtree(d, ignore_errors=True)


# --- processes in a node -----------------------------------------------------------------


def base_env() -> dict:
    return {"PATH": PATH_ENV, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def pod_env(n: int, ip: str) -> dict:
    return dict(base_env(), POD_IP=ip, NODE_NAME=node_name(n), POD_NAMESPACE=NAMESPACE,
                HOME="/root")


def spawn_in(n: int, argv: list[str], env: dict, logf: Path) -> int:
    """Start ``argv`` in node ``n``'s network namespace, detached; :return: its pid.

    ``ip netns exec``, ``unshare`` and ``sh -c 'exec ...'`` all exec, so the pid is the
    program's own.
    """
    logf.parent.mkdir(parents=True, exist_ok=True)
    with open(logf, "ab") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", netns(n), *argv], env=env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    return proc.pid


def sa_mount_args(sa_dir: Path) -> list[str]:
    """``unshare -m sh -c MOUNT_SCRIPT ...`` arguments that show ``sa_dir`` at SA_PATH."""
    target = os.path.realpath(SA_PATH)
    tmpfs_at = ""
    if not os.path.isdir(target):
        ancestor = os.path.dirname(target)
        while not os.path.isdir(ancestor):
            ancestor = os.path.dirname(ancestor)
        if ancestor == "/":
            raise SimError(f"no directory to put a tmpfs on for {target}")
        tmpfs_at = ancestor
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT,
            "l5dsim-mount", str(sa_dir), target, tmpfs_at]


def start_l5d(st: State, n: int, *, service_account: bool = True) -> None:
    node = node_name(n)
    ndir = st.dir / node
    logf = st.dir / "logs" / f"l5d-{node}.log"
    env = pod_env(n, l5d_ip(n))
    argv = [st.python, "-m", "l5d", st.config]
    if service_account:
        env.update(KUBERNETES_SERVICE_HOST=API_HOST, KUBERNETES_SERVICE_PORT=str(API_PORT),
                   KUBERNETES_SERVICE_PORT_HTTPS=str(API_PORT))
        argv = sa_mount_args(ndir / "serviceaccount") + argv
    pid = spawn_in(n, argv, env, logf)
    entry = st.l5d.setdefault(node, {})
    entry.update(pid=pid, log=str(logf), config=st.config)
    st.save()


def l5d_ready(st: State, n: int) -> None:
    node = node_name(n)
    entry = st.l5d[node]
    wait_for(f"l5d on {node}", lambda: http_get(l5d_ip(n), L5D_PORTS["admin"], "/admin/ping",
                                                timeout=2)[0] == 200, L5D_READY_S,
             lambda: None if alive(entry["pid"]) else
             f"exited:\n{tail(entry['log'])}")


def start_kubectl_proxy(st: State, n: int) -> None:
    from tests.helpers.k8s_api import kubectl_binary

    node = node_name(n)
    ndir = st.dir / node
    sa = ndir / "serviceaccount"
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "sim",
                  "clusters": [{"name": "sim", "cluster": {
                      "server": f"https://{API_HOST}:{API_PORT}",
                      "certificate-authority": str(sa / "ca.crt")}}],
                  "users": [{"name": SA_NAME, "user": {"token": (sa / "token").read_text()}}],
                  "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": SA_NAME,
                                                           "namespace": NAMESPACE}}]}
    write_json(ndir / "kubeconfig", kubeconfig)  # JSON is YAML
    logf = st.dir / "logs" / f"kubectl-proxy-{node}.log"
    pid = spawn_in(n, [str(kubectl_binary()), f"--kubeconfig={ndir / 'kubeconfig'}",
                       f"--cache-dir={ndir / 'kube-cache'}", "proxy", "--address=127.0.0.1",
                       f"--port={KUBECTL_PROXY_PORT}"], dict(base_env(), HOME=str(ndir)), logf)
    st.l5d.setdefault(node, {})["proxy_pid"] = pid
    st.save()

    def answers() -> bool:
        done = run(["ip", "netns", "exec", netns(n), "curl", "-s", "-o", "/dev/null", "-w",
                    "%{http_code}", "--max-time", "2",
                    f"http://127.0.0.1:{KUBECTL_PROXY_PORT}/version"], check=False,
                   timeout=10)
        return done.stdout.strip() == "200"

    wait_for(f"kubectl proxy on {node}", answers, 30,
             lambda: None if alive(pid) else f"exited:\n{tail(logf)}", interval_s=0.3)


def start_pod(st: State, service: str, n: int) -> Pod:
    _, port, args = SERVICES[service]
    used = {p.ip for p in st.pods} | {l5d_ip(n)}
    k = 2
    while f"10.244.{n}.{k}" in used:
        k += 1
    if k > 254:
        raise SimError(f"{node_name(n)} is full")
    ip = f"10.244.{n}.{k}"
    add_pod_ip(n, ip)
    name = f"{service}-n{n}-{k}"
    env = pod_env(n, ip)
    if "-target" in args:
        env["http_proxy"] = f"{node_name(n)}:{L5D_PORTS['outgoing']}"  # as hello-world.yml
    logf = st.dir / "logs" / f"pod-{name}.log"
    pid = spawn_in(n, [st.python, str(HELLOWORLD), "-addr", f"{ip}:{port}", *args], env, logf)
    pod = Pod(name=name, service=service, node=n, ip=ip, port=port, pid=pid, log=str(logf))
    st.pods.append(pod)
    st.save()
    return pod


def pod_ready(pod: Pod) -> None:
    wait_for(f"pod {pod.name}", lambda: tcp_open(pod.ip, pod.port), POD_READY_S,
             lambda: None if alive(pod.pid) else f"exited:\n{tail(pod.log)}")


# --- API objects -------------------------------------------------------------------------


def load_yaml_docs(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def configmap_config(manifest: Path = MANIFEST) -> tuple[dict, str]:
    """The ``l5d-config`` ConfigMap of ``daemonset/l5d.yml`` and its ``config.yaml``."""
    if not manifest.exists():
        raise SimError(f"{manifest} does not exist (the DaemonSet manifest is needed)")
    for doc in load_yaml_docs(manifest):
        if doc.get("kind") == "ConfigMap" and doc.get("metadata", {}).get("name") == "l5d-config":
            text = (doc.get("data") or {}).get("config.yaml")
            if text:
                return doc, text
    raise SimError(f"{manifest}: no ConfigMap l5d-config with a config.yaml key")


def rbac_rules() -> list[dict]:
    """The rules of the ClusterRole in ``daemonset/l5d-rbac.yml`` (the project's least privilege)."""
    if RBAC_MANIFEST.exists():
        for doc in load_yaml_docs(RBAC_MANIFEST):
            if doc.get("kind") == "ClusterRole" and doc.get("rules"):
                return doc["rules"]
    return DEFAULT_RULES


def address(pod_or_ip: Any, n: int, name: str) -> dict:
    ip = pod_or_ip.ip if isinstance(pod_or_ip, Pod) else pod_or_ip
    return {"ip": ip, "nodeName": node_name(n),
            "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": name}}


def write_service_endpoints(api: Any, st: State, service: str) -> dict:
    port_name, port, _ = SERVICES[service]
    pods = [p for p in st.pods_of(service) if p.in_service]
    subsets = []
    if pods:
        subsets = [{"addresses": [address(p, p.node, p.name) for p in pods],
                    "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]
    return api.put_endpoints(NAMESPACE, service, subsets)


def write_l5d_endpoints(api: Any, st: State) -> None:
    addrs = [address(l5d_ip(n), n, f"l5d-{node_name(n)}") for n in range(1, st.nodes + 1)]
    api.put_endpoints(NAMESPACE, "l5d", [{
        "addresses": addrs,
        "ports": [{"name": k, "port": v, "protocol": "TCP"} for k, v in L5D_PORTS.items()]}])


def ensure_namespace(api: Any, name: str, wait_s: float = 15) -> None:
    """Wait for the API server's bootstrap to create ``name`` (it does so just after
    ``/readyz``); create it if it never does."""
    from tests.helpers.k8s_api import ApiError

    def exists() -> bool:
        try:
            api.get(f"/api/v1/namespaces/{name}")
            return True
        except ApiError as e:
            if e.status != 404:
                raise
            return False

    try:
        wait_for(f"namespace {name}", exists, wait_s, interval_s=0.2)
    except SimError:
        try:
            api.create_namespace(name)
        except ApiError as e:
            if e.status != 409:
                raise


def write_objects(api: Any, st: State, configmap: dict) -> None:
    ensure_namespace(api, NAMESPACE)
    rules = rbac_rules()
    for n in range(1, st.nodes + 1):
        api.service_account_dir(NAMESPACE, SA_NAME, rules,
                                st.dir / node_name(n) / "serviceaccount", cluster_wide=True)
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "l5d-config", "namespace": NAMESPACE},
          "data": configmap.get("data", {})}
    api.create_or_replace(f"/api/v1/namespaces/{NAMESPACE}/configmaps", cm)
    for service, (port_name, port, _) in SERVICES.items():
        api.apply_service(NAMESPACE, service, [{"name": port_name, "port": port}],
                          cluster_ip="None")
    api.apply_service(NAMESPACE, "l5d", [{"name": k, "port": v} for k, v in L5D_PORTS.items()])
    write_l5d_endpoints(api, st)


# --- requests through the mesh -----------------------------------------------------------


def via_l5d(n: int, url: str, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict, bytes]:
    """GET ``url`` through node ``n``'s l5d :4140, as an app with ``http_proxy`` would."""
    return http_get(l5d_ip(n), L5D_PORTS["outgoing"], url, timeout=timeout)


HELLO_RE = re.compile(r"Hello \((10\.244\.\d+\.\d+)\) world \((10\.244\.\d+\.\d+)\)!!")


ANSWER_RE = {"hello": HELLO_RE, "world-v1": re.compile(r"world \((10\.244\.\d+\.\d+)\)!")}


def mesh_ready(st: State) -> None:
    """Wait until every node's l5d routes every service: from each node, to the services
    with no pod there (node to node, 4140 -> the other node's 4141) and to those with one
    (4140 -> this l5d's own 4141 -> the local pod). hello's pods call ``world`` through
    their own node's l5d, so every outgoing and incoming router is on some path."""
    def answered(n: int, service: str) -> bool:
        status, _, body = via_l5d(n, f"http://{service}/", timeout=12)
        text = body.decode(errors="replace")
        return status == 200 and ANSWER_RE[service].fullmatch(text) is not None

    for n in range(1, st.nodes + 1):
        for service in SERVICES:
            wait_for(f"http://{service}/ from {node_name(n)}",
                     lambda n=n, service=service: answered(n, service), E2E_READY_S,
                     interval_s=0.3)


# --- commands ----------------------------------------------------------------------------


def up(state_dir: Path = DEFAULT_STATE, nodes: int = 3, config: Path | None = None,
       keep_on_failure: bool = False) -> State:
    """Bring the cluster up (see the module docstring). :raises SimError: on any failure
    (everything made so far is torn down unless ``keep_on_failure``)."""
    if os.geteuid() != 0:
        raise SimError("run as root (network namespaces, a bridge, mounts)")
    if not 2 <= nodes <= MAX_NODES:
        raise SimError(f"--nodes must be 2..{MAX_NODES}")
    for tool in ("ip", "unshare", "mount", "curl"):
        if shutil.which(tool, path=PATH_ENV) is None:
            raise SimError(f"{tool} not found (scripts/sysdeps.sh installs what is needed)")
    if sim_netns() or link_exists(BRIDGE):
        raise SimError(f"already up (namespaces {sim_netns()} / bridge {BRIDGE}); "
                       f"run `down` first")
    state_dir = Path(state_dir).resolve()
    old = State.load(state_dir)
    if old is not None and alive(old.control_pid) and "_control" in cmdline(old.control_pid):
        raise SimError(f"a control process of {state_dir} still runs; run `down` first")
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    st = State(dir=state_dir, nodes=nodes, namespaces=[netns(n) for n in range(1, nodes + 1)])
    if config is None:
        configmap, text = configmap_config()
        st.config_source = f"{MANIFEST.relative_to(ROOT)} ConfigMap l5d-config config.yaml"
    else:
        configmap, text = {"data": {"config.yaml": Path(config).read_text()}}, \
            Path(config).read_text()
        st.config_source = str(config)
    (state_dir / "l5d-config.yaml").write_text(text)
    st.config = str(state_dir / "l5d-config.yaml")
    st.save()
    started = time.monotonic()
    try:
        from tests.helpers.k8s_api import apiserver_binary, ensure_binaries

        if not os.access(apiserver_binary(), os.X_OK):
            log("building kube-apiserver + kubectl once (~5-6 min, cached in ~/.cache)")
        ensure_binaries()
        log(f"network: bridge {BRIDGE} {BRIDGE_IP}/16, namespaces "
            f"{', '.join(netns(n) for n in range(1, nodes + 1))}")
        network_up(nodes)
        info = start_control(st)
        log(f"API server {info['url']}, reached from the nodes as https://{API_HOST}:{API_PORT}")
        api = attach_api(info)
        try:
            write_objects(api, st, configmap)
            pods = []
            for service, where in placement(nodes).items():
                for n in where:
                    pods.append(start_pod(st, service, n))
            for n in range(1, nodes + 1):
                start_l5d(st, n)
            for pod in pods:
                pod_ready(pod)
                pod.in_service = True
            st.save()
            for service in SERVICES:
                write_service_endpoints(api, st, service)
        finally:
            api.stop()
        for n in range(1, nodes + 1):
            l5d_ready(st, n)
        mesh_ready(st)
    except BaseException:
        if not keep_on_failure:
            log("up failed; tearing down (logs stay in " + str(state_dir / "logs") + ")")
            down(state_dir)
        raise
    log(f"up in {time.monotonic() - started:.1f} s")
    return st


def placement(nodes: int) -> dict[str, list[int]]:
    """hello on every node but the last, world-v1 only on the last (a different node)."""
    return {"hello": list(range(1, nodes)), "world-v1": [nodes]}


def down(state_dir: Path = DEFAULT_STATE) -> None:
    """Tear everything down: idempotent, and works from whatever is left after a crash."""
    state_dir = Path(state_dir).resolve()
    st = State.load(state_dir)
    # 1. every process in our namespaces (l5d, pods, kubectl proxies, probes): ours.
    pids: list[int] = []
    for ns in sim_netns():
        out = run(["ip", "netns", "pids", ns], check=False).stdout
        pids += [int(p) for p in out.split() if p.isdigit()]
    if st is not None:  # also those recorded, in case a namespace is already gone
        for entry in st.l5d.values():
            for key in ("pid", "proxy_pid"):
                pid = entry.get(key)  # l5d and kubectl proxy name files in state_dir
                if pid and alive(pid) and str(state_dir) in cmdline(pid):
                    pids.append(pid)
        for pod in st.pods:
            if alive(pod.pid) and str(HELLOWORLD) in cmdline(pod.pid):
                pids.append(pod.pid)
    stop_pids(sorted(set(pids)))
    # 2. the control process (it stops the API server), then the server's own pids.
    api = read_json(state_dir / "api.json") or {}
    control = (st.control_pid if st else 0) or api.get("control_pid", 0)
    if control and alive(control) and "_control" in cmdline(control):
        stop_pids([control], CONTROL_STOP_S)
    leftovers = [api.get(k, 0) for k in ("apiserver_pid", "etcd_pid")]
    stop_pids([p for p in leftovers if p and alive(p)
               and api.get("state_dir", "//") in cmdline(p)])
    # 3. namespaces, veths, bridge, /etc/netns files.
    network_down()
    for name in ("state.json", "api.json"):
        (state_dir / name).unlink(missing_ok=True)


def status(state_dir: Path = DEFAULT_STATE) -> dict:
    """What runs, what answers, and the Endpoints in the API."""
    st = State.load(Path(state_dir).resolve())
    out: dict[str, Any] = {"state": str(state_dir), "namespaces": sim_netns(),
                           "bridge": link_exists(BRIDGE)}
    if st is None:
        out["up"] = False
        return out
    out["up"] = bool(out["namespaces"]) and alive(st.control_pid)
    out["api"] = {"url": st.api.get("url"), "forward": st.api.get("forward"),
                  "control_alive": alive(st.control_pid)}
    out["config"] = st.config_source
    out["kubectl_proxy"] = st.kubectl_proxy
    out["l5d"] = {}
    for n in range(1, st.nodes + 1):
        entry = st.l5d.get(node_name(n), {})
        try:
            ping = http_get(l5d_ip(n), L5D_PORTS["admin"], "/admin/ping", timeout=2)[0]
        except OSError as e:
            ping = str(e)
        out["l5d"][node_name(n)] = {"ip": l5d_ip(n), "pid": entry.get("pid"),
                                    "alive": alive(entry.get("pid")), "admin_ping": ping}
    out["pods"] = [{"name": p.name, "service": p.service, "node": node_name(p.node),
                    "ip": p.ip, "port": p.port, "alive": alive(p.pid),
                    "in_endpoints": p.in_service} for p in st.pods]
    if st.api.get("url") and alive(st.control_pid):
        api = attach_api(st.api)
        try:
            out["endpoints"] = {}
            for svc in [*SERVICES, "l5d"]:
                eps = api.get(f"/api/v1/namespaces/{NAMESPACE}/endpoints/{svc}")
                out["endpoints"][svc] = [f"{a['ip']}@{a.get('nodeName')}"
                                         for s in eps.get("subsets") or []
                                         for a in s.get("addresses") or []]
        except Exception as e:  # noqa: BLE001 - shown to the user
            out["endpoints"] = f"{type(e).__name__}: {e}"
        finally:
            api.stop()
    return out


def need_state(state_dir: Path) -> State:
    st = State.load(Path(state_dir).resolve())
    if st is None or not st.api:
        raise SimError(f"not up (no state in {state_dir})")
    return st


def parse_placement(specs: list[str]) -> dict[int, int]:
    """``["node-3=2", "node-1=0"]`` -> ``{3: 2, 1: 0}``."""
    want: dict[int, int] = {}
    for spec in specs:
        node, sep, count = spec.partition("=")
        if not sep or not count.isdigit():
            raise SimError(f"bad placement {spec!r} (use node-N=COUNT)")
        want[node_index(node)] = int(count)
    return want


@dataclass
class ScaleResult:
    """What one Endpoints write changed, and when (``time.monotonic()``)."""

    service: str
    endpoints: list[str]
    added: list[str]
    removed: list[str]
    write_started: float
    write_done: float


def scale(state_dir: Path, service: str, want: dict[int, int]) -> ScaleResult:
    """Set how many pods of ``service`` are in its Endpoints on each node named in ``want``.

    Pods are kept in IP order: a node that needs more takes back its running pods that
    were removed earlier, then starts new ones (and waits until they answer); a node that
    needs fewer drops its highest IPs from the Endpoints. Removed pods keep running (as
    a terminating pod still serving during its grace period), so a request that still
    reaches one is seen; ``down`` stops them. Then one Endpoints write.
    """
    if service not in SERVICES:
        raise SimError(f"unknown service {service!r} (known: {', '.join(SERVICES)})")
    st = need_state(state_dir)
    for n in want:
        if not 1 <= n <= st.nodes:
            raise SimError(f"no {node_name(n)} (nodes 1..{st.nodes})")
    before = {p.ip for p in st.pods_of(service) if p.in_service}
    fresh = []
    for n, count in want.items():
        mine = sorted((p for p in st.pods_of(service) if p.node == n and alive(p.pid)),
                      key=lambda p: ipaddress.ip_address(p.ip))
        while len(mine) < count:
            pod = start_pod(st, service, n)
            fresh.append(pod)
            mine.append(pod)
        for i, pod in enumerate(mine):
            pod.in_service = i < count
    for pod in fresh:
        pod_ready(pod)
    st.save()
    after = [p.ip for p in st.pods_of(service) if p.in_service]
    api = attach_api(st.api)
    try:
        t0 = time.monotonic()
        write_service_endpoints(api, st, service)
        t1 = time.monotonic()
    finally:
        api.stop()
    return ScaleResult(service, after, sorted(set(after) - before), sorted(before - set(after)),
                       t0, t1)


def restart_l5d(state_dir: Path, config: Path | None = None, *,
                kubectl_proxy: bool = False, service_account: bool = True) -> State:
    """Replace l5d on every node with ``config`` (default: the ConfigMap's), optionally
    with a ``kubectl proxy`` sidecar on the node's 127.0.0.1:8001 (Linkerd's way)."""
    st = need_state(state_dir)
    old = [e.get(k) for e in st.l5d.values() for k in ("pid", "proxy_pid") if e.get(k)]
    stop_pids([p for p in old if alive(p)], grace_s=15)
    for entry in st.l5d.values():
        entry.pop("proxy_pid", None)
    if config is None:
        _, text = configmap_config()
        st.config_source = f"{MANIFEST.relative_to(ROOT)} ConfigMap l5d-config config.yaml"
    else:
        text = Path(config).read_text()
        st.config_source = str(config)
    Path(st.config).write_text(text)
    st.kubectl_proxy = kubectl_proxy
    st.save()
    for n in range(1, st.nodes + 1):
        if kubectl_proxy:
            start_kubectl_proxy(st, n)
        start_l5d(st, n, service_account=service_account)
    for n in range(1, st.nodes + 1):
        l5d_ready(st, n)
    mesh_ready(st)
    return st


def exec_in(state_dir: Path, node: str, argv: list[str], timeout: float = 60) -> int:
    n = node_index(node)
    if netns(n) not in sim_netns():
        raise SimError(f"{node_name(n)} is not up")
    return subprocess.run(["ip", "netns", "exec", netns(n), *argv], env=base_env(),
                          timeout=timeout, check=False).returncode


def curl(state_dir: Path, node: str, url: str, extra: list[str]) -> int:
    """``curl -x node-N:4140 URL`` inside node N (as an app there would call)."""
    n = node_index(node)
    return exec_in(state_dir, node, ["curl", "-sS", "--max-time", "15", "-x",
                                     f"{node_name(n)}:{L5D_PORTS['outgoing']}", *extra, url])


# --- measuring how fast Endpoints changes take effect -------------------------------------


class Probe:
    """Requests that flow continuously from an app on node ``n`` through its l5d.

    A ``_probe`` process runs inside the node's namespace: it sends at most ``count``
    requests, one at a time on a keep-alive connection, ``interval_s`` apart, and
    prints one JSON line per answer (``time.monotonic()`` is the host's clock, so its
    times compare with ours). :attr:`records` fills as the lines arrive.
    """

    def __init__(self, st: State, n: int, url: str, count: int, interval_s: float) -> None:
        self.records: list[dict] = []
        self._lock = threading.Lock()
        argv = ["ip", "netns", "exec", netns(n), st.python, str(Path(__file__).resolve()),
                "_probe", "--proxy", f"{node_name(n)}:{L5D_PORTS['outgoing']}", "--url", url,
                "--count", str(count), "--interval-ms", str(interval_s * 1000)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=base_env(), text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.records.append(rec)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    @property
    def done(self) -> bool:
        return self.proc.poll() is not None and not self._reader.is_alive()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


def probe_main(proxy: str, url: str, count: int, interval_s: float) -> int:
    host, _, port = proxy.rpartition(":")
    conn = None
    for i in range(count):
        t0 = time.monotonic()
        rec: dict[str, Any] = {"i": i, "t0": t0}
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT_S)
            conn.request("GET", url)
            rsp = conn.getresponse()
            body = rsp.read()
            rec.update(status=rsp.status, pod=pod_ip_of(body),
                       body=body[:200].decode(errors="replace"))
            if rsp.status != 200:  # who answered it
                rec["via"] = rsp.getheader("via")
            if rsp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            rec.update(status=0, pod=None, body=f"{type(e).__name__}: {e}")
            if conn is not None:
                conn.close()
            conn = None
        rec["t1"] = time.monotonic()
        try:
            print(json.dumps(rec), flush=True)
        except BrokenPipeError:
            return 0
        left = interval_s - (rec["t1"] - t0)
        if left > 0:
            time.sleep(left)
    return 0


@dataclass
class Measurement:
    """One Endpoints change, as seen by requests flowing through the mesh.

    Times are in ms from the moment the Endpoints PUT was sent (``put_ms`` later it had
    been answered), and are request *send* times (``t0``): ``last_removed_ms`` is when
    the last request that still reached a removed pod was sent (``None``: nothing was
    removed), ``first_added_ms`` when the first request that reached an added pod was
    sent. Their resolution is one request interval (``interval_ms``).
    """

    scenario: str
    change: ScaleResult
    requests: int
    interval_ms: float
    put_ms: float
    settled: bool
    last_removed_ms: float | None
    first_added_ms: float | None
    stale_after_put: int              # requests sent after the PUT returned that reached a
    errors: int                       # removed pod; answers other than 200 after the PUT
    error_samples: list[str]
    pods_seen_after: dict[str, int]

    def line(self) -> str:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:+.1f} ms"
        return (f"{self.scenario}: {self.change.service} endpoints {self.change.endpoints} "
                f"(added {self.change.added}, removed {self.change.removed}); PUT "
                f"{self.put_ms:.1f} ms; last request to a removed pod {ms(self.last_removed_ms)}"
                f", first to an added pod {ms(self.first_added_ms)}; {self.stale_after_put} "
                f"sent after the PUT returned reached a removed pod; {self.errors} errors; "
                f"{self.requests} requests ~{self.interval_ms:.1f} ms apart; "
                f"settled: {self.settled}"
                + (f"; errors seen: {self.error_samples}" if self.errors else ""))

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["change"] = dict(self.change.__dict__)
        return out


def measure_change(state_dir: Path, scenario: str, from_node: int, url: str,
                   change: Callable[[], ScaleResult], *, warmup: int = 30,
                   stable: int = 100, count: int = 1500,
                   interval_s: float = 0.005) -> Measurement:
    """Let requests flow from an app on ``from_node`` through its l5d, make ``change`` (an
    Endpoints write), and see when the mesh stops reaching removed pods and starts
    reaching added ones.

    Settled: the last ``stable`` answers sent after the PUT returned all came (200) from
    pods now in the Endpoints, and an added pod, if any, was reached. Bounded by
    ``count`` requests (``settled`` is then False if it never settled).
    """
    st = need_state(state_dir)
    probe = Probe(st, from_node, url, count, interval_s)
    try:
        wait_for("probe warm-up", lambda: len(probe.snapshot()) >= warmup or probe.done, 60)
        result = change()
        added = set(result.added)
        current = set(result.endpoints)

        def settled() -> bool:
            recs = [r for r in probe.snapshot() if r["t0"] > result.write_done]
            if len(recs) < stable:
                return False
            if added and not any(r["pod"] in added for r in recs):
                return False
            return all(r["status"] == 200 and r["pod"] in current for r in recs[-stable:])

        while not settled() and not probe.done:
            time.sleep(0.02)
        ok = settled()
    finally:
        probe.stop()
    return summarize(scenario, result, probe.snapshot(), ok)


def summarize(scenario: str, result: ScaleResult, recs: list[dict], ok: bool) -> Measurement:
    """The figures of one :func:`measure_change` run (see :class:`Measurement`)."""
    removed, added = set(result.removed), set(result.added)
    t_put = result.write_started
    to_removed = [r["t0"] for r in recs if r["status"] == 200 and r.get("pod") in removed]
    to_added = [r["t0"] for r in recs if r["status"] == 200 and r.get("pod") in added]
    after = [r for r in recs if r["t0"] > result.write_done]
    errs = [r for r in recs if r["t1"] > t_put and r["status"] != 200]
    seen: dict[str, int] = {}
    for r in after:
        if r.get("pod"):
            seen[r["pod"]] = seen.get(r["pod"], 0) + 1
    gaps = [b["t0"] - a["t0"] for a, b in pairwise(recs)]
    return Measurement(
        scenario=scenario, change=result, requests=len(recs),
        interval_ms=1000 * sum(gaps) / len(gaps) if gaps else 0.0,
        put_ms=1000 * (result.write_done - t_put), settled=ok,
        last_removed_ms=1000 * (max(to_removed) - t_put) if removed and to_removed else None,
        first_added_ms=1000 * (min(to_added) - t_put) if added and to_added else None,
        stale_after_put=sum(1 for r in after if r.get("pod") in removed),
        errors=len(errs),
        error_samples=sorted({f"{r['status']} (Via: {r.get('via')}) {r['body'][:120]}"
                              for r in errs})[:5],
        pods_seen_after=seen)


def measure(state_dir: Path, from_node: int = 2, rounds: int = 1,
            interval_s: float = 0.005) -> list[Measurement]:
    """The standard sequence on world-v1 (all on the last node): scale up on the same node,
    remove one pod, move the service to node 1, move it back. Requests come from an app
    on ``from_node`` to ``http://world-v1/``."""
    st = need_state(state_dir)
    last = st.nodes
    url = "http://world-v1/"
    out = []
    for _ in range(rounds):
        steps = [
            ("scale up 1->2 (same node)", {last: 2}),
            ("remove 1 of 2 pods", {last: 1}),
            (f"move {node_name(last)} -> node-1", {last: 0, 1: 1}),
            (f"move node-1 -> {node_name(last)}", {1: 0, last: 1}),
        ]
        for name, want in steps:
            m = measure_change(state_dir, name, from_node, url,
                               lambda want=want: scale(state_dir, "world-v1", want),
                               interval_s=interval_s)
            out.append(m)
    return out


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state", type=Path, default=DEFAULT_STATE,
                   help=f"state directory (default {DEFAULT_STATE}, or $L5D_SIM_STATE)")
    common = argparse.ArgumentParser(add_help=False)  # --state after the command too
    common.add_argument("--state", type=Path, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    s = sub.add_parser("up", help="start the cluster")
    s.add_argument("--nodes", type=int, default=3)
    s.add_argument("--config", type=Path, default=None,
                   help="an l5d config instead of daemonset/l5d.yml's ConfigMap")
    s.add_argument("--keep-on-failure", action="store_true")
    sub.add_parser("down", help="tear everything down (idempotent)")
    s = sub.add_parser("status", help="what runs and answers")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("curl", help="curl URL through NODE's l5d, from inside NODE")
    s.add_argument("node")
    s.add_argument("url")
    s.add_argument("curl_args", nargs=argparse.REMAINDER)
    s = sub.add_parser("exec", help="run a command inside NODE's network namespace")
    s.add_argument("node")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("scale", help="set a service's pods per node, e.g. world-v1 node-3=2")
    s.add_argument("service")
    s.add_argument("placement", nargs="+")
    s = sub.add_parser("restart-l5d", help="run another l5d config on every node")
    s.add_argument("--config", type=Path, default=None,
                   help="default: daemonset/l5d.yml's ConfigMap")
    s.add_argument("--kubectl-proxy", action="store_true",
                   help="with a kubectl proxy on each node's localhost:8001 (Linkerd's way)")
    s.add_argument("--no-service-account", action="store_true",
                   help="no KUBERNETES_SERVICE_* env and no service-account files")
    s = sub.add_parser("measure", help="how fast Endpoints changes take effect")
    s.add_argument("--from-node", default="node-2")
    s.add_argument("--rounds", type=int, default=1)
    s.add_argument("--interval-ms", type=float, default=5)
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("_control")
    s = sub.add_parser("_probe")
    s.add_argument("--proxy", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--interval-ms", type=float, default=5)
    args = p.parse_args(argv)
    for rest in ("curl_args", "command"):  # a --state written after the command's own args
        extra = getattr(args, rest, None)
        while extra and "--state" in extra[:-1]:
            i = extra.index("--state")
            args.state = Path(extra[i + 1])
            del extra[i:i + 2]
    state = args.state
    try:
        if args.cmd == "_control":
            return control_main(state.resolve())
        if args.cmd == "_probe":
            return probe_main(args.proxy, args.url, args.count, args.interval_ms / 1000)
        if args.cmd == "up":
            st = up(state, args.nodes, args.config, args.keep_on_failure)
            last = st.nodes
            me = f"sudo {sys.executable} {Path(__file__).resolve()}" + (
                "" if st.dir == DEFAULT_STATE.resolve() else f" --state {st.dir}")
            print(f"""l5d k8s sim is up ({st.nodes} nodes, state {st.dir}).
  API server: {st.api['url']} (from the nodes: https://{API_HOST}:{API_PORT})
  l5d on node-N: 10.244.N.1 (:4140 outgoing, :4141 incoming, :9990 admin)
  hello on {', '.join(node_name(n) for n in placement(last)['hello'])}; world-v1 on {node_name(last)}
Try:
  sudo ip netns exec {netns(last)} curl -s -x {node_name(last)}:4140 http://hello/
  sudo ip netns exec {netns(1)} curl -s -x node-1:4140 http://world-v1/headers
  {me} curl node-2 http://world/
  {me} status
  {me} scale world-v1 {node_name(last)}=2
  {me} measure
  {me} down""")
            return 0
        if args.cmd == "down":
            down(state)
            print("down")
            return 0
        if args.cmd == "status":
            info = status(state)
            if args.json:
                print(json.dumps(info, indent=2))
            else:
                print_status(info)
            return 0 if info.get("up") else 1
        if args.cmd == "curl":
            return curl(state, args.node, args.url, args.curl_args)
        if args.cmd == "exec":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            return exec_in(state, args.node, cmd or ["sh"], timeout=3600)
        if args.cmd == "scale":
            r = scale(state, args.service, parse_placement(args.placement))
            print(f"{r.service}: endpoints {r.endpoints} (added {r.added}, removed {r.removed}); "
                  f"write took {1000 * (r.write_done - r.write_started):.0f} ms")
            return 0
        if args.cmd == "restart-l5d":
            restart_l5d(state, args.config, kubectl_proxy=args.kubectl_proxy,
                        service_account=not args.no_service_account)
            print("l5d restarted on every node; http://hello/ answers through each")
            return 0
        if args.cmd == "measure":
            ms = measure(state, node_index(args.from_node), args.rounds, args.interval_ms / 1000)
            for m in ms:
                print(json.dumps(m.to_json()) if args.json else m.line())
            if not all(m.settled for m in ms):
                return 1
            return 0
    except SimError as e:
        print(f"sim: {e}", file=sys.stderr)
        return 1
    return 2


def print_status(info: dict) -> None:
    print(f"state {info['state']}: {'up' if info.get('up') else 'down'}; namespaces "
          f"{' '.join(info['namespaces']) or '-'}; bridge {'yes' if info['bridge'] else 'no'}")
    if "api" in info:
        print(f"API {info['api']['url']} (nodes: {info['api']['forward']}), control alive: "
              f"{info['api']['control_alive']}")
        print(f"l5d config: {info['config']}" + (" + kubectl proxy" if info["kubectl_proxy"]
                                                 else ""))
        for node, l5d in info["l5d"].items():
            print(f"  {node}: l5d {l5d['ip']} pid {l5d['pid']} alive {l5d['alive']} "
                  f"admin ping {l5d['admin_ping']}")
        for pod in info["pods"]:
            print(f"  pod {pod['name']} {pod['ip']}:{pod['port']} on {pod['node']} alive "
                  f"{pod['alive']} {'in Endpoints' if pod['in_endpoints'] else 'removed'}")
        print(f"endpoints: {json.dumps(info.get('endpoints'))}")


if __name__ == "__main__":
    sys.exit(main())
