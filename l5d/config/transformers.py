"""Transformer configs: ``interpreter.transformers`` and a namer's ``transformers`` (pure).

Each kind is Linkerd's, with its keys and defaults (``linkerd/docs/transformer.md``).
Every transformer accepts ``prefix`` (Linkerd's, rarely used); the bound ids it
rewrites start with ``/%`` plus that prefix, or the kind's default prefix:

=========================  ==========================================  =========================
kind                       keys                                        default prefix
=========================  ==========================================  =========================
``io.l5d.k8s.daemonset``   ``namespace``, ``service``, ``port``        ``/io.l5d.k8s.daemonset/``
                           (required), ``k8sHost``, ``k8sPort``,       ``<namespace>/<port>/``
                           ``hostNetwork`` (false)                     ``<service>``
``io.l5d.k8s.localnode``   ``hostNetwork`` (false)                     ``/io.l5d.k8s.localnode``
                                                                       (+ pod IP or node name)
``io.l5d.port``            ``port`` (required)                         ``/io.l5d.port/<port>``
``io.l5d.localhost``       none                                        ``/io.l5d.localhost``
``io.l5d.specificHost``    ``host`` (required)                         ``/io.l5d.specificHost``
``io.l5d.replace``         ``path`` (required)                         ``/io.l5d.replace``
``io.l5d.const``           ``path`` (required)                         ``/io.l5d.const``
=========================  ==========================================  =========================

The daemonset transformer reaches the API as the k8s namer does
(:class:`K8sAccessConfig`, with ``k8sHost``/``k8sPort`` for ``host``/``port``).
Config objects do nothing; :mod:`l5d.transformers.build` makes the runtime ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dtab import Path
from l5d.config._fields import Fields
from l5d.config._kinds import read_plugins
from l5d.config.registry import PluginConfig, Registry

__all__ = ["ConstTransformerConfig", "DaemonSetTransformerConfig", "K8sAccessConfig",
           "LocalNodeTransformerConfig", "LocalhostTransformerConfig", "PortTransformerConfig",
           "ReplaceTransformerConfig", "SpecificHostTransformerConfig", "TRANSFORMERS",
           "TRANSFORMER_ROOT", "TransformerConfig", "read_transformers"]

TRANSFORMERS = Registry("transformers", "l5d.transformers")
"""Transformer kinds (``interpreter.transformers``, a namer's ``transformers``)."""

TRANSFORMER_ROOT = Path.of("%")
"""Ids rewritten by a transformer start with ``/%``."""

DISCOVERY_KINDS = ("endpoints", "endpointSlices")


@dataclass(frozen=True, slots=True)
class K8sAccessConfig:
    """How a k8s namer or transformer reaches the API (:mod:`l5d.k8s.access`).

    :param host: Linkerd's ``host`` (a kubectl proxy); ``None`` when not written.
    :param port: Linkerd's ``port`` (8001 when only ``host`` is written).
    :param service_account: ``serviceAccount`` (l5d): in-cluster credentials; ``None``
        (not written) means "when no host/port is written and the pod has them".
    :param kubeconfig: ``kubeconfig`` (l5d): a kubeconfig file, for running outside a cluster.
    :param context: ``kubeconfigContext`` (l5d): its context (default: the current one).
    :param account_dir: ``serviceAccountDir`` (l5d): where the service account's ``token``
        and ``ca.crt`` are (a pod's ``/var/run/secrets/kubernetes.io/serviceaccount``).
    """

    host: str | None = None
    port: int | None = None
    service_account: bool | None = None
    kubeconfig: str | None = None
    context: str | None = None
    account_dir: str | None = None

    def __post_init__(self) -> None:
        proxy = self.host is not None or self.port is not None
        if self.kubeconfig is not None and (proxy or self.service_account):
            raise ValueError("kubeconfig cannot be combined with host/port or serviceAccount")
        if self.service_account and proxy:
            raise ValueError("serviceAccount: true cannot be combined with host/port "
                             "(those name a kubectl proxy)")
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("kubeconfigContext needs kubeconfig")
        if self.account_dir is not None and (proxy or self.kubeconfig is not None
                                             or self.service_account is False):
            raise ValueError("serviceAccountDir is for the service account, not with "
                             "host/port, kubeconfig or serviceAccount: false")

    @classmethod
    def read(cls, f: Fields, host_key: str = "host", port_key: str = "port") -> "K8sAccessConfig":
        return cls(host=f.string(host_key, None), port=f.port(port_key, None),
                   service_account=f.boolean("serviceAccount", None),
                   kubeconfig=f.string("kubeconfig", None),
                   context=f.string("kubeconfigContext", None),
                   account_dir=f.string("serviceAccountDir", None))

    def to_json(self, host_key: str = "host", port_key: str = "port") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in ((host_key, self.host), (port_key, self.port),
                           ("serviceAccount", self.service_account),
                           ("kubeconfig", self.kubeconfig), ("kubeconfigContext", self.context),
                           ("serviceAccountDir", self.account_dir)):
            if value is not None:
                out[key] = value
        return out


ACCESS_KEYS = ("serviceAccount", "serviceAccountDir", "kubeconfig", "kubeconfigContext")


class TransformerConfig(PluginConfig, registry=TRANSFORMERS):
    """Base of transformer configs: frozen dataclasses whose first field is ``prefix``
    (``None``: the kind's default)."""

    __slots__ = ()

    @property
    def default_prefix(self) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def full_prefix(self) -> Path:
        """``/%`` plus the configured or default prefix: what rewritten ids start with."""
        return TRANSFORMER_ROOT + (self.prefix or self.default_prefix)  # type: ignore[attr-defined]

    def common_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.prefix is not None:  # type: ignore[attr-defined]
            out["prefix"] = self.prefix.show()  # type: ignore[attr-defined]
        return out


def _prefix(f: Fields) -> Path | None:
    return f.path("prefix", None)


def _segment(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or "/" in value:
        raise ValueError(f"{what}: expected a non-empty name without '/', got {value!r}")


@dataclass(frozen=True, slots=True)
class DaemonSetTransformerConfig(TransformerConfig):
    """``io.l5d.k8s.daemonset``: each address replaced by the l5d pod on its node (the
    endpoints of ``/<namespace>/<port>/<service>`` on the same /24, or with the same
    ``nodeName`` when ``hostNetwork``)."""

    kind: ClassVar[str] = "io.l5d.k8s.daemonset"
    prefix: Path | None
    namespace: str
    service: str
    port: str
    host_network: bool = False
    access: K8sAccessConfig = K8sAccessConfig()

    def __post_init__(self) -> None:
        _segment(self.namespace, "namespace")
        _segment(self.service, "service")
        _segment(self.port, "port")

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.k8s.daemonset", self.namespace, self.port, self.service)

    @classmethod
    def from_fields(cls, f: Fields) -> "DaemonSetTransformerConfig":
        f.expect("kind", "prefix", "namespace", "service", "port", "k8sHost", "k8sPort",
                 "hostNetwork", *ACCESS_KEYS)
        port = f.raw("port")
        return cls(prefix=_prefix(f), namespace=f.string("namespace"),
                   service=f.string("service"),
                   port=str(port.value) if port is not None and isinstance(
                       port.value, int) and not isinstance(port.value, bool)
                   else f.string("port"),
                   host_network=f.boolean("hostNetwork", False),
                   access=K8sAccessConfig.read(f, "k8sHost", "k8sPort"))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "namespace": self.namespace, "service": self.service,
                "port": self.port, "hostNetwork": self.host_network,
                **self.access.to_json("k8sHost", "k8sPort")}


@dataclass(frozen=True, slots=True)
class LocalNodeTransformerConfig(TransformerConfig):
    """``io.l5d.k8s.localnode``: only the addresses on this node (the /24 of ``POD_IP``,
    or ``nodeName`` equal to ``NODE_NAME`` when ``hostNetwork``)."""

    kind: ClassVar[str] = "io.l5d.k8s.localnode"
    prefix: Path | None = None
    host_network: bool = False

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.k8s.localnode")

    @classmethod
    def from_fields(cls, f: Fields) -> "LocalNodeTransformerConfig":
        f.expect("kind", "prefix", "hostNetwork")
        return cls(prefix=_prefix(f), host_network=f.boolean("hostNetwork", False))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "hostNetwork": self.host_network}


