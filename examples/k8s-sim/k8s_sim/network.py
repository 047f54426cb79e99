"""The network: the bridge, one namespace per node with a veth on it, ``/etc/netns`` files.

``ip netns exec`` bind-mounts ``/etc/netns/l5dsim-nodeN/{hosts,resolv.conf}`` over
``/etc/...``, so every name the sim uses resolves from the hosts file and lookups stay
on loopback. Node namespaces have no default route: nothing leaves 10.244.0.0/16.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from pathlib import Path

from .layout import (
    API_HOST,
    BRIDGE,
    BRIDGE_IP,
    CLUSTER_CIDR,
    PREFIX,
    l5d_ip,
    netns,
    node_name,
    veth,
)
from .procs import SimError, run


def sim_netns() -> list[str]:
    """:return: the sim's network namespaces that exist (found by their prefix)."""
    out = run(["ip", "netns", "list"], check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.startswith(f"{PREFIX}-"))


def link_exists(name: str) -> bool:
    """:return: whether the root namespace has the link ``name``."""
    return Path(f"/sys/class/net/{name}").exists()


def check_cidr_free() -> None:
    """Refuse to start if this host already uses 10.244.0.0/16 (our traffic must stay ours).

    :raises SimError: naming the address or route in the way.
    """
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
    """:return: every node's ``/etc/hosts``: the API server's names and each ``node-N``."""
    lines = ["# written by examples/k8s-sim/sim.py",
             "127.0.0.1\tlocalhost",
             f"{BRIDGE_IP}\tkubernetes kubernetes.default {API_HOST} {API_HOST}.cluster.local"]
    lines += [f"{l5d_ip(n)}\t{node_name(n)}" for n in range(1, nodes + 1)]
    return "\n".join(lines) + "\n"


def network_up(nodes: int) -> None:
    """Make the bridge and ``nodes`` node namespaces, each with its l5d's address.

    :raises SimError: if 10.244.0.0/16 is taken or a step fails.
    """
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
        # a node's sysctl for l5d's workers (docs/workers.md): connections waiting in the
        # accept queue of a worker that stops listening move to another worker
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_migrate_req=1"],
            check=False)
        etc = Path("/etc/netns") / ns   # `ip netns exec` bind-mounts these over /etc/...
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(hosts_file(nodes))
        # No DNS server: every name the sim uses is in hosts; lookups stay on loopback.
        (etc / "resolv.conf").write_text("# written by examples/k8s-sim/sim.py\n"
                                         "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


def add_pod_ip(n: int, ip: str) -> None:
    """Give node ``n``'s ``eth0`` the pod address ``ip`` (already there is fine).

    :raises SimError: if ``ip`` cannot be added.
    """
    done = run(["ip", "-n", netns(n), "addr", "add", f"{ip}/16", "dev", "eth0"], check=False)
    if done.returncode != 0 and "File exists" not in done.stderr:
        raise SimError(f"cannot add {ip} to {netns(n)}: {done.stderr.strip()}")


def network_down() -> None:
    """Delete every ``l5dsim-*`` namespace, link and ``/etc/netns`` directory (idempotent)."""
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
