"""The cluster as a whole: ``up``, ``down``, ``status``, ``restart-l5d``, ``exec``, ``curl``.

``up`` plays the part of the kubelet and controller-manager: it starts the processes
and writes the Endpoints. Everything it makes is recorded in the state directory, so
``down`` removes it all, also after a crash; ``down`` also works with no state at all (it
finds the namespaces and the bridge by their ``l5dsim`` prefix).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .apiserver import attach_api, start_control
from .layout import (
    API_HOST,
    API_PORT,
    BRIDGE,
    BRIDGE_IP,
    DEFAULT_STATE,
    HELLOWORLD,
    L5D_PORTS,
    MAX_NODES,
    NAMESPACE,
    SERVICES,
    l5d_ip,
    netns,
    node_index,
    node_name,
    placement,
)
from .mesh import http_get, mesh_ready
from .network import link_exists, network_down, network_up, sim_netns
from .node_processes import (
    base_env,
    l5d_ready,
    secret_dir,
    pod_ready,
    start_kubectl_proxy,
    start_l5d,
    start_pod,
)
from .objects import configmap_config, l5d_config, write_objects, write_service_endpoints
from .secrets import secret_volumes, write_secret
from .procs import (
    CONTROL_STOP_S,
    PATH_ENV,
    SimError,
    alive,
    cmdline,
    log,
    run,
    stop_pids,
    wait_for,
)
from .state import State, need_state, read_json


def up(state_dir: Path = DEFAULT_STATE, nodes: int = 3, config: Path | None = None,
       keep_on_failure: bool = False) -> State:
    """Bring the cluster up (see README.md beside ``sim.py``).

    :param config: an l5d config file instead of the ConfigMap's ``config.yaml``.
    :param keep_on_failure: leave what was made so far when a step fails.
    :return: the state of the cluster, up and routing node to node.
    :raises SimError: on any failure (everything made so far is torn down unless
        ``keep_on_failure``).
    """
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
    configmap, text, st.config_source = l5d_config(config)
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
    # 4. the control process of a sim of another state directory ends by itself once
    # the bridge is gone (it looks every 0.5 s): wait for it, or an `up` right after
    # this makes the bridge again first and finds 10.244.0.1:443 still taken.
    try:
        wait_for("another sim's control process", lambda: not other_controls(),
                 CONTROL_STOP_S)
    except SimError as e:
        log(f"{e} (pids {other_controls()})")
    for name in ("state.json", "api.json"):
        (state_dir / name).unlink(missing_ok=True)


def other_controls() -> list[int]:
    """:return: the pids of every sim's control process (``sim.py _control``), from
    ``/proc`` (any checkout's ``examples/k8s-sim/sim.py``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = cmdline(int(entry)).split()
            if (len(argv) > 2 and argv[1].endswith("k8s-sim/sim.py") and "_control" in argv
                    and alive(int(entry))):
                found.append(int(entry))
    return found


def status(state_dir: Path = DEFAULT_STATE) -> dict:
    """What runs, what answers, and the Endpoints in the API.

    :return: a JSON-able summary (``sim.py status --json`` prints it).
    """
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


def restart_l5d(state_dir: Path, config: Path | None = None, *,
                kubectl_proxy: bool = False, service_account: bool = True,
                manifest: Path | None = None) -> State:
    """Replace l5d on every node with ``config`` (default: the ConfigMap's), optionally
    with a ``kubectl proxy`` sidecar on the node's 127.0.0.1:8001 (Linkerd's way).

    :param service_account: give l5d a pod's in-cluster environment and credentials.
    :param manifest: a DaemonSet manifest (``daemonset/l5d-tls.yml``): its ConfigMap's
        config, and its DaemonSet's secret volumes mounted as the kubelet would.
    :raises SimError: if the sim is not up, or l5d does not route again.
    """
    st = need_state(state_dir)
    old = [e.get(k) for e in st.l5d.values() for k in ("pid", "proxy_pid") if e.get(k)]
    stop_pids([p for p in old if alive(p)], grace_s=15)
    for entry in st.l5d.values():
        entry.pop("proxy_pid", None)
    st.secret_mounts = []
    if manifest is not None:
        _, text = configmap_config(manifest)
        st.config_source = f"{manifest} ConfigMap l5d-config config.yaml"
        for path, data in secret_volumes(manifest):
            for n in range(1, st.nodes + 1):
                write_secret(secret_dir(st, n, path), data)
            st.secret_mounts.append(path)
    else:
        _, text, st.config_source = l5d_config(config)
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


def update_secret(state_dir: Path, manifest: Path) -> list[str]:
    """Give every node the Secret data of ``manifest`` for the secret volumes l5d runs
    with, swapped in as the kubelet does after a ``kubectl apply`` (no restart).

    :return: the mount paths updated.
    :raises SimError: if the sim is not up or runs none of these volumes.
    """
    st = need_state(state_dir)
    done = []
    for path, data in secret_volumes(manifest):
        if path not in st.secret_mounts:
            continue
        for n in range(1, st.nodes + 1):
            write_secret(secret_dir(st, n, path), data)
        done.append(path)
    if not done:
        raise SimError(f"l5d runs none of the secret volumes of {manifest} "
                       f"(restart-l5d --manifest first)")
    return done


def exec_in(node: str, argv: list[str], timeout: float = 60) -> int:
    """Run ``argv`` inside ``node``'s network namespace, attached to this terminal.

    :return: its exit status.
    :raises SimError: if that node is not up.
    """
    n = node_index(node)
    if netns(n) not in sim_netns():
        raise SimError(f"{node_name(n)} is not up")
    return subprocess.run(["ip", "netns", "exec", netns(n), *argv], env=base_env(),
                          timeout=timeout, check=False).returncode


def curl(node: str, url: str, extra: list[str]) -> int:
    """``curl -x node-N:4140 URL`` inside node N (as an app there would call).

    :param extra: more curl arguments.
    :return: curl's exit status.
    """
    n = node_index(node)
    return exec_in(node, ["curl", "-sS", "--max-time", "15", "-x",
                          f"{node_name(n)}:{L5D_PORTS['outgoing']}", *extra, url])
