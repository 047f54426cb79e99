"""Namer configs: what a ``/#/<prefix>`` path in a dtab resolves with (pure).

Every namer accepts the common keys ``kind``, ``prefix``, ``experimental`` and
``transformers`` (applied to this namer's answers only; see
:mod:`l5d.config.transformers`). A namer's dtab prefix is ``/#`` plus its
``prefix``: ``io.l5d.fs`` answers ``/#/io.l5d.fs/...``. Like Linkerd, the
``prefix`` is a path (``/disco``); the leading ``/`` may be left out.

``io.l5d.k8s`` and ``io.l5d.k8s.ns`` have Linkerd's keys (``host``, ``port``,
``labelSelector``; ``envVar``) and l5d's ways to reach the API without a kubectl
proxy (``serviceAccount``, ``kubeconfig``, ``kubeconfigContext``) and to read
EndpointSlices (``discovery``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from dtab import DtabParseError, Path
from l5d.config._fields import Fields, path_error
from l5d.config.registry import PluginConfig, Registry
from l5d.router import pathmatch
from l5d.config.transformers import (
    ACCESS_KEYS, DISCOVERY_KINDS, K8sAccessConfig, TransformerConfig, read_transformers,
)

__all__ = ["FsNamerConfig", "K8sNamerConfig", "K8sNsNamerConfig", "NAMERS", "NAMER_ROOT",
           "NamerConfig", "RewriteNamerConfig", "read_prefix"]

NAMERS = Registry("namers", "l5d.namers")
"""Namer kinds (config key ``namers``)."""

NAMER_ROOT = Path.of("#")
"""Dtab paths under ``/#`` are resolved by the configured namers."""


class NamerConfig(PluginConfig, registry=NAMERS):
    """Base of namer configs. Subclasses are frozen dataclasses with the fields
    ``prefix`` (a :class:`~dtab.Path`), ``experimental`` and ``transformers``
    (first) and set ``kind``."""

    __slots__ = ()

    @property
    def dtab_prefix(self) -> Path:
        """``/#/<prefix>``: where this namer is referenced in dtabs."""
        return NAMER_ROOT + self.prefix  # type: ignore[attr-defined]

    def common_json(self) -> dict[str, Any]:
        """The keys every namer has, for ``to_json``."""
        return {
            "kind": self.kind,
            "prefix": self.prefix.show(),  # type: ignore[attr-defined]
            "experimental": self.experimental,  # type: ignore[attr-defined]
            "transformers": [t.to_json() for t in self.transformers],  # type: ignore
        }


def read_prefix(f: Fields, default: Path) -> Path:
    """The ``prefix`` key: a non-empty path, with or without its leading ``/``."""
    text = f.string("prefix", None)
    if text is None:
        return default
    shift = 0 if text.startswith("/") else 1
    try:
        prefix = Path.read("/" * shift + text)
    except DtabParseError as err:
        where = DtabParseError(text, max(0, err.position - shift), err.expected, err.found)
        raise path_error(f.ctx, f.raw("prefix"), f.key_path("prefix"), where) from None
    if not prefix:
        raise f.error("expected a non-empty path", "prefix")
    return prefix


def _check_common(prefix: object, experimental: object, transformers: object) -> None:
    if not isinstance(prefix, Path) or not prefix:
        raise ValueError(f"prefix: expected a non-empty Path, got {prefix!r}")
    if not isinstance(experimental, bool):
        raise ValueError(f"experimental: expected a bool, got {experimental!r}")
    if not isinstance(transformers, tuple) or not all(
            isinstance(t, TransformerConfig) for t in transformers):
        raise ValueError(f"transformers: expected a tuple of transformer configs, "
                         f"got {transformers!r}")


DEFAULT_FS_PREFIX = Path.of("io.l5d.fs")


