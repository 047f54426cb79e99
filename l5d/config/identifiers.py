"""HTTP identifier configs: how a request becomes a name under ``dstPrefix`` (pure).

One frozen dataclass per Linkerd identifier ``kind``; see
``docs/config.md`` for the keys. These are configuration only: the
identifiers themselves arrive with the router (``l5d/router/identifier.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dtab import Path
from l5d.config._fields import Fields
from l5d.config.registry import PluginConfig, Registry

__all__ = [
    "DEFAULT_HEADER_IDENTIFIER_HEADER",
    "DEFAULT_HEADER_TOKEN_HEADER",
    "DEFAULT_PATH_SEGMENTS",
    "HeaderIdentifierConfig",
    "HeaderPathIdentifierConfig",
    "IngressIdentifierConfig",
    "HeaderTokenIdentifierConfig",
    "IDENTIFIERS",
    "IdentifierConfig",
    "MethodAndHostIdentifierConfig",
    "PathIdentifierConfig",
    "StaticIdentifierConfig",
]

IDENTIFIERS = Registry("identifiers", "l5d.identifiers")
"""Identifier kinds (config key ``routers[i].identifier``)."""

DEFAULT_HEADER_TOKEN_HEADER = "Host"
DEFAULT_HEADER_IDENTIFIER_HEADER = "l5d-name"
DEFAULT_PATH_SEGMENTS = 1
DEFAULT_HEADER_PATH_HEADER = ":path"


class IdentifierConfig(PluginConfig, registry=IDENTIFIERS):
    """Base of identifier configs; subclasses set ``kind``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HeaderTokenIdentifierConfig(IdentifierConfig):
    """``io.l5d.header.token`` (the default): the raw header value is one path segment.

    ``Host: hello:7777`` becomes ``/svc/hello:7777`` (not lower-cased, port kept).
    """

    kind: ClassVar[str] = "io.l5d.header.token"
    header: str = DEFAULT_HEADER_TOKEN_HEADER

    def __post_init__(self) -> None:
        _check_header(self.header)

    @classmethod
    def from_fields(cls, f: Fields) -> "HeaderTokenIdentifierConfig":
        return cls(header=f.string("header", DEFAULT_HEADER_TOKEN_HEADER))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "header": self.header}


@dataclass(frozen=True, slots=True)
class HeaderIdentifierConfig(IdentifierConfig):
    """``io.l5d.header``: the header value is read as a whole path (``/a/b``)."""

    kind: ClassVar[str] = "io.l5d.header"
    header: str = DEFAULT_HEADER_IDENTIFIER_HEADER

    def __post_init__(self) -> None:
        _check_header(self.header)

    @classmethod
    def from_fields(cls, f: Fields) -> "HeaderIdentifierConfig":
        return cls(header=f.string("header", DEFAULT_HEADER_IDENTIFIER_HEADER))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "header": self.header}


@dataclass(frozen=True, slots=True)
class MethodAndHostIdentifierConfig(IdentifierConfig):
    """``io.l5d.methodAndHost``: ``/1.1/<METHOD>/<host>`` (plus the URI path if asked)."""

    kind: ClassVar[str] = "io.l5d.methodAndHost"
    http_uri_in_dst: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> "MethodAndHostIdentifierConfig":
        return cls(http_uri_in_dst=f.boolean("httpUriInDst", False))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "httpUriInDst": self.http_uri_in_dst}


@dataclass(frozen=True, slots=True)
class PathIdentifierConfig(IdentifierConfig):
    """``io.l5d.path``: the first ``segments`` URI path segments; ``consume`` strips them."""

    kind: ClassVar[str] = "io.l5d.path"
    segments: int = DEFAULT_PATH_SEGMENTS
    consume: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.segments, bool) or not isinstance(self.segments, int) \
                or self.segments < 1:
            raise ValueError(f"segments: expected an integer >= 1, got {self.segments!r}")

    @classmethod
    def from_fields(cls, f: Fields) -> "PathIdentifierConfig":
        return cls(
            segments=f.integer("segments", DEFAULT_PATH_SEGMENTS, minimum=1),
            consume=f.boolean("consume", False),
        )

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "segments": self.segments, "consume": self.consume}


