"""Namer configs: what a ``/#/<prefix>`` path in a dtab resolves with (pure).

Every namer accepts the common keys ``kind``, ``prefix``, ``experimental`` and
``transformers`` (only ``[]`` for now). A namer's dtab prefix is ``/#`` plus
its ``prefix``: ``io.l5d.fs`` answers ``/#/io.l5d.fs/...``. Like Linkerd, the
``prefix`` is a path (``/disco``); the leading ``/`` may be left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dtab import DtabParseError, Path
from l5d.config._fields import Fields, path_error
from l5d.config.registry import PluginConfig, Registry

__all__ = ["FsNamerConfig", "NAMERS", "NAMER_ROOT", "NamerConfig", "read_prefix"]

NAMERS = Registry("namers", "l5d.namers")
"""Namer kinds (config key ``namers``)."""

NAMER_ROOT = Path.of("#")
"""Dtab paths under ``/#`` are resolved by the configured namers."""

TRANSFORMERS_NOT_YET = "transformers are not supported yet"


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
            "transformers": [],
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
    if transformers != ():
        raise ValueError(f"transformers: expected (), got {transformers!r}")


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
    transformers: tuple[()] = ()

    def __post_init__(self) -> None:
        _check_common(self.prefix, self.experimental, self.transformers)
        if not isinstance(self.root_dir, str) or not self.root_dir:
            raise ValueError(f"root_dir: expected a non-empty string, got {self.root_dir!r}")

    @classmethod
    def from_fields(cls, f: Fields) -> "FsNamerConfig":
        return cls(
            prefix=read_prefix(f, DEFAULT_FS_PREFIX),
            experimental=f.boolean("experimental", False),
            transformers=f.empty_list("transformers", TRANSFORMERS_NOT_YET),
            root_dir=f.string("rootDir"),
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.common_json(), "rootDir": self.root_dir}
