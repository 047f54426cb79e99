"""Configured namers -> runtime namers (shell, at build time; no I/O until started).

``io.l5d.fs`` reads a directory; ``io.l5d.k8s`` and ``io.l5d.k8s.ns`` share the
watches of their way to the API (:class:`~l5d.k8s.apis.K8sApis`). A namer's own
``transformers`` wrap it (:class:`~dtab.transform.TransformedNamer`). Third-party
namer configs provide ``build(reactor)``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from dtab import Path, TransformedNamer
from l5d.config.namers import (
    FsNamerConfig, K8sNamerConfig, K8sNsNamerConfig, NamerConfig, RewriteNamerConfig,
)
from l5d.k8s.choice import choose
from l5d.namers.fs import FsNamer
from l5d.namers.rewrite import RewriteNamer

__all__ = ["build_namer"]


def k8s_namer(cfg: K8sNamerConfig | K8sNsNamerConfig, apis: Any, variables: Any,
              prefix: Path | None = None, pin: bool = False) -> Any:
    """A :class:`~l5d.namers.k8s.K8sNamer` (imported here: only Kubernetes configs load it)."""
    from l5d.namers.k8s import K8sNamer

    a = cfg.access
    access = choose(a.host, a.port, a.service_account, a.kubeconfig, a.context, variables,
                    a.account_dir)
    namespace = None
    if isinstance(cfg, K8sNsNamerConfig):
        namespace = variables.get(cfg.env_var)
        if not namespace:
            raise ValueError(f"io.l5d.k8s.ns: environment variable {cfg.env_var} (envVar) "
                             "must name the namespace")
    return K8sNamer(apis.watches(access), prefix or cfg.dtab_prefix,
                    label_selector=cfg.label_selector, namespace=namespace,
                    discovery=cfg.discovery, pin=pin)


def build_namer(cfg: NamerConfig, reactor: Any, apis: Any, variables: Any,
                transformers: Callable[[Sequence[Any]], Sequence[Any]]) -> Any:
    """The runtime namer for ``cfg``.

    :param transformers: builds the namer's transformer configs.
    :raises ValueError: the environment lacks what the namer needs.
    """
    if isinstance(cfg, FsNamerConfig):
        namer: Any = FsNamer(reactor, cfg.root_dir, cfg.dtab_prefix)
    elif isinstance(cfg, RewriteNamerConfig):
        namer = RewriteNamer(cfg.pattern, cfg.name)
    elif isinstance(cfg, (K8sNamerConfig, K8sNsNamerConfig)):
        namer = k8s_namer(cfg, apis, variables)
    else:
        build = getattr(cfg, "build", None)
        if build is None:
            raise ValueError(f"namer kind {cfg.kind!r} has no build()")
        namer = build(reactor)
    own = getattr(cfg, "transformers", ())
    if own:
        namer = TransformedNamer(namer, transformers(own))
    return namer
