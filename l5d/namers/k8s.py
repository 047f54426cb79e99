"""``io.l5d.k8s`` and ``io.l5d.k8s.ns``: names bound to Kubernetes endpoints (Twisted shell).

``/#/io.l5d.k8s/<namespace>/<port>/<service>[/<label value>]/<residual...>``
(``io.l5d.k8s.ns``: ``/<port>/<service>...`` in the namespace its ``envVar`` names),
as Linkerd's ``EndpointsNamer``:

* the namespace, port, service (and label value) segments are lower-cased;
* ``<port>`` is a port *name* of the service's endpoints, or a *number*: a port of
  the Service, mapped through its ``targetPort`` (numeric, or named and then looked up
  like a named port). Only TCP ports;
* only ready addresses; each carries its pod's ``nodeName`` as metadata;
* the bound id is ``<prefix>/<namespace>/<port>/<service>[/<label value>]``;
* ``Neg`` (so dtab fallback applies) for a missing Endpoints object or Service, a
  port neither has, no subsets at all (scaled to zero), and a missing label value
  when ``labelSelector`` is set; the same name binds again when pods come back;
* ``PENDING`` until the watches of the name have listed once (requests wait up to the
  router's binding timeout); after that, an unreachable API keeps the last known state.

Endpoints come from core/v1 ``Endpoints`` (Linkerd's source), or from
``EndpointSlice`` objects with ``discovery: endpointSlices``. Watches are shared
(:class:`~l5d.k8s.watches.Watches`); :attr:`K8sNamer.generation` is theirs.
Reactor-thread only.
"""

from __future__ import annotations

from typing import Any

from dtab import NEG, PENDING, AddrBound, BoundName, Leaf, Ok, Path
from dtab.activity import State
from l5d.k8s.model import (
    endpoints_from_json, endpoints_from_slices, named_port, numbered_port, port_map_from_service,
)
from l5d.k8s.reflector import Reflector
from l5d.k8s.watches import Watches

__all__ = ["DISCOVERY_ENDPOINTS", "DISCOVERY_SLICES", "K8sNamer"]

DISCOVERY_ENDPOINTS = "endpoints"
DISCOVERY_SLICES = "endpointSlices"


def _port_number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 5 and 0 < int(text) <= 65535 else None


def _one(reflector: Reflector) -> Any:
    """The object of a single-name watch, or ``None``."""
    objects = reflector.objects
    return next(iter(objects.values())) if objects else None


class K8sNamer:
    """One configured ``io.l5d.k8s`` (or ``.ns``) namer.

    :param prefix: its dtab prefix, e.g. ``/#/io.l5d.k8s`` (the start of bound ids).
    :param label_selector: Linkerd's ``labelSelector``: the label whose value is the
        fourth segment.
    :param namespace: ``io.l5d.k8s.ns``'s fixed namespace (then paths start at the port).
    :param pin: its watches never expire (the daemonset transformer's gateways).
    """

    def __init__(self, watches: Watches, prefix: Path, *, label_selector: str | None = None,
                 namespace: str | None = None, discovery: str = DISCOVERY_ENDPOINTS,
                 pin: bool = False) -> None:
        self.watches = watches
        self.prefix = prefix
        self.label_selector = label_selector
        self.namespace = namespace
        self.discovery = discovery
        self._pin = pin  # its watches never expire (a transformer's gateways)
        self._ids: dict[Path, Reflector] = {}  # bound ids looked up, for /bound-names.json
        self._source: Any = None  # the reflector the last lookup read endpoints from

    def register_stats(self, scope: Any) -> None:
        """``#/io.l5d.k8s/watches`` (open now), ``lists``, ``relists`` and ``errors`` of the
        watches this namer uses (shared with every namer that reaches the API the same way)."""
        watches = self.watches
        scope.function_gauge(lambda: watches.counts()["watches"], "watches")
        for name in ("lists", "relists", "errors"):
            scope.function_counter(lambda n=name: watches.counts()[n], name)

    @property
    def generation(self) -> int:
        return self.watches.generation

    def start(self) -> None:
        self.watches.start()

    def stop(self) -> None:
        self.watches.stop()

    def lookup(self, path: Path) -> State:
        fixed = 2 if self.namespace is not None else 3
        size = fixed + (1 if self.label_selector else 0)
        if len(path) < fixed:
            return Ok(NEG)
        if len(path) < size:
            return Ok(NEG)  # the label value segment is missing
        segments = tuple(e.lower() for e in path.elems[:size])
        if self.namespace is not None:
            namespace, port, service = self.namespace, segments[0], segments[1]
        else:
            namespace, port, service = segments[0], segments[1], segments[2]
        selector = f"{self.label_selector}={segments[-1]}" if self.label_selector else None
        bound_id = self.prefix + Path(segments)
        eps = self._endpoints(namespace, service, selector)
        if eps is PENDING:
            return PENDING
        number = _port_number(port)
        if number is None:
            addresses = named_port(eps, port)
        else:
            svc = self.watches.service(namespace, service, selector, pin=self._pin)
            if not svc.synced:
                return PENDING
            addresses = numbered_port(eps, port_map_from_service(_one(svc)), number)
        self._ids[bound_id] = self._source
        if addresses is None:
            return Ok(NEG)
        return Ok(Leaf(BoundName(bound_id, path.drop(size), AddrBound(addresses))))

    def _endpoints(self, namespace: str, service: str, selector: str | None) -> Any:
        if self.discovery == DISCOVERY_SLICES:
            version = self.watches.slice_api()
            if version is None:
                return PENDING
            if version:
                slices = self.watches.endpoint_slices(namespace, service, selector,
                                                      pin=self._pin)
                if slices is None or not slices.synced:
                    return PENDING
                self._source = slices
                return endpoints_from_slices(slices.objects.values())
        reflector = self._source = self.watches.endpoints(namespace, service, selector,
                                                          pin=self._pin)
        if not reflector.synced:
            return PENDING
        return endpoints_from_json(_one(reflector))

    # -- what operators look at ----------------------------------------------------
    def bound_names(self) -> list[str]:
        """Ids of the names looked up whose watches are still kept (``/bound-names.json``)."""
        for bound_id in [i for i, r in self._ids.items() if not r.running]:
            del self._ids[bound_id]
        return sorted(i.show() for i in self._ids)

    def state_json(self) -> dict[str, Any]:
        """Linkerd's ``/namer_state/<prefix>.json``: per watched object, its state and the
        watch's record (``endpoints`` and ``portMappings`` by ``namespace/name[:selector]``)."""
        out: dict[str, Any] = {"endpoints": {}, "portMappings": {}}
        for key, reflector in self.watches.reflectors():
            path, params = key[0], dict(key[1])
            parts = path.strip("/").split("/")
            namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts else ""
            name = params.get("fieldSelector", "").partition("=")[2] or params.get(
                "labelSelector", "")
            selector = params.get("labelSelector") if "fieldSelector" in params else None
            label = f"{namespace}/{name}" + (f":{selector}" if selector else "")
            section = "portMappings" if path.endswith("/services") else "endpoints"
            out[section][label] = {
                "state": {"state": "ok" if reflector.synced else "pending",
                          "value": list(reflector.objects.values()),
                          "lastError": reflector.last_error},
                "watch": dict(reflector.state),
            }
        return out
