"""Plugin kinds: ``kind`` string → config class, one registry per family (pure).

Linkerd picks a namer, identifier or telemeter by its ``kind``
(``io.l5d.fs``, ``io.l5d.header.token``) and finds the implementations with
Java's ``META-INF/services``. Here:

* a built-in plugin is a frozen dataclass that subclasses its family's base
  class (:class:`~l5d.config.namers.NamerConfig`, ...) and sets a class-level
  ``kind``; :meth:`PluginConfig.__init_subclass__` registers it (the way
  mitmproxy's ``mode_specs.py`` does);
* a third-party plugin is listed in its distribution's setup.cfg under the
  entry-point group of its family (``l5d.namers``, ``l5d.identifiers``,
  ``l5d.telemeters``) and registered by :func:`load_entry_points`;
* two different classes with one kind raise :class:`DuplicateKind`, as
  Linkerd's ``Parser.ensureUniqueKinds`` does.

Every plugin class provides ``from_fields(fields)`` (read its keys from a
:class:`~l5d.config._fields.Fields`, ``kind`` included) and ``to_json()``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Protocol

from l5d.config.errors import ConfigError, DuplicateKind

__all__ = [
    "ENTRY_POINT_GROUPS",
    "PluginConfig",
    "Registry",
    "load_entry_points",
]


class Registry:
    """The kinds of one plugin family. Mutated only at import time (and by
    :func:`load_entry_points`), then read by the parser.

    :param family: the config key the family lives under (``namers``).
    :param group: the setup.cfg entry-point group (``l5d.namers``).
    """

    def __init__(self, family: str, group: str) -> None:
        self.family = family
        self.group = group
        self._kinds: dict[str, type] = {}

    def register(self, cls: type) -> None:
        """Add ``cls`` under ``cls.kind``.

        Re-registering the same class is a no-op, and so is registering the
        class that ``@dataclass(slots=True)`` makes to replace the one being
        decorated (it replaces it in the registry).

        :raises DuplicateKind: when another class already has that kind.
        """
        kind = cls.kind  # type: ignore[attr-defined]
        if not isinstance(kind, str) or not kind:
            raise ConfigError(
                f"{_name(cls)} has no kind", key_path=self.family, source=self.group
            )
        old = self._kinds.get(kind)
        if old is not None and not _same_class(old, cls):
            raise DuplicateKind(
                f'duplicate kind "{kind}": {_name(old)} and {_name(cls)}',
                key_path=self.family,
                source=self.group,
            )
        self._kinds[kind] = cls

    def get(self, kind: str) -> type | None:
        return self._kinds.get(kind)

    def kinds(self) -> tuple[str, ...]:
        """Registered kinds, sorted (as listed in "unknown kind" errors)."""
        return tuple(sorted(self._kinds))

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, kinds={list(self.kinds())})"


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _same_class(old: type, new: type) -> bool:
    """``new`` is ``old``, or the slots twin ``dataclass`` built from ``old``'s namespace
    (same module and name, sharing the very same ``__dataclass_fields__`` dict)."""
    if old is new:
        return True
    fields = new.__dict__.get("__dataclass_fields__")
    return (
        fields is not None
        and fields is old.__dict__.get("__dataclass_fields__")
        and (old.__module__, old.__name__) == (new.__module__, new.__name__)
    )


class PluginConfig:
    """Base of every plugin config class.

    A family base passes its registry as a class keyword
    (``class NamerConfig(PluginConfig, registry=NAMERS)``); a concrete class
    below it sets ``kind`` and is registered on definition. Classes without
    their own ``kind`` (abstract intermediates) are not registered.
    """

    __slots__ = ()
    kind: ClassVar[str] = ""
    registry: ClassVar[Registry]

    def __init_subclass__(cls, registry: Registry | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if registry is not None:
            cls.registry = registry
        elif cls.__dict__.get("kind"):
            cls.registry.register(cls)

    @classmethod
    def from_fields(cls, fields: Any) -> "PluginConfig":  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class EntryPoint(Protocol):
    """What :func:`load_entry_points` needs of an ``importlib.metadata.EntryPoint``."""

    name: str

    def load(self) -> Any: ...


ENTRY_POINT_GROUPS = ("l5d.namers", "l5d.identifiers", "l5d.telemeters")


def load_entry_points(registry: Registry, base: type, entry_points: Iterable[EntryPoint]) -> None:
    """Register third-party kinds listed under ``registry.group``.

    Importing a plugin's module usually registers it already (through
    ``__init_subclass__``); registering again is a no-op, so this only adds
    classes that were not imported yet and checks the rest.

    :param registry: the family's registry.
    :param base: the family's base class; every entry point must load a
        subclass of it.
    :param entry_points: e.g. ``importlib.metadata.entry_points(group=registry.group)``,
        or a list of fakes in tests.
    :raises ConfigError: an entry point that is not a ``base`` subclass, or
        whose name differs from the class's ``kind``.
    :raises DuplicateKind: two classes with one kind.
    """
    for ep in entry_points:
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigError(
                f"entry point {ep.name!r} does not name a {base.__name__} subclass",
                key_path=registry.family,
                source=registry.group,
            )
        if cls.kind != ep.name:
            raise ConfigError(
                f"entry point {ep.name!r} loads {_name(cls)} whose kind is {cls.kind!r}",
                key_path=registry.family,
                source=registry.group,
            )
        registry.register(cls)
