"""Transformer configs -> runtime transformers (at build time; no I/O).

What the environment holds (``POD_IP``, ``NODE_NAME``, this host's addresses, name
resolution) reaches here from the entry point (:class:`~l5d.linker.Env`), never from
the process globals. The daemonset transformer binds its gateways with a k8s namer
over the shared watches of its way to the API.
"""

from __future__ import annotations

from typing import Any, Callable

from dtab import Path, State
from l5d.config.namers import K8sNamerConfig
from l5d.config.transformers import (
    ConstTransformerConfig, DaemonSetTransformerConfig, LocalhostTransformerConfig,
    LocalNodeTransformerConfig, PortTransformerConfig, ReplaceTransformerConfig,
    SpecificHostTransformerConfig, TransformerConfig,
)
from l5d.namers.build import k8s_namer
from l5d.transformers import filters, gateway, replace

__all__ = ["build_transformer"]


def build_transformer(cfg: TransformerConfig, env: Any, apis: Any,
                      bind: Callable[[Path], State], generation: Callable[[], Any]) -> Any:
    """The runtime transformer for ``cfg``.

    :param env: :class:`~l5d.linker.Env`.
    :param bind: binds a path with the router's namers and an empty dtab (replace, const).
    :param generation: the generation of what ``bind`` reads.
    :raises ValueError: the environment lacks what the transformer needs.
    """
    prefix = cfg.full_prefix
    if isinstance(cfg, LocalNodeTransformerConfig):
        return filters.localnode(prefix, host_network=cfg.host_network, pod_ip=env.pod_ip,
                                 node_name=env.node_name)
    if isinstance(cfg, PortTransformerConfig):
        return filters.port(prefix, cfg.port)
    if isinstance(cfg, LocalhostTransformerConfig):
        return filters.host_filter(prefix, env.local_ips)
    if isinstance(cfg, SpecificHostTransformerConfig):
        ips = env.resolve(cfg.host)
        if not ips:
            raise ValueError(f"io.l5d.specificHost: cannot resolve host {cfg.host!r}")
        return filters.host_filter(prefix, ips)
    if isinstance(cfg, DaemonSetTransformerConfig):
        namer_cfg = K8sNamerConfig(access=cfg.access)
        namer = k8s_namer(namer_cfg, apis, env.variables, prefix=Path.of("#", "io.l5d.k8s"),
                          pin=True)
        return gateway.daemonset(prefix, namer, cfg.namespace, cfg.port, cfg.service,
                                 host_network=cfg.host_network)
    if isinstance(cfg, ReplaceTransformerConfig):
        return replace.replace(prefix, cfg.path, bind, generation)
    if isinstance(cfg, ConstTransformerConfig):
        return replace.const(prefix, cfg.path, bind, generation)
    build = getattr(cfg, "build", None)
    if build is None:
        raise ValueError(f"transformer kind {cfg.kind!r} has no build()")
    return build(env)
