"""The plugin families a config is read with, and loading third-party kinds.

:data:`DEFAULT_PLUGINS` holds the process-wide registries (built-ins plus any
loaded from entry points). :func:`load_installed_plugins` is called once by
``l5d/main.py`` at start-up; the parser itself never looks at installed
packages, so it stays pure and tests see only what they register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from l5d.config.identifiers import IDENTIFIERS, IdentifierConfig
from l5d.config.namers import NAMERS, NamerConfig
from l5d.config.registry import EntryPoint, Registry, load_entry_points
from l5d.config.telemeters import TELEMETERS, TelemeterConfig
from l5d.config.transformers import TRANSFORMERS, TransformerConfig

__all__ = ["DEFAULT_PLUGINS", "Plugins", "load_installed_plugins"]


@dataclass(frozen=True, slots=True)
class Plugins:
    """One registry per plugin family."""

    namers: Registry = NAMERS
    identifiers: Registry = IDENTIFIERS
    telemeters: Registry = TELEMETERS
    transformers: Registry = TRANSFORMERS


DEFAULT_PLUGINS = Plugins()

_BASES: tuple[tuple[str, type], ...] = (
    ("namers", NamerConfig),
    ("identifiers", IdentifierConfig),
    ("telemeters", TelemeterConfig),
    ("transformers", TransformerConfig),
)


def load_installed_plugins(
    entry_points: Callable[..., Iterable[EntryPoint]],
    plugins: Plugins = DEFAULT_PLUGINS,
) -> None:
    """Register the kinds listed in the ``l5d.namers``, ``l5d.identifiers``,
    ``l5d.telemeters`` and ``l5d.transformers`` entry-point groups of installed
    distributions.

    :param entry_points: ``importlib.metadata.entry_points`` (called as
        ``entry_points(group=...)``), or a fake in tests.
    :param plugins: the registries to fill.
    :raises l5d.config.errors.ConfigError: a bad entry point, or
        :class:`~l5d.config.errors.DuplicateKind`.
    """
    for attr, base in _BASES:
        registry: Registry = getattr(plugins, attr)
        load_entry_points(registry, base, entry_points(group=registry.group))