@dataclass(frozen=True, slots=True)
class FsNamerConfig(NamerConfig):
    """``io.l5d.fs``: one file per service under ``rootDir``, one ``host port``
    (optionally ``* weight``) per line. ``/#/io.l5d.fs/hello`` reads ``rootDir/hello``.
    """

    kind: ClassVar[str] = "io.l5d.fs"
    root_dir: str
    prefix: Path = DEFAULT_FS_PREFIX
    experimental: bool = False
    transformers: tuple[TransformerConfig, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.prefix, self.experimental, self.transformers)
        if not isinstance(self.root_dir, str) or not self.root_dir:
            raise ValueError(f"root_dir: expected a non-empty string, got {self.root_dir!r}")

    @classmethod
    def from_fields(cls, f: Fields) -> "FsNamerConfig":
        f.expect("kind", "prefix", "experimental", "transformers", "rootDir")
        return cls(
            prefix=read_prefix(f, DEFAULT_FS_PREFIX),
            experimental=f.boolean("experimental", False),
            transformers=read_transformers(f),
            root_dir=f.string("rootDir"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "rootDir": self.root_dir}


DEFAULT_K8S_PREFIX = Path.of("io.l5d.k8s")
DEFAULT_K8S_NS_PREFIX = Path.of("io.l5d.k8s.ns")
DEFAULT_NAMESPACE_ENV = "POD_NAMESPACE"


def _check_k8s(label_selector: object, access: object, discovery: object) -> None:
    if label_selector is not None and (not isinstance(label_selector, str) or not label_selector
                                       or "=" in label_selector or "," in label_selector):
        raise ValueError(f"labelSelector: expected a label name, got {label_selector!r}")
    if not isinstance(access, K8sAccessConfig):
        raise ValueError(f"access: expected a K8sAccessConfig, got {access!r}")
    if discovery not in DISCOVERY_KINDS:
        raise ValueError(f"discovery: expected one of {', '.join(DISCOVERY_KINDS)}, "
                         f"got {discovery!r}")


_K8S_KEYS = ("kind", "prefix", "experimental", "transformers", "host", "port", "labelSelector",
             "discovery", *ACCESS_KEYS)


def _k8s_fields(f: Fields, default_prefix: Path) -> dict[str, Any]:
    """The keys both k8s namers have."""
    return dict(prefix=read_prefix(f, default_prefix),
                experimental=f.boolean("experimental", False),
                transformers=read_transformers(f),
                label_selector=f.string("labelSelector", None),
                access=K8sAccessConfig.read(f),
                discovery=f.string("discovery", "endpoints"))


@dataclass(frozen=True, slots=True)
class K8sNamerConfig(NamerConfig):
    """``io.l5d.k8s``: ``/#/io.l5d.k8s/<namespace>/<port>/<service>[/<label value>]``,
    bound to the service's ready endpoints, watched in the Kubernetes API."""

    kind: ClassVar[str] = "io.l5d.k8s"
    prefix: Path = DEFAULT_K8S_PREFIX
    experimental: bool = False
    transformers: tuple[TransformerConfig, ...] = ()
    label_selector: str | None = None
    access: K8sAccessConfig = K8sAccessConfig()
    discovery: str = "endpoints"

    def __post_init__(self) -> None:
        _check_common(self.prefix, self.experimental, self.transformers)
        _check_k8s(self.label_selector, self.access, self.discovery)

    @classmethod
    def from_fields(cls, f: Fields) -> "K8sNamerConfig":
        f.expect(*_K8S_KEYS)
        return cls(**_k8s_fields(f, DEFAULT_K8S_PREFIX))

    def to_json(self) -> dict[str, Any]:
        out = {**self.common_json(), **self.access.to_json(), "discovery": self.discovery}
        if self.label_selector is not None:
            out["labelSelector"] = self.label_selector
        return out


@dataclass(frozen=True, slots=True)
class K8sNsNamerConfig(NamerConfig):
    """``io.l5d.k8s.ns``: ``/#/io.l5d.k8s.ns/<port>/<service>[/<label value>]`` in the
    namespace named by the environment variable ``envVar`` (``POD_NAMESPACE``)."""

    kind: ClassVar[str] = "io.l5d.k8s.ns"
    prefix: Path = DEFAULT_K8S_NS_PREFIX
    experimental: bool = False
    transformers: tuple[TransformerConfig, ...] = ()
    label_selector: str | None = None
    access: K8sAccessConfig = K8sAccessConfig()
    discovery: str = "endpoints"
    env_var: str = DEFAULT_NAMESPACE_ENV

    def __post_init__(self) -> None:
        _check_common(self.prefix, self.experimental, self.transformers)
        _check_k8s(self.label_selector, self.access, self.discovery)
        if not isinstance(self.env_var, str) or not self.env_var:
            raise ValueError(f"envVar: expected a variable name, got {self.env_var!r}")

    @classmethod
    def from_fields(cls, f: Fields) -> "K8sNsNamerConfig":
        f.expect(*_K8S_KEYS, "envVar")
        return cls(**_k8s_fields(f, DEFAULT_K8S_NS_PREFIX),
                   env_var=f.string("envVar", DEFAULT_NAMESPACE_ENV))

    def to_json(self) -> dict[str, Any]:
        out = {**self.common_json(), **self.access.to_json(), "discovery": self.discovery,
               "envVar": self.env_var}
        if self.label_selector is not None:
            out["labelSelector"] = self.label_selector
        return out


DEFAULT_REWRITE_PREFIX = Path.of("io.l5d.rewrite")


def _check_rewrite(pattern: object, name: object) -> None:
    try:
        pathmatch.compile(pattern)
    except ValueError as err:
        raise ValueError(f"pattern: {err}") from None
    if not isinstance(name, str) or not name.startswith("/"):
        raise ValueError(f"name: expected a path such as /svc/{{service}}, got {name!r}")
    # every capture stands for one label: the name must read as a path with them in
    try:
        Path.read(re.sub(r"\{[^{}/]*\}", "x", name))
    except DtabParseError as err:
        raise ValueError(f"name: {err}") from None


@dataclass(frozen=True, slots=True)
class RewriteNamerConfig(NamerConfig):
    """``io.l5d.rewrite``: a path that matches ``pattern`` becomes ``name`` with the
    pattern's ``{captures}`` put in (Linkerd's ``RewritingNamer``). The result is a
    path, bound on through the dtab; a path that does not match is a negative answer.
    ``/#/io.l5d.rewrite/default/http/hello`` with pattern ``/{ns}/http/{svc}`` and
    name ``/svc/{svc}.{ns}`` is ``/svc/hello.default``; what follows the matched
    labels is dropped, as in Linkerd.
    """

    kind: ClassVar[str] = "io.l5d.rewrite"
    pattern: str
    name: str
    prefix: Path = DEFAULT_REWRITE_PREFIX
    experimental: bool = False
    transformers: tuple[TransformerConfig, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.prefix, self.experimental, self.transformers)
        _check_rewrite(self.pattern, self.name)

    @classmethod
    def from_fields(cls, f: Fields) -> "RewriteNamerConfig":
        f.expect("kind", "prefix", "experimental", "transformers", "pattern", "name")
        return cls(
            prefix=read_prefix(f, DEFAULT_REWRITE_PREFIX),
            experimental=f.boolean("experimental", False),
            transformers=read_transformers(f),
            pattern=f.string("pattern"),
            name=f.string("name"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "pattern": self.pattern, "name": self.name}