@dataclass(frozen=True, slots=True)
class HeaderPathIdentifierConfig(IdentifierConfig):
    """``io.l5d.header.path``: the path in ``header`` (default ``:path``, the request
    URI's path), cut to its first ``segments`` segments when given (all otherwise).
    ``GET /users/42?x=1`` is ``/svc/users/42``, or ``/svc/users`` with ``segments: 1``.
    """

    kind: ClassVar[str] = "io.l5d.header.path"
    header: str = DEFAULT_HEADER_PATH_HEADER
    segments: int | None = None

    def __post_init__(self) -> None:
        _check_header(self.header)
        if self.segments is not None and (isinstance(self.segments, bool)
                                          or not isinstance(self.segments, int)
                                          or self.segments < 1):
            raise ValueError(f"segments: expected an integer >= 1, got {self.segments!r}")

    @classmethod
    def from_fields(cls, f: Fields) -> "HeaderPathIdentifierConfig":
        return cls(header=f.string("header", DEFAULT_HEADER_PATH_HEADER),
                   segments=f.integer("segments", None, minimum=1))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "header": self.header}
        if self.segments is not None:
            out["segments"] = self.segments
        return out


@dataclass(frozen=True, slots=True)
class StaticIdentifierConfig(IdentifierConfig):
    """``io.l5d.static``: every request gets the fixed ``path`` (required)."""

    kind: ClassVar[str] = "io.l5d.static"
    path: Path

    @classmethod
    def from_fields(cls, f: Fields) -> "StaticIdentifierConfig":
        f.expect("kind", "path")
        return cls(path=f.path("path"))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path.show()}


DEFAULT_INGRESS_CLASS = "linkerd"


@dataclass(frozen=True, slots=True)
class IngressIdentifierConfig(IdentifierConfig):
    """``io.l5d.ingress``: the request's host and path matched against the rules of the
    Kubernetes Ingress resources (``networking.k8s.io/v1``, watched like Endpoints);
    the name is ``/<namespace>/<service port>/<service>`` of the backend that matches.

    :param namespace: watch this namespace only (``None``: all of them).
    :param ingress_class: ``ingressClassAnnotation``: an Ingress whose
        ``kubernetes.io/ingress.class`` annotation (or ``spec.ingressClassName``) names
        another class is left to its controller.
    :param ignore_default_backends: ``ignoreDefaultBackends``: an Ingress's default
        backend never matches.
    :param access: how the API is reached (Linkerd's ``host``/``port``, or l5d's
        ``serviceAccount``/``kubeconfig``), as for ``io.l5d.k8s``.
    """

    kind: ClassVar[str] = "io.l5d.ingress"
    namespace: str | None = None
    ingress_class: str = DEFAULT_INGRESS_CLASS
    ignore_default_backends: bool = False
    access: Any = None

    def __post_init__(self) -> None:
        from l5d.config.transformers import K8sAccessConfig

        if self.access is None:
            object.__setattr__(self, "access", K8sAccessConfig())
        if not isinstance(self.access, K8sAccessConfig):
            raise ValueError(f"access: expected a K8sAccessConfig, got {self.access!r}")
        if self.namespace is not None and (not isinstance(self.namespace, str)
                                           or not self.namespace or "/" in self.namespace):
            raise ValueError(f"namespace: expected a namespace name, got {self.namespace!r}")
        _check_header(self.ingress_class)

    @classmethod
    def from_fields(cls, f: Fields) -> "IngressIdentifierConfig":
        from l5d.config.transformers import ACCESS_KEYS, K8sAccessConfig

        f.expect("kind", "namespace", "ingressClassAnnotation", "ignoreDefaultBackends",
                 "host", "port", *ACCESS_KEYS)
        return cls(namespace=f.string("namespace", None),
                   ingress_class=f.string("ingressClassAnnotation", DEFAULT_INGRESS_CLASS),
                   ignore_default_backends=f.boolean("ignoreDefaultBackends", False),
                   access=K8sAccessConfig.read(f))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "ingressClassAnnotation": self.ingress_class,
                               "ignoreDefaultBackends": self.ignore_default_backends,
                               **self.access.to_json()}
        if self.namespace is not None:
            out["namespace"] = self.namespace
        return out


def _check_header(header: object) -> None:
    if not isinstance(header, str) or not header:
        raise ValueError(f"header: expected a non-empty string, got {header!r}")
