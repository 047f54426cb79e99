"""Kubernetes objects as the k8s namer needs them: JSON -> endpoints and ports (pure).

What Linkerd's ``EndpointsNamer`` reads from the API, as plain values:

* an ``Endpoints`` object (core/v1) or a service's ``EndpointSlice`` objects
  (``discovery.k8s.io/v1`` or ``v1beta1``) become :class:`ServiceEndpoints`: one
  :class:`Subset` per subset or slice, each with its **ready** addresses (an IP and
  the ``nodeName`` of its pod, when known) and its TCP ports by name;
* a ``Service`` becomes its port map: ``port`` number -> ``targetPort`` (a number,
  or a port name; an omitted ``targetPort`` is the port itself).

Then :func:`named_port` and :func:`numbered_port` give the address set of a dtab
name's ``<port>`` segment, or ``None`` when the port does not exist (the namer
answers ``Neg``, so dtab fallback applies). Unlike Linkerd, which merges every
subset's ports before pairing them with every subset's addresses, a named port
pairs only the addresses of the subsets that have it (each subset is a set of
addresses *with* a set of ports, which is what the API means).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from dtab import Address

__all__ = ["NODE_NAME", "Endpoint", "ServiceEndpoints", "Subset", "endpoints_from_json",
           "endpoints_from_slices", "named_port", "numbered_port", "port_map_from_service"]

#: the address metadata key the hostNetwork transformers match on (Linkerd's Metadata.nodeName)
NODE_NAME = "nodeName"
_SLICE_HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready pod address."""

    ip: str
    node_name: str | None = None

    def address(self, port: int) -> Address:
        meta = ((NODE_NAME, self.node_name),) if self.node_name else ()
        return Address(self.ip, port, meta)


@dataclass(frozen=True, slots=True)
class Subset:
    """Addresses that all serve the same ports (an Endpoints subset, or one slice)."""

    endpoints: frozenset[Endpoint]
    ports: tuple[tuple[str, int], ...]  # (name, number); unnamed ports have name ""

    def port(self, name: str) -> int | None:
        for port_name, number in self.ports:
            if port_name == name:
                return number
        return None


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """What the API says about one service's endpoints; ``EMPTY`` when it has none."""

    subsets: tuple[Subset, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.subsets


EMPTY = ServiceEndpoints()


def _tcp(port: Mapping[str, Any]) -> bool:
    return str(port.get("protocol") or "TCP").upper() == "TCP"


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 65535:
        return None
    return value


def _ports(items: Any) -> tuple[tuple[str, int], ...]:
    out = []
    for port in items or ():
        if not isinstance(port, Mapping) or not _tcp(port):
            continue
        number = _number(port.get("port"))
        if number is not None:
            out.append((str(port.get("name") or ""), number))
    return tuple(sorted(out))


def _ip(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def endpoints_from_json(obj: Mapping[str, Any] | None) -> ServiceEndpoints:
    """A core/v1 ``Endpoints`` object (``None``: absent); ``notReadyAddresses`` are left out."""
    if not obj:
        return EMPTY
    subsets = []
    for subset in obj.get("subsets") or ():
        if not isinstance(subset, Mapping):
            continue
        endpoints = frozenset(
            Endpoint(ip, a.get("nodeName") or None)
            for a in subset.get("addresses") or () if isinstance(a, Mapping)
            for ip in (_ip(a.get("ip")),) if ip is not None)
        ports = _ports(subset.get("ports"))
        if endpoints and ports:
            subsets.append(Subset(endpoints, ports))
    return ServiceEndpoints(tuple(subsets)) if subsets else EMPTY


def _slice_ready(endpoint: Mapping[str, Any]) -> bool:
    conditions = endpoint.get("conditions") or {}
    # an unset "ready" means ready (both versions); v1 adds serving/terminating
    return conditions.get("ready", True) is not False


def _slice_node(endpoint: Mapping[str, Any]) -> str | None:
    node = endpoint.get("nodeName")  # discovery.k8s.io/v1
    if not node:
        node = (endpoint.get("topology") or {}).get(_SLICE_HOSTNAME)  # v1beta1
    return node or None


def endpoints_from_slices(slices: Iterable[Mapping[str, Any]]) -> ServiceEndpoints:
    """The ``EndpointSlice`` objects of one service (``discovery.k8s.io/v1`` or ``v1beta1``),
    each a subset: its ready endpoints (every IP of each) with its TCP ports."""
    subsets = []
    for obj in slices:
        if str(obj.get("addressType") or "IPv4") not in ("IPv4", "IPv6"):
            continue  # FQDN slices name hosts, not pod IPs
        endpoints = frozenset(
            Endpoint(ip, _slice_node(e))
            for e in obj.get("endpoints") or () if isinstance(e, Mapping) and _slice_ready(e)
            for ip in (_ip(a) for a in e.get("addresses") or ()) if ip is not None)
        ports = _ports(obj.get("ports"))
        if endpoints and ports:
            subsets.append(Subset(endpoints, ports))
    subsets.sort(key=lambda s: (s.ports, sorted(e.ip for e in s.endpoints)))
    return ServiceEndpoints(tuple(subsets)) if subsets else EMPTY


def port_map_from_service(obj: Mapping[str, Any] | None) -> dict[int, int | str]:
    """A ``Service``'s TCP ports: ``port`` -> ``targetPort`` (number or name); ``{}`` if absent."""
    out: dict[int, int | str] = {}
    if not obj:
        return out
    for port in (obj.get("spec") or {}).get("ports") or ():
        if not isinstance(port, Mapping) or not _tcp(port):
            continue
        number = _number(port.get("port"))
        if number is None:
            continue
        target = port.get("targetPort")
        if isinstance(target, str) and target:
            out[number] = int(target) if target.isdigit() else target
        else:
            out[number] = _number(target) or number
    return out


def named_port(eps: ServiceEndpoints, name: str) -> frozenset[Address] | None:
    """Every ready address of the subsets that have port ``name``; ``None`` if none has it."""
    found = False
    out: set[Address] = set()
    for subset in eps.subsets:
        number = subset.port(name)
        if number is not None:
            found = True
            out.update(e.address(number) for e in subset.endpoints)
    return frozenset(out) if found else None


def numbered_port(eps: ServiceEndpoints, port_map: Mapping[int, int | str],
                  number: int) -> frozenset[Address] | None:
    """Service port ``number`` through its ``targetPort``: a number is used on every ready
    address, a name is looked up like a named port; ``None`` when the Service has no such
    port (or no endpoints at all, so that dtab fallback applies)."""
    target = port_map.get(number)
    if target is None or eps.empty:
        return None
    if isinstance(target, str):
        return named_port(eps, target)
    return frozenset(e.address(target) for s in eps.subsets for e in s.endpoints)
