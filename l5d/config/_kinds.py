"""Reading one ``{kind: ..., ...}`` plugin object, and building config objects (pure).

Shared by the readers of every plugin family (namers, identifiers, telemeters,
transformers), including the families nested in another plugin's keys (a namer's
``transformers``).
"""

from __future__ import annotations

from typing import Callable, TypeVar

from l5d.config._fields import Abandoned, Context, Fields, did_you_mean
from l5d.config._node import Node
from l5d.config.compat import unsupported_kind
from l5d.config.errors import ConfigError
from l5d.config.registry import PluginConfig, Registry

__all__ = ["make", "read_plugin", "read_plugins", "unknown_kind"]

T = TypeVar("T")


def make(f: Fields, make: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Construct a config object; a ``ValueError`` from its own checks becomes a ConfigError.

    Once errors were reported inside this object, a constructor that fails is most
    likely failing because of them (a value left out or defaulted), so it raises
    :class:`~l5d.config._fields.Abandoned`, which is never shown.
    """
    try:
        return make(*args, **kwargs)
    except ConfigError:
        raise
    except ValueError as err:
        if len(f.ctx.errors) > f.errors_before:
            raise Abandoned(str(err)) from None
        raise f.error(str(err)) from None


def unknown_kind(f: Fields, family: str, kind: str, known: tuple[str, ...] | list[str]):
    """The error for a ``kind`` l5d does not have: "not supported" for a Linkerd kind
    l5d leaves out on purpose, else "unknown kind" with a "did you mean". The object's
    other keys are not checked (the kind is the error, not a key under it)."""
    f.ignore_rest()
    message = unsupported_kind(family, kind)
    if message is None:
        guess = did_you_mean(kind, known)
        hint = f'; did you mean "{guess}"?' if guess else ""
        message = f'unknown kind "{kind}"{hint} (known kinds: {", ".join(known) or "none"})'
        if not guess and not kind.startswith("io.l5d.") and "." in kind:
            message += ("; a third-party Linkerd plugin needs an l5d port, registered under "
                        f"the entry point group l5d.{family} (see docs/compat.md)")
    return f.error(message, "kind")


def read_plugin(registry: Registry, ctx: Context, node: Node, key_path: str) -> PluginConfig:
    """One ``{kind: ..., ...}`` object of a plugin family."""
    f = ctx.fields(node, key_path)
    kind = f.string("kind")
    cls = registry.get(kind)
    if cls is None:
        raise unknown_kind(f, registry.family, kind, registry.kinds())
    config = make(f, cls.from_fields, f)  # type: ignore[attr-defined]
    f.close()
    return config


def read_plugins(registry: Registry, ctx: Context,
                 items: tuple[tuple[Node, str], ...]) -> tuple[PluginConfig, ...]:
    """Every object of a list of plugins; one that cannot be read is reported and left out."""
    out = []
    for node, path in items:
        config = ctx.attempt(lambda: read_plugin(registry, ctx, node, path), None)
        if config is not None:
            out.append(config)
    return tuple(out)
