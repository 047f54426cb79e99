"""Kubernetes Ingress resources -> routing rules, and matching a request (pure).

The facts of Linkerd's ``IngressCache``: Ingresses are tried in turn; within one,
the first rule whose host and path match wins, else its default backend (unless
``ignoreDefaultBackends``). A rule's host must equal the request's host (port
left out); a rule without a host matches any. A path with ``pathType: Exact``
must equal the request path, ``Prefix`` matches whole segments (``/api`` matches
``/api`` and ``/api/x``, not ``/apis``), and ``ImplementationSpecific`` (or none,
as in the old API) is Linkerd's: a regular expression that must match the whole
path. An Ingress whose ``kubernetes.io/ingress.class`` annotation (or
``spec.ingressClassName``) names another class is not ours. Both
``networking.k8s.io/v1`` backends (``service: {name, port: {number|name}}``) and
the ``v1beta1`` ones (``serviceName``, ``servicePort``) are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["Backend", "IngressRule", "IngressSpec", "match", "read_ingresses", "slim"]

CLASS_ANNOTATION = "kubernetes.io/ingress.class"


@dataclass(frozen=True, slots=True)
class Backend:
    namespace: str
    port: str
    service: str


@dataclass(frozen=True, slots=True)
class IngressRule:
    host: str | None
    path: str | None
    path_type: str
    backend: Backend

    def matches(self, host: str | None, path: str) -> bool:
        if self.host is not None and self.host != host:
            return False
        if not self.path:
            return True
        if self.path_type == "Exact":
            return path == self.path
        if self.path_type == "Prefix":
            prefix = self.path.rstrip("/")
            return path == prefix or path.startswith(prefix + "/") or not prefix
        try:
            return re.fullmatch(self.path, path) is not None
        except re.error:
            return False


@dataclass(frozen=True, slots=True)
class IngressSpec:
    name: str
    rules: tuple[IngressRule, ...]
    default: Backend | None


def _backend(namespace: str, raw: Any) -> Backend | None:
    if not isinstance(raw, dict):
        return None
    service = raw.get("service")
    if isinstance(service, dict):  # networking.k8s.io/v1
        port = service.get("port") or {}
        value = port.get("number", port.get("name")) if isinstance(port, dict) else None
        name = service.get("name")
    else:  # extensions / networking.k8s.io v1beta1
        value, name = raw.get("servicePort"), raw.get("serviceName")
    if not name or value in (None, ""):
        return None
    return Backend(namespace, str(value), str(name))


def _spec(obj: Any, ingress_class: str) -> IngressSpec | None:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    wanted = (meta.get("annotations") or {}).get(CLASS_ANNOTATION) or spec.get("ingressClassName")
    if wanted is not None and wanted != ingress_class:
        return None
    namespace = meta.get("namespace") or "default"
    rules = []
    for rule in spec.get("rules") or ():
        host = rule.get("host") or None
        for p in ((rule.get("http") or {}).get("paths") or ()):
            backend = _backend(namespace, p.get("backend"))
            if backend is not None:
                rules.append(IngressRule(host, p.get("path") or None,
                                         p.get("pathType") or "ImplementationSpecific",
                                         backend))
    default = _backend(namespace, spec.get("defaultBackend") or spec.get("backend"))
    return IngressSpec(f"{namespace}/{meta.get('name', '')}", tuple(rules), default)


def slim(obj: Any) -> Any:
    """An Ingress with only what :func:`read_ingresses` reads (its name, namespace, class
    annotation and spec): what a control sends its workers."""
    if not isinstance(obj, dict):
        return obj
    meta = obj.get("metadata") or {}
    out_meta = {k: meta[k] for k in ("name", "namespace") if k in meta}
    cls = (meta.get("annotations") or {}).get(CLASS_ANNOTATION)
    if cls is not None:
        out_meta["annotations"] = {CLASS_ANNOTATION: cls}
    return {"metadata": out_meta, "spec": obj.get("spec")}


def read_ingresses(objects: Iterable[Any], ingress_class: str) -> tuple[IngressSpec, ...]:
    """The Ingresses of ``ingress_class`` among ``objects`` (API JSON), by namespace/name."""
    specs = (_spec(obj, ingress_class) for obj in objects if isinstance(obj, dict))
    return tuple(sorted((s for s in specs if s is not None), key=lambda s: s.name))


def match(specs: Iterable[IngressSpec], host: str | None, path: str,
          ignore_default_backends: bool = False) -> Backend | None:
    """The backend for a request to ``host`` (no port) and ``path`` (no query), or ``None``."""
    for spec in specs:
        for rule in spec.rules:
            if rule.matches(host, path):
                return rule.backend
        if spec.default is not None and not ignore_default_backends:
            return spec.default
    return None
