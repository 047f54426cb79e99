"""Identifier configs -> identifier functions (pure)."""

from __future__ import annotations

from dtab import Path
from l5d.config.identifiers import (
    HeaderIdentifierConfig, HeaderTokenIdentifierConfig, MethodAndHostIdentifierConfig,
    HeaderPathIdentifierConfig, IngressIdentifierConfig, PathIdentifierConfig,
    StaticIdentifierConfig,
)
from l5d.router import identifier as ident


def build_identifier(configs, prefix: Path, ingress=None) -> ident.Identifier:
    """One composed identifier from a router's ``identifier`` list.

    :param ingress: ``(config, prefix) -> identifier`` for ``io.l5d.ingress`` (it needs the
        Kubernetes watches, which the linker has).
    """
    built = []
    for cfg in configs:
        if isinstance(cfg, HeaderTokenIdentifierConfig):
            built.append(ident.header_token(prefix, cfg.header))
        elif isinstance(cfg, HeaderIdentifierConfig):
            built.append(ident.header_path(prefix, cfg.header))
        elif isinstance(cfg, MethodAndHostIdentifierConfig):
            built.append(ident.method_and_host(prefix, cfg.http_uri_in_dst))
        elif isinstance(cfg, PathIdentifierConfig):
            built.append(ident.path_segments(prefix, cfg.segments, cfg.consume))
        elif isinstance(cfg, HeaderPathIdentifierConfig):
            built.append(ident.header_path_segments(prefix, cfg.header, cfg.segments))
        elif isinstance(cfg, IngressIdentifierConfig):
            if ingress is None:
                raise ValueError("io.l5d.ingress needs the Kubernetes API (no watches given)")
            built.append(ingress(cfg, prefix))
        elif isinstance(cfg, StaticIdentifierConfig):
            built.append(ident.static(prefix, cfg.path))
        else:  # a third-party identifier kind brings its own build()
            build = getattr(cfg, "build", None)
            if build is None:
                raise ValueError(f"identifier kind {cfg.kind!r} has no build()")
            built.append(build(prefix))
    return ident.compose(built)
