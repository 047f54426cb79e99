"""Plugin registries: built-in kinds, duplicate kinds, third-party kinds from entry points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from dtab import Path
from l5d.config import (
    IDENTIFIERS,
    NAMERS,
    TELEMETERS,
    ConfigError,
    DuplicateKind,
    IdentifierConfig,
    NamerConfig,
    PathIdentifierConfig,
    Plugins,
    Registry,
    load_entry_points,
    load_installed_plugins,
    parse_config,
)

MINIMAL = "routers: [{protocol: http, servers: [{}]}]\n"


class FakeEntryPoint:
    """Stands in for ``importlib.metadata.EntryPoint`` (name + load())."""

    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self._target = target

    def load(self) -> object:
        return self._target


def fresh_namer_family() -> tuple[Registry, type]:
    """A private namer registry and base class, so tests leave the real ones alone."""
    registry = Registry("namers", "l5d.namers")

    class TestNamerConfig(NamerConfig, registry=registry):
        __slots__ = ()

    return registry, TestNamerConfig


def echo_namer(base: type, kind: str = "test.echo") -> type:
    """A third-party-style namer config with one key of its own."""

    @dataclass(frozen=True, slots=True)
    class EchoNamerConfig(base):  # type: ignore[misc, valid-type]
        kind: ClassVar[str] = "test.echo"
        prefix: Path = Path.of("echo")
        experimental: bool = False
        transformers: tuple[()] = ()
        word: str = "hi"

        @classmethod
        def from_fields(cls, f: Any) -> "EchoNamerConfig":
            return cls(prefix=Path.of("echo"), word=f.string("word", "hi"))

        def to_json(self) -> dict[str, Any]:
            return {"kind": self.kind, "prefix": "/echo", "word": self.word}

    return EchoNamerConfig


class BuiltinKindsTests:
    """The built-in kinds are registered on import."""

    def test_namer_kinds(self) -> None:
        """The built-in namers: files, Kubernetes (all namespaces, or one), rewriting."""
        assert NAMERS.kinds() == ("io.l5d.fs", "io.l5d.k8s", "io.l5d.k8s.ns", "io.l5d.rewrite")

    def test_identifier_kinds(self) -> None:
        """The HTTP identifiers, sorted."""
        assert IDENTIFIERS.kinds() == (
            "io.l5d.header", "io.l5d.header.path", "io.l5d.header.token", "io.l5d.ingress",
            "io.l5d.methodAndHost", "io.l5d.path", "io.l5d.static",
        )

    def test_builtin_telemeters(self) -> None:
        assert TELEMETERS.kinds() == ("io.l5d.influxdb", "io.l5d.prometheus",
                                      "io.l5d.recentRequests", "io.l5d.statsd",
                                      "io.l5d.tracelog", "io.l5d.zipkin")

    def test_registered_class_is_the_slots_dataclass(self) -> None:
        """The registry holds the final (slots) class, not the pre-decorator one."""
        assert IDENTIFIERS.get("io.l5d.path") is PathIdentifierConfig


class DuplicateKindTests:
    """Two classes with one kind are rejected (Linkerd ensureUniqueKinds)."""

    def test_subclass_with_a_taken_kind(self) -> None:
        """Defining a second io.l5d.path identifier raises DuplicateKind."""
        with pytest.raises(DuplicateKind) as info:

            class Impostor(IdentifierConfig):
                __slots__ = ()
                kind = "io.l5d.path"

        assert str(info.value) == (
            'l5d.identifiers: identifiers: duplicate kind "io.l5d.path": '
            "l5d.config.identifiers.PathIdentifierConfig and "
            f"{__name__}.DuplicateKindTests.test_subclass_with_a_taken_kind.<locals>.Impostor"
        )
        assert IDENTIFIERS.get("io.l5d.path") is PathIdentifierConfig

    def test_duplicate_kind_is_a_config_error(self) -> None:
        """DuplicateKind is a ConfigError (and so a ValueError)."""
        assert issubclass(DuplicateKind, ConfigError) and issubclass(DuplicateKind, ValueError)

    def test_registering_the_same_class_again_is_a_no_op(self) -> None:
        """Re-registering a class (as entry-point loading does) changes nothing."""
        IDENTIFIERS.register(PathIdentifierConfig)
        assert IDENTIFIERS.get("io.l5d.path") is PathIdentifierConfig


class ThirdPartyKindTests:
    """A kind registered in a private family is parsed, checked and rendered."""

    def test_parse_with_a_private_registry(self) -> None:
        """parse_config(plugins=...) resolves kinds in the given registries."""
        registry, base = fresh_namer_family()
        echo = echo_namer(base)
        plugins = Plugins(namers=registry)
        config = parse_config(MINIMAL + "namers: [{kind: test.echo, word: hello}]", plugins=plugins)
        assert config.namers == (echo(word="hello"),)
        assert config.namers[0].dtab_prefix == Path.read("/#/echo")

    def test_private_kind_is_unknown_to_the_default_registry(self) -> None:
        """A kind registered in a private registry does not leak into NAMERS."""
        registry, base = fresh_namer_family()
        echo_namer(base)
        assert "test.echo" in registry and "test.echo" not in NAMERS

    def test_plugin_keys_are_checked(self) -> None:
        """Keys the plugin did not read are unknown keys, listing the ones it did."""
        registry, base = fresh_namer_family()
        echo_namer(base)
        with pytest.raises(ConfigError) as info:
            parse_config(MINIMAL + "namers: [{kind: test.echo, wrod: x}]", "c.yaml",
                         plugins=Plugins(namers=registry))
        assert str(info.value) == (
            'c.yaml:2: namers[0].wrod: unknown key "wrod"; did you mean "word"? '
            '(known keys: kind, word)'
        )


class EntryPointTests:
    """load_entry_points / load_installed_plugins with fake entry point lists."""

    def test_loads_a_new_kind(self) -> None:
        """An entry point naming a subclass registers it."""
        registry, base = fresh_namer_family()
        other, _ = fresh_namer_family()
        echo = echo_namer(base)
        load_entry_points(other, NamerConfig, [FakeEntryPoint("test.echo", echo)])
        assert other.get("test.echo") is echo

    def test_already_registered_class_is_fine(self) -> None:
        """Loading a class whose import already registered it is a no-op."""
        registry, base = fresh_namer_family()
        echo = echo_namer(base)
        load_entry_points(registry, NamerConfig, [FakeEntryPoint("test.echo", echo)])
        assert registry.kinds() == ("test.echo",)

    def test_duplicate_kind_from_an_entry_point(self) -> None:
        """A third-party class reusing a taken kind raises DuplicateKind."""
        registry, base = fresh_namer_family()
        echo_namer(base)
        other_registry, other_base = fresh_namer_family()
        clash = echo_namer(other_base)
        with pytest.raises(DuplicateKind):
            load_entry_points(registry, NamerConfig, [FakeEntryPoint("test.echo", clash)])

    def test_not_a_plugin_class(self) -> None:
        """An entry point that loads something else is a ConfigError."""
        registry, _ = fresh_namer_family()
        with pytest.raises(ConfigError) as info:
            load_entry_points(registry, NamerConfig, [FakeEntryPoint("x", object)])
        assert str(info.value) == (
            "l5d.namers: namers: entry point 'x' does not name a NamerConfig subclass"
        )

    def test_name_must_match_kind(self) -> None:
        """The entry point's name is the kind it provides."""
        registry, base = fresh_namer_family()
        echo = echo_namer(base)
        with pytest.raises(ConfigError, match="whose kind is 'test.echo'"):
            load_entry_points(registry, NamerConfig, [FakeEntryPoint("test.other", echo)])

    def test_load_installed_plugins_asks_each_group(self) -> None:
        """Every family's group is queried and its entry points registered."""
        namers, base = fresh_namer_family()
        echo = echo_namer(base)
        other = Plugins(namers=Registry("namers", "l5d.namers"),
                        identifiers=Registry("identifiers", "l5d.identifiers"),
                        telemeters=Registry("telemetry", "l5d.telemeters"),
                        transformers=Registry("transformers", "l5d.transformers"))
        asked = []

        def entry_points(group: str) -> list[FakeEntryPoint]:
            asked.append(group)
            return [FakeEntryPoint("test.echo", echo)] if group == "l5d.namers" else []

        load_installed_plugins(entry_points, other)
        assert asked == ["l5d.namers", "l5d.identifiers", "l5d.telemeters", "l5d.transformers"]
        assert other.namers.get("test.echo") is echo
