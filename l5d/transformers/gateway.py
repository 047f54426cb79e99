"""``io.l5d.k8s.daemonset``: send each destination to the l5d pod on its node (pure core).

Linkerd's ``SubnetGatewayTransformer`` / ``MetadataGatewayTransformer``: the
gateways are the endpoints of the DaemonSet's own Service port
(``/<namespace>/<port>/<service>``, bound through a k8s namer, e.g. every node's
l5d at ``<pod IP>:4141``); each address of a bound name is replaced by the gateways
on the same /24 (one pod CIDR per node), or, with ``hostNetwork``, by those whose
``nodeName`` is the address's. An address whose node has no l5d pod maps to nothing;
a name left with no address at all is ``ADDR_NEG`` (a 502, no fallback). The id
gets ``/%/io.l5d.k8s.daemonset/<namespace>/<port>/<service>`` in front.

While the gateways' watch has not listed yet the transformer answers ``PENDING``;
its generation is the namer's, so a DaemonSet pod that moves re-binds every name.
"""

from __future__ import annotations

from typing import Any

from dtab import AddrBound, Address, BoundName, LeafTransformer, Leaf, NEG, Ok, Path
from dtab import gateway_bound, same_subnet
from l5d.k8s.model import NODE_NAME
from l5d.transformers.filters import NODE_SUBNET_BITS

__all__ = ["daemonset"]


def _same_subnet(a: Address, gateway: Address) -> bool:
    return same_subnet(a.ip, gateway.ip, NODE_SUBNET_BITS)


def _same_node(a: Address, gateway: Address) -> bool:
    node = a.meta_dict().get(NODE_NAME)
    return node is not None and node == gateway.meta_dict().get(NODE_NAME)


def gateways(namer: Any, path: Path) -> frozenset[Address] | None:
    """The gateway addresses ``namer`` binds ``path`` to (empty when Neg); ``None`` while
    pending or failed."""
    state = namer.lookup(path)
    if not isinstance(state, Ok):
        return None
    tree = state.value
    if tree is NEG:
        return frozenset()
    if isinstance(tree, Leaf) and isinstance(tree.value, BoundName):
        addr = tree.value.addr
        return addr.addresses if isinstance(addr, AddrBound) else frozenset()
    return frozenset()


def daemonset(prefix: Path, namer: Any, namespace: str, port: str, service: str, *,
              host_network: bool) -> LeafTransformer:
    """The transformer; ``namer`` is a k8s namer (``lookup`` of ``/<ns>/<port>/<svc>``)."""
    path = Path.of(namespace, port, service)
    match = _same_node if host_network else _same_subnet
    name = "MetadataGatewayTransformer" if host_network else "SubnetGatewayTransformer"

    def rewrite(bound: BoundName) -> BoundName | None:
        found = gateways(namer, path)
        return None if found is None else gateway_bound(bound, prefix, found, match)

    return LeafTransformer(name, rewrite, generation=lambda: namer.generation)
