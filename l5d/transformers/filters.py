"""The per-host transformers: keep the addresses of this node or host, or change the port (pure).

As Linkerd's ``SubnetLocalTransformer``, ``MetadataFiltertingNameTreeTransformer`` and
``PortTransformer`` (``interpreter/per-host``, ``interpreter/subnet``):

* ``io.l5d.k8s.localnode``: the addresses on the same /24 as this pod's IP (one pod
  CIDR per node), or, with ``hostNetwork``, those whose ``nodeName`` is this node's;
  the id gets ``/%/io.l5d.k8s.localnode/<pod IP or node name>``;
* ``io.l5d.localhost`` / ``io.l5d.specificHost``: the addresses whose IP is one of
  this host's (or the configured host's);
* ``io.l5d.port``: every address on one port.

An address set a filter empties is ``ADDR_NEG`` inside the bound leaf: a 502 for the
request, never a dtab fallback (Linkerd's behaviour).
"""

from __future__ import annotations

from dtab import Address, BoundName, LeafTransformer, Path, filter_bound, port_bound, same_subnet
from l5d.k8s.model import NODE_NAME

__all__ = ["host_filter", "localnode", "port"]

#: the netmask the subnet transformers assume: one /24 pod CIDR per node
NODE_SUBNET_BITS = 24


def localnode(prefix: Path, *, host_network: bool, pod_ip: str | None,
              node_name: str | None) -> LeafTransformer:
    """``io.l5d.k8s.localnode``; ``prefix`` is the configured one (``/%/io.l5d.k8s.localnode``).

    :raises ValueError: when the variable it needs (``POD_IP``, or ``NODE_NAME`` with
        ``hostNetwork``) is not set, as Linkerd refuses to start.
    """
    if host_network:
        if not node_name:
            raise ValueError("io.l5d.k8s.localnode: hostNetwork needs NODE_NAME set to the "
                             "node's name")
        full = prefix + Path.of(node_name)

        def same_node(a: Address) -> bool:
            return a.meta_dict().get(NODE_NAME) == node_name

        return LeafTransformer("MetadataFilteringTransformer",
                               lambda b: filter_bound(b, full, same_node))
    if not pod_ip:
        raise ValueError("io.l5d.k8s.localnode: needs POD_IP set to the pod's IP")
    full = prefix + Path.of(pod_ip)

    def same_node_subnet(a: Address) -> bool:
        return same_subnet(a.ip, pod_ip, NODE_SUBNET_BITS)  # type: ignore[arg-type]

    return LeafTransformer("SubnetLocalTransformer",
                           lambda b: filter_bound(b, full, same_node_subnet))


def host_filter(prefix: Path, ips: tuple[str, ...]) -> LeafTransformer:
    """``io.l5d.localhost`` / ``io.l5d.specificHost``: addresses whose IP is one of ``ips``."""
    wanted = frozenset(Address(ip, 0).ip for ip in ips)

    def local(a: Address) -> bool:
        return a.ip in wanted

    return LeafTransformer("SubnetLocalTransformer", lambda b: filter_bound(b, prefix, local))


def port(prefix: Path, number: int) -> LeafTransformer:
    """``io.l5d.port``: every address on port ``number``."""
    def rewrite(bound: BoundName) -> BoundName:
        return port_bound(bound, prefix, number)

    return LeafTransformer("PortTransformer", rewrite)
