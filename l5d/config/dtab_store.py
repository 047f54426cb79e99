"""``dtabStore``: where saved dtab edits live (pure config).

::

    dtabStore:
      kind: io.l5d.fs          # io.l5d.inMemory (default) | io.l5d.fs | io.l5d.k8s.configMap
      dir: .l5d/dtabs          # io.l5d.fs: required
      historySize: 20          # io.l5d.fs and io.l5d.inMemory: changes kept per router

    dtabStore:
      kind: io.l5d.k8s.configMap
      namespace: default       # the ConfigMap's namespace
      name: l5d-dtabs          # the ConfigMap
      host: localhost          # the API as the io.l5d.k8s namer reaches it (in-pod
      port: 8001               # credentials when no host is written)

Each kind accepts its own keys only (``dir`` under ``io.l5d.inMemory`` is an unknown key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from l5d.config._check import check_int, require
from l5d.config._fields import Fields
from l5d.config._kinds import make
from l5d.config.transformers import ACCESS_KEYS, K8sAccessConfig

__all__ = ["DEFAULT_CONFIGMAP_NAME", "DEFAULT_CONFIGMAP_NAMESPACE", "DEFAULT_HISTORY_SIZE",
           "DTAB_STORE_KINDS", "DtabStoreConfig", "FS", "IN_MEMORY", "K8S_CONFIGMAP",
           "read_dtab_store"]

IN_MEMORY = "io.l5d.inMemory"
FS = "io.l5d.fs"
K8S_CONFIGMAP = "io.l5d.k8s.configMap"
DTAB_STORE_KINDS = (IN_MEMORY, FS, K8S_CONFIGMAP)
DEFAULT_HISTORY_SIZE = 20
DEFAULT_CONFIGMAP_NAMESPACE = "default"
DEFAULT_CONFIGMAP_NAME = "l5d-dtabs"

_KEYS = {
    IN_MEMORY: ("kind", "historySize"),
    FS: ("kind", "dir", "historySize"),
    K8S_CONFIGMAP: ("kind", "namespace", "name", "host", "port", *ACCESS_KEYS),
}


@dataclass(frozen=True, slots=True)
class DtabStoreConfig:
    """The ``dtabStore`` object.

    :param kind: ``io.l5d.inMemory``, ``io.l5d.fs`` or ``io.l5d.k8s.configMap``.
    :param directory: ``dir`` (``io.l5d.fs``, required there): a relative path is relative
        to the directory l5d runs in.
    :param history_size: ``historySize``: changes kept per router (``io.l5d.fs``: history
        files; ``io.l5d.inMemory``: in memory).
    :param namespace: ``namespace`` of the ConfigMap (``io.l5d.k8s.configMap``).
    :param name: ``name`` of the ConfigMap (``io.l5d.k8s.configMap``).
    :param access: how the ConfigMap's API is reached (``host``/``port``, ``serviceAccount``,
        ``kubeconfig``... as the ``io.l5d.k8s`` namer).
    """

    kind: str = IN_MEMORY
    directory: str | None = None
    history_size: int = DEFAULT_HISTORY_SIZE
    namespace: str = DEFAULT_CONFIGMAP_NAMESPACE
    name: str = DEFAULT_CONFIGMAP_NAME
    access: K8sAccessConfig = field(default_factory=K8sAccessConfig)

    def __post_init__(self) -> None:
        require(self.kind in DTAB_STORE_KINDS, "kind", self.kind,
                f"one of {', '.join(DTAB_STORE_KINDS)}")
        if self.kind == FS:
            require(isinstance(self.directory, str) and bool(self.directory), "dir",
                    self.directory, "a directory (io.l5d.fs needs one)")
        check_int("historySize", self.history_size, minimum=1)
        require(isinstance(self.namespace, str) and bool(self.namespace), "namespace",
                self.namespace, "a non-empty string")
        require(isinstance(self.name, str) and bool(self.name), "name", self.name,
                "a non-empty string")

    def to_json(self) -> dict[str, Any]:
        if self.kind == FS:
            return {"kind": self.kind, "dir": self.directory, "historySize": self.history_size}
        if self.kind == K8S_CONFIGMAP:
            return {"kind": self.kind, "namespace": self.namespace, "name": self.name,
                    **self.access.to_json()}
        return {"kind": self.kind, "historySize": self.history_size}


def read_dtab_store(f: Fields) -> DtabStoreConfig:
    """The ``dtabStore`` object; errors carry the file, line and key path."""
    kind = f.string("kind", IN_MEMORY)
    if kind not in _KEYS:
        raise f.error(f'unknown kind "{kind}" (known kinds: {", ".join(DTAB_STORE_KINDS)})',
                      "kind")
    f.expect(*_KEYS[kind])
    if kind == FS:
        return make(f, DtabStoreConfig, kind=kind, directory=f.string("dir"),
                     history_size=f.integer("historySize", DEFAULT_HISTORY_SIZE, minimum=1))
    if kind == K8S_CONFIGMAP:
        return make(f, DtabStoreConfig, kind=kind,
                     namespace=f.string("namespace", DEFAULT_CONFIGMAP_NAMESPACE),
                     name=f.string("name", DEFAULT_CONFIGMAP_NAME),
                     access=K8sAccessConfig.read(f))
    return make(f, DtabStoreConfig, kind=kind,
                 history_size=f.integer("historySize", DEFAULT_HISTORY_SIZE, minimum=1))
