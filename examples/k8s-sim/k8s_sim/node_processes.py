"""What runs in a node's network namespace: l5d, a ``kubectl proxy`` sidecar, demo pods.

Each is started detached with ``ip netns exec`` and a pod's environment; its pid and
log are recorded in the state. l5d sees the service-account files at ``SA_PATH`` through
a private mount namespace, so the host's own directory, if any, is never touched.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from .layout import (
    API_HOST,
    API_PORT,
    HELLOWORLD,
    KUBECTL_PROXY_PORT,
    L5D_PORTS,
    NAMESPACE,
    ROOT,
    SA_NAME,
    SA_PATH,
    SERVICES,
    l5d_ip,
    netns,
    node_name,
)
from .mesh import http_get, tcp_open
from .network import add_pod_ip
from .procs import L5D_READY_S, PATH_ENV, POD_READY_S, SimError, alive, run, wait_for
from .state import Pod, State, tail, write_json

# Bind-mounts directories (the service account's at SA_PATH, secret volumes at their
# mountPath) inside a private mount namespace. Arguments: pairs "source target" (targets
# resolved), then "--", then the command to exec. A target that does not exist is made
# in a tmpfs put over its nearest existing ancestor (never on the host's file system),
# or in a tmpfs made for an earlier pair when the ancestor lies in it.
MOUNT_SCRIPT = """set -e
made=""
while [ "$1" != "--" ]; do
  src=$1; target=$2; shift 2
  if [ ! -d "$target" ]; then
    at=$(dirname "$target")
    while [ ! -d "$at" ]; do at=$(dirname "$at"); done
    inside=""
    for t in $made; do case "$at/" in "$t"/*) inside=1;; esac; done
    if [ -z "$inside" ]; then
      if [ "$at" = / ]; then echo "no directory to put a tmpfs on for $target" >&2; exit 1; fi
      mount -t tmpfs -o size=1m,mode=0755 l5dsim "$at"
      made="$made $at"
    fi
    mkdir -p "$target"
  fi
  mount --bind "$src" "$target"
  mount -o remount,bind,ro "$target"
done
shift
exec "$@"
"""


def base_env() -> dict:
    """:return: the environment every process the sim starts in a node gets."""
    return {"PATH": PATH_ENV, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


def pod_env(n: int, ip: str) -> dict:
    """:return: the environment of a pod with IP ``ip`` on node ``n`` (downward API)."""
    return dict(base_env(), POD_IP=ip, NODE_NAME=node_name(n), POD_NAMESPACE=NAMESPACE,
                HOME="/root")


def spawn_in(n: int, argv: list[str], env: dict, logf: Path) -> int:
    """Start ``argv`` in node ``n``'s network namespace, detached.

    ``ip netns exec``, ``unshare`` and ``sh -c 'exec ...'`` all exec, so the pid is the
    program's own.

    :return: its pid.
    """
    logf.parent.mkdir(parents=True, exist_ok=True)
    with open(logf, "ab") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", netns(n), *argv], env=env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    return proc.pid


def sa_mount_args(mounts: list[tuple[Path, str]]) -> list[str]:
    """``unshare -m sh -c MOUNT_SCRIPT ...`` arguments that show each directory at its
    path (``(directory, path)`` pairs, in order; the secret volumes first, so that a
    tmpfs they need never hides the service account's mount), up to the command.

    :raises SimError: if a target's nearest existing directory is ``/`` or ``/etc``
        (a tmpfs there would hide the node's names).
    """
    args = []
    for src, path in mounts:
        target = os.path.realpath(path)
        ancestor = target
        while not os.path.isdir(ancestor):
            ancestor = os.path.dirname(ancestor)
        if ancestor in ("/", "/etc"):
            raise SimError(f"no directory to put a tmpfs on for {target}")
        args += [str(src), target]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT,
            "l5dsim-mount", *args, "--"]


def admin_token(st: State) -> str:
    """The cluster's admin token (``STATE/admin-token``, made once, mode 0600): what the
    DaemonSet's Secret ``l5d-admin`` holds, given to every l5d as ``L5D_ADMIN_TOKEN``."""
    path = st.dir / "admin-token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24))
    return path.read_text().strip()


def start_l5d(st: State, n: int, *, service_account: bool = True) -> None:
    """Start l5d on node ``n`` with ``st.config``, as the DaemonSet's pod there.

    :param service_account: with ``KUBERNETES_SERVICE_*`` and the service-account files.
    """
    node = node_name(n)
    ndir = st.dir / node
    logf = st.dir / "logs" / f"l5d-{node}.log"
    env = pod_env(n, l5d_ip(n))
    env["L5D_ADMIN_TOKEN"] = admin_token(st)  # the Secret l5d-admin of daemonset/l5d.yml
    argv = [st.python, "-m", "l5d", st.config]
    mounts = [(secret_dir(st, n, path), path) for path in st.secret_mounts]
    if service_account:
        env.update(KUBERNETES_SERVICE_HOST=API_HOST, KUBERNETES_SERVICE_PORT=str(API_PORT),
                   KUBERNETES_SERVICE_PORT_HTTPS=str(API_PORT))
        mounts.append((ndir / "serviceaccount", SA_PATH))
    if mounts:
        argv = sa_mount_args(mounts) + argv
    pid = spawn_in(n, argv, env, logf)
    entry = st.l5d.setdefault(node, {})
    entry.update(pid=pid, log=str(logf), config=st.config)
    st.save()


def secret_dir(st: State, n: int, mount_path: str) -> Path:
    """Where node ``n``'s files of the secret volume mounted at ``mount_path`` are."""
    return st.dir / node_name(n) / "secrets" / mount_path.strip("/").replace("/", "_")


def l5d_ready(st: State, n: int) -> None:
    """Wait until node ``n``'s l5d answers ``/admin/ping``.

    :raises SimError: if it exits or is not ready within ``L5D_READY_S``.
    """
    node = node_name(n)
    entry = st.l5d[node]
    wait_for(f"l5d on {node}", lambda: http_get(l5d_ip(n), L5D_PORTS["admin"], "/admin/ping",
                                                timeout=2)[0] == 200, L5D_READY_S,
             lambda: None if alive(entry["pid"]) else
             f"exited:\n{tail(entry['log'])}")


def start_kubectl_proxy(st: State, n: int) -> None:
    """Start ``kubectl proxy`` on node ``n``'s 127.0.0.1:8001, with the service account's
    token, and wait until it answers (Linkerd's way to reach the API).

    :raises SimError: if it exits or does not answer within 30 s.
    """
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
    """Start a pod of ``service`` on node ``n``, at the node's lowest free address.

    It is not in the Endpoints yet (``in_service`` is false).

    :return: the pod, recorded in ``st``.
    :raises SimError: if the node has no address left.
    """
    port = SERVICES[service][1]
    used = {p.ip for p in st.pods} | {l5d_ip(n)}
    k = 2
    while f"10.244.{n}.{k}" in used:
        k += 1
    if k > 254:
        raise SimError(f"{node_name(n)} is full")
    ip = f"10.244.{n}.{k}"
    add_pod_ip(n, ip)
    name = f"{service}-n{n}-{k}"
    pod = Pod(name=name, service=service, node=n, ip=ip, port=port,
              log=str(st.dir / "logs" / f"pod-{name}.log"))
    pod.pid = run_pod(st, pod)
    st.pods.append(pod)
    st.save()
    return pod


def run_pod(st: State, pod: Pod) -> int:
    """Start ``pod``'s process (its container) at its address, appending to its log: for a
    new pod, and again after it died, as the kubelet restarts a container in the same pod.

    :return: the process's pid (``pod`` and the state are not changed).
    """
    _, _, args = SERVICES[pod.service]
    env = pod_env(pod.node, pod.ip)
    if "-target" in args:
        env["http_proxy"] = f"{node_name(pod.node)}:{L5D_PORTS['outgoing']}"  # as hello-world.yml
    return spawn_in(pod.node, [st.python, str(HELLOWORLD), "-addr", f"{pod.ip}:{pod.port}",
                               *args], env, Path(pod.log))


def pod_ready(pod: Pod) -> None:
    """Wait until ``pod`` accepts connections.

    :raises SimError: if it exits or is not ready within ``POD_READY_S``.
    """
    wait_for(f"pod {pod.name}", lambda: tcp_open(pod.ip, pod.port), POD_READY_S,
             lambda: None if alive(pod.pid) else f"exited:\n{tail(pod.log)}")
