"""``dtabStore`` config -> a :class:`~l5d.dtab_store.backend.DtabBackend` (no I/O).

``io.l5d.k8s.configMap`` lives in ``l5d/dtab_store/configmap.py``, whose module-level
``build_backend(config, reactor, k8s, wall)`` (the same signature as :func:`build_backend`)
makes its backend; it is imported only when that kind is configured.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from l5d.config.dtab_store import FS, IN_MEMORY, K8S_CONFIGMAP, DtabStoreConfig
from l5d.dtab_store.backend import DtabBackend
from l5d.dtab_store.fs import FsBackend
from l5d.dtab_store.memory import InMemoryBackend

__all__ = ["build_backend"]


def build_backend(config: DtabStoreConfig, reactor: Any, k8s: Any,
                  wall: Callable[[], float]) -> DtabBackend:
    """The backend of ``config`` (nothing is read or opened until its ``start``).

    :param reactor: for backends that watch (the ConfigMap's).
    :param k8s: the linker's :class:`~l5d.k8s.apis.K8sApis` (the ConfigMap's API access).
    :param wall: epoch seconds, for the changes' ``at``.
    :raises ValueError: the kind is not available in this build.
    """
    if config.kind == IN_MEMORY:
        return InMemoryBackend(wall, config.history_size)
    if config.kind == FS:
        assert config.directory is not None  # DtabStoreConfig checks it
        return FsBackend(config.directory, wall, config.history_size)
    if config.kind == K8S_CONFIGMAP:
        try:
            module = importlib.import_module("l5d.dtab_store.configmap")
        except ImportError:
            raise ValueError(f"{K8S_CONFIGMAP} is not available in this build") from None
        return module.build_backend(config, reactor, k8s, wall)  # type: ignore[no-any-return]
    raise ValueError(f"unknown dtabStore kind {config.kind!r}")
