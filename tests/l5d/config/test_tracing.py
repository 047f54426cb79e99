"""Tracing config: io.l5d.zipkin and io.l5d.tracelog telemeters, the tracePropagator key,
and how the linker hands the tracers' sample rate to its routers."""

from __future__ import annotations

import json

import pytest
from twisted.internet.testing import MemoryReactor

from l5d.config import ConfigError, parse_config
from l5d.config.telemeters import TracelogConfig, ZipkinConfig
from l5d.linker import Env, build

ROUTER = "routers:\n- protocol: http\n  servers: [{port: 0}]\n"


def parse(telemetry: str = "", router_extra: str = ""):
    text = (f"telemetry:\n{telemetry}" if telemetry else "") + ROUTER + router_extra
    return parse_config(text, "linkerd.yaml")


class ZipkinConfigTests:
    def test_defaults(self) -> None:
        """Linkerd's host and sampleRate; Zipkin's HTTP port 9411 (not Scribe's 9410)."""
        [z] = parse("- kind: io.l5d.zipkin\n").telemetry
        assert z == ZipkinConfig("localhost", 9411, 0.001)

    def test_keys_and_round_trip(self) -> None:
        config = parse("- kind: io.l5d.zipkin\n  host: zipkin.tracing\n  port: 9410\n"
                       "  sampleRate: 1\n")
        assert config.telemetry == (ZipkinConfig("zipkin.tracing", 9410, 1.0),)
        assert parse_config(json.dumps(config.to_json())) == config

    @pytest.mark.parametrize("extra, message", [
        ("  sampleRate: 1.5\n", "telemetry[0].sampleRate: expected a number <= 1"),
        ("  sampleRate: -0.1\n", "telemetry[0].sampleRate: expected a number >= 0"),
        ("  port: 0\n", "telemetry[0].port: expected an integer >= 1"),
        ("  host: ''\n", "telemetry[0].host: expected a non-empty string"),
        ("  host: a/b\n", "telemetry[0]: host: expected a host name"),
        ("  scribe: true\n", 'telemetry[0].scribe: unknown key "scribe"'),
    ])
    def test_errors(self, extra: str, message: str) -> None:
        with pytest.raises(ConfigError) as info:
            parse("- kind: io.l5d.zipkin\n" + extra)
        assert message in str(info.value)


class TracelogConfigTests:
    def test_defaults(self) -> None:
        [t] = parse("- kind: io.l5d.tracelog\n").telemetry
        assert t == TracelogConfig(1.0, "INFO", None)

    def test_keys_and_round_trip(self) -> None:
        """Linkerd's example (sampleRate 0.2, level TRACE); host is accepted."""
        config = parse("- kind: io.l5d.tracelog\n  sampleRate: 0.2\n  level: trace\n"
                       "  host: localhost\n")
        assert config.telemetry == (TracelogConfig(0.2, "TRACE", "localhost"),)
        assert parse_config(json.dumps(config.to_json())) == config

    def test_unknown_level(self) -> None:
        with pytest.raises(ConfigError) as info:
            parse("- kind: io.l5d.tracelog\n  level: LOUD\n")
        assert 'telemetry[0].level: unknown level "LOUD"' in str(info.value)


class TracePropagatorTests:
    def test_default(self) -> None:
        assert parse().routers[0].trace_propagator == "io.l5d.default"

    @pytest.mark.parametrize("kind", ["io.l5d.default", "io.l5d.zipkin"])
    def test_kinds(self, kind: str) -> None:
        config = parse(router_extra=f"  tracePropagator: {{kind: {kind}}}\n")
        assert config.routers[0].trace_propagator == kind
        assert config.routers[0].to_json()["tracePropagator"] == {"kind": kind}

    @pytest.mark.parametrize("extra, message", [
        ("  tracePropagator: {kind: io.l5d.b3}\n",
         'routers[0].tracePropagator.kind: unknown kind "io.l5d.b3" '
         "(known kinds: io.l5d.default, io.l5d.zipkin)"),
        ("  tracePropagator: {}\n", 'routers[0].tracePropagator: missing required key "kind"'),
        ("  tracePropagator: {kind: io.l5d.zipkin, x: 1}\n",
         'routers[0].tracePropagator.x: unknown key "x"'),
    ])
    def test_errors(self, extra: str, message: str) -> None:
        with pytest.raises(ConfigError) as info:
            parse(router_extra=extra)
        assert message in str(info.value)


class LinkerTracingTests:
    """The routers sample new traces at the largest rate of the configured tracers."""

    @pytest.mark.parametrize("telemetry, traced, rate", [
        ("", False, 0.0),
        ("- kind: io.l5d.prometheus\n", False, 0.0),
        ("- kind: io.l5d.tracelog\n", True, 0.0),
        ("- kind: io.l5d.tracelog\n  level: OFF\n", False, 0.0),
        ("- kind: io.l5d.zipkin\n", True, 0.001),
        ("- kind: io.l5d.zipkin\n  sampleRate: 0.2\n- kind: io.l5d.zipkin\n  port: 1\n"
         "  sampleRate: 0.5\n- kind: io.l5d.tracelog\n", True, 0.5),
    ])
    def test_rate(self, telemetry: str, traced: bool, rate: float) -> None:
        linker = build(parse(telemetry), Env(), MemoryReactor())
        [router] = linker.routers
        assert (router.tracing.traced, router.tracing.sample_rate) == (traced, rate)
        assert len(router.trace_sinks) == telemetry.count("io.l5d.zipkin") + (
            "io.l5d.tracelog\n" in telemetry and "OFF" not in telemetry)
        assert router.sinks == ()

    def test_propagator_reaches_the_router(self) -> None:
        config = parse(router_extra="  tracePropagator: {kind: io.l5d.zipkin}\n")
        [router] = build(config, Env(), MemoryReactor()).routers
        assert router.tracing.propagator == "io.l5d.zipkin"
