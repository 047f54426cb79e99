"""The cluster's layout: names, addresses, ports, services, pod placement and file paths.

Node N is the network namespace ``l5dsim-nodeN`` with the veth ``l5dsim-vN`` on the
bridge; 10.244.N.1 is its l5d "pod", 10.244.N.2, .3, ... its demo pods.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from .procs import SimError

HERE = Path(__file__).resolve().parents[1]   # examples/k8s-sim
ROOT = HERE.parents[1]
SIM_PY = HERE / "sim.py"                     # the entry point; the sim re-runs it in nodes
MANIFEST = ROOT / "daemonset" / "l5d.yml"
RBAC_MANIFEST = ROOT / "daemonset" / "l5d-rbac.yml"
HELLOWORLD = ROOT / "examples" / "helloworld.py"
DEFAULT_STATE = Path(os.environ.get("L5D_SIM_STATE", "/tmp/l5d-k8s-sim"))

PREFIX = "l5dsim"
BRIDGE = f"{PREFIX}-br0"
BRIDGE_IP = "10.244.0.1"
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")
API_PORT = 443                      # KUBERNETES_SERVICE_PORT, forwarded to the real server
API_HOST = "kubernetes.default.svc"  # a SAN of the launcher's serving certificate
SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
NAMESPACE = "default"
SA_NAME = "l5d"
MAX_NODES = 50

L5D_PORTS = {"outgoing": 4140, "incoming": 4141, "admin": 9990}
KUBECTL_PROXY_PORT = 8001
#: service -> (port name, port, helloworld args)
SERVICES = {
    "hello": ("http", 7777, ["-text", "Hello", "-target", "world"]),
    "world-v1": ("http", 7778, ["-text", "world"]),
}


def node_name(n: int) -> str:
    """:return: the Kubernetes name of node ``n`` (``node-2``)."""
    return f"node-{n}"


def netns(n: int) -> str:
    """:return: the network namespace of node ``n`` (``l5dsim-node2``)."""
    return f"{PREFIX}-node{n}"


def veth(n: int) -> str:
    """:return: the bridge end of node ``n``'s veth (``l5dsim-v2``)."""
    return f"{PREFIX}-v{n}"


def l5d_ip(n: int) -> str:
    """:return: the IP of node ``n``'s l5d "pod" (``10.244.2.1``)."""
    return f"10.244.{n}.1"


def node_index(text: str) -> int:
    """``node-2``, ``2`` or ``l5dsim-node2`` -> 2.

    :raises SimError: if ``text`` names no node.
    """
    m = re.fullmatch(rf"(?:{PREFIX}-node|node-)?(\d+)", text.strip())
    if not m:
        raise SimError(f"not a node: {text!r} (use node-N)")
    return int(m.group(1))


def placement(nodes: int) -> dict[str, list[int]]:
    """hello on every node but the last, world-v1 only on the last (a different node).

    :return: service -> the nodes its pods run on.
    """
    return {"hello": list(range(1, nodes)), "world-v1": [nodes]}
