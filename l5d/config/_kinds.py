"""Reading one ``{kind: ..., ...}`` plugin object, and building config objects (pure).

Shared by the readers of every plugin family (namers, identifiers, telemeters,
transformers), including the families nested in another plugin's keys (a namer's
``transformers``).
"""

from __future__ import annotations

from typing import Callable, TypeVar

from l5d.config._fields import Context, Fields
from l5d.config._node import Node
from l5d.config.errors import ConfigError
from l5d.config.registry import PluginConfig, Registry

__all__ = ["make", "read_plugin"]

T = TypeVar("T")


def make(f: Fields, make: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Construct a config object; a ``ValueError`` from its own checks becomes a ConfigError."""
    try:
        return make(*args, **kwargs)
    except ConfigError:
        raise
    except ValueError as err:
        raise f.error(str(err)) from None


def read_plugin(registry: Registry, ctx: Context, node: Node, key_path: str) -> PluginConfig:
    """One ``{kind: ..., ...}`` object of a plugin family."""
    f = ctx.fields(node, key_path)
    kind = f.string("kind")
    cls = registry.get(kind)
    if cls is None:
        known = ", ".join(registry.kinds()) or "none"
        raise f.error(f'unknown kind "{kind}" (known kinds: {known})', "kind")
    config = make(f, cls.from_fields, f)  # type: ignore[attr-defined]
    f.close()
    return config