@dataclass(frozen=True, slots=True)
class PortTransformerConfig(TransformerConfig):
    """``io.l5d.port``: every address on ``port``."""

    kind: ClassVar[str] = "io.l5d.port"
    prefix: Path | None
    port: int

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.port", str(self.port))

    @classmethod
    def from_fields(cls, f: Fields) -> "PortTransformerConfig":
        f.expect("kind", "prefix", "port")
        return cls(prefix=_prefix(f), port=f.port("port"))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "port": self.port}


@dataclass(frozen=True, slots=True)
class LocalhostTransformerConfig(TransformerConfig):
    """``io.l5d.localhost``: only addresses whose IP is this host's (a lookup of the local
    host name, once)."""

    kind: ClassVar[str] = "io.l5d.localhost"
    prefix: Path | None = None

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.localhost")

    @classmethod
    def from_fields(cls, f: Fields) -> "LocalhostTransformerConfig":
        f.expect("kind", "prefix")
        return cls(prefix=_prefix(f))

    def to_json(self) -> dict[str, Any]:
        return self.common_json()


@dataclass(frozen=True, slots=True)
class SpecificHostTransformerConfig(TransformerConfig):
    """``io.l5d.specificHost``: only addresses whose IP is ``host``'s."""

    kind: ClassVar[str] = "io.l5d.specificHost"
    prefix: Path | None
    host: str

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"host: expected a non-empty string, got {self.host!r}")

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.specificHost")

    @classmethod
    def from_fields(cls, f: Fields) -> "SpecificHostTransformerConfig":
        f.expect("kind", "prefix", "host")
        return cls(prefix=_prefix(f), host=f.string("host"))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "host": self.host}


@dataclass(frozen=True, slots=True)
class ReplaceTransformerConfig(TransformerConfig):
    """``io.l5d.replace``: every bound name replaced by the binding of ``path``; Neg, Fail and
    Empty stay as they are."""

    kind: ClassVar[str] = "io.l5d.replace"
    prefix: Path | None
    path: Path

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.replace")

    @classmethod
    def from_fields(cls, f: Fields) -> "ReplaceTransformerConfig":
        f.expect("kind", "prefix", "path")
        return cls(prefix=_prefix(f), path=f.path("path"))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "path": self.path.show()}


@dataclass(frozen=True, slots=True)
class ConstTransformerConfig(TransformerConfig):
    """``io.l5d.const``: the whole tree replaced by the binding of ``path``, even Neg."""

    kind: ClassVar[str] = "io.l5d.const"
    prefix: Path | None
    path: Path

    @property
    def default_prefix(self) -> Path:
        return Path.of("io.l5d.const")

    @classmethod
    def from_fields(cls, f: Fields) -> "ConstTransformerConfig":
        f.expect("kind", "prefix", "path")
        return cls(prefix=_prefix(f), path=f.path("path"))

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "path": self.path.show()}


def read_transformers(f: Fields, key: str = "transformers") -> tuple[TransformerConfig, ...]:
    """A list of transformer objects (in the order they apply)."""
    return read_plugins(TRANSFORMERS, f.ctx, f.sequence(key))  # type: ignore[return-value]
