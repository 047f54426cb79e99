"""The command line of ``sim.py``: ``up``, ``down``, ``status``, ``curl``, ``exec``,
``scale``, ``restart-l5d``, ``update-secret``, ``measure``, the faults ``kill-pod``,
``kill-worker`` and ``restart-apiserver``, and the internal ``_control`` and ``_probe``.

``--state DIR`` may come before or after the command.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from . import __doc__ as PACKAGE_DOC
from .apiserver import control_main, restart_apiserver
from .cluster import curl, down, exec_in, restart_l5d, status, up, update_secret
from .layout import (
    API_HOST,
    API_PORT,
    DEFAULT_STATE,
    SIM_PY,
    netns,
    node_index,
    node_name,
    placement,
)
from .faults import KUBELET_NOTICE_S, kill_pod, kill_worker
from .measure import measure
from .probe import probe_main
from .procs import SimError
from .scaling import parse_placement, scale
from .state import State


def parser() -> argparse.ArgumentParser:
    """:return: the parser of ``sim.py``'s arguments."""
    p = argparse.ArgumentParser(description=PACKAGE_DOC.splitlines()[0])
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
    s.add_argument("--manifest", type=Path, default=None,
                   help="a DaemonSet manifest (daemonset/l5d-tls.yml): its ConfigMap's "
                        "config, with its secret volumes mounted")
    s = sub.add_parser("update-secret", help="swap in new Secret data (certificate "
                                             "rotation) on every node, as the kubelet does")
    s.add_argument("--manifest", type=Path, required=True)
    s = sub.add_parser("measure", help="how fast Endpoints changes take effect")
    s.add_argument("--from-node", default="node-2")
    s.add_argument("--rounds", type=int, default=1)
    s.add_argument("--interval-ms", type=float, default=5)
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("kill-pod", help="SIGKILL a pod's process; the kubelet's part follows "
                                         "(out of the Endpoints, restarted, back in)")
    s.add_argument("pod", help="a pod name from `status`, e.g. hello-n1-2")
    s.add_argument("--notice-s", type=float, default=KUBELET_NOTICE_S,
                   help=f"seconds until its address leaves the Endpoints "
                        f"(default {KUBELET_NOTICE_S})")
    s = sub.add_parser("kill-worker", help="kill one worker process of NODE's l5d")
    s.add_argument("node")
    s.add_argument("--signal", default="TERM", choices=("TERM", "KILL"),
                   help="TERM (default: it drains) or KILL (a crash)")
    sub.add_parser("restart-apiserver", help="restart kube-apiserver (same port, etcd, data)")
    sub.add_parser("_control")
    s = sub.add_parser("_probe")
    s.add_argument("--proxy", required=True)
    s.add_argument("--url", required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--interval-ms", type=float, default=5)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one ``sim.py`` command.

    :return: the exit status: 0 when it did what it says, 1 when it could not (the
        reason on stderr), or ``status`` says the sim is down, or ``measure`` did not settle.
    """
    args = parser().parse_args(argv)
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
            print_up(up(state, args.nodes, args.config, args.keep_on_failure))
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
            return curl(args.node, args.url, args.curl_args)
        if args.cmd == "exec":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            return exec_in(args.node, cmd or ["sh"], timeout=3600)
        if args.cmd == "scale":
            r = scale(state, args.service, parse_placement(args.placement))
            print(f"{r.service}: endpoints {r.endpoints} (added {r.added}, removed {r.removed}); "
                  f"write took {1000 * (r.write_done - r.write_started):.0f} ms")
            return 0
        if args.cmd == "restart-l5d":
            restart_l5d(state, args.config, kubectl_proxy=args.kubectl_proxy,
                        service_account=not args.no_service_account, manifest=args.manifest)
            print("l5d restarted on every node; http://hello/ answers through each")
            return 0
        if args.cmd == "update-secret":
            for path in update_secret(state, args.manifest):
                print(f"{path}: new files on every node")
            return 0
        if args.cmd == "kill-pod":
            r = kill_pod(state, args.pod, notice_s=args.notice_s)
            print(f"{r.pod}: pid {r.old_pid} killed; out of the Endpoints after "
                  f"{r.out_of_endpoints - r.killed:.1f} s; pid {r.new_pid} ready after "
                  f"{r.ready - r.killed:.1f} s; back in the Endpoints after "
                  f"{r.back_in_endpoints - r.killed:.1f} s")
            return 0
        if args.cmd == "kill-worker":
            pid = kill_worker(state, node_index(args.node), getattr(signal, "SIG" + args.signal))
            print(f"killed worker {pid}" if pid else "no worker: l5d runs one process")
            return 0
        if args.cmd == "restart-apiserver":
            info = restart_apiserver(state)
            print(f"kube-apiserver restarted (pid {info['apiserver_pid']}, {info['url']}) "
                  f"in {info['restart_s']:.1f} s")
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


def print_up(st: State) -> None:
    """Print what ``up`` made, and commands to try."""
    last = st.nodes
    me = f"sudo {sys.executable} {SIM_PY}" + (
        "" if st.dir == DEFAULT_STATE.resolve() else f" --state {st.dir}")
    hello_nodes = ", ".join(node_name(n) for n in placement(last)["hello"])
    print(f"""l5d k8s sim is up ({st.nodes} nodes, state {st.dir}).
  API server: {st.api['url']} (from the nodes: https://{API_HOST}:{API_PORT})
  l5d on node-N: 10.244.N.1 (:4140 outgoing, :4141 incoming, :9990 admin)
  hello on {hello_nodes}; world-v1 on {node_name(last)}
Try:
  sudo ip netns exec {netns(last)} curl -s -x {node_name(last)}:4140 http://hello/
  sudo ip netns exec {netns(1)} curl -s -x node-1:4140 http://world-v1/headers
  {me} curl node-2 http://world/
  {me} status
  {me} scale world-v1 {node_name(last)}=2
  {me} measure
  {me} down""")


def print_status(info: dict) -> None:
    """Print :func:`~.cluster.status`'s summary for a person."""
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
