"""io.l5d.statsd's config: Linkerd's keys and defaults (sampleRate aside), exact errors."""

from __future__ import annotations

import json

import pytest

from l5d.config import ConfigError, parse_config
from l5d.config.telemeters import StatsdConfig

HEAD = "routers:\n- protocol: http\n  servers: [{port: 0}]\ntelemetry:\n"


def statsd(body: str) -> StatsdConfig:
    [cfg] = parse_config(HEAD + body, "linkerd.yaml").telemetry
    assert isinstance(cfg, StatsdConfig)
    return cfg


class StatsdConfigTests:
    def test_defaults_are_linkerds_but_lossless(self) -> None:
        """prefix linkerd, 127.0.0.1:8125, every 10 s; sampleRate 1 (Linkerd: 0.01)."""
        cfg = statsd("- kind: io.l5d.statsd\n")
        assert (cfg.prefix, cfg.hostname, cfg.port, cfg.gauge_interval_s, cfg.sample_rate,
                cfg.experimental) == ("linkerd", "127.0.0.1", 8125, 10.0, 1.0, False)

    def test_linkerds_example_reads_as_written(self) -> None:
        """Linkerd's linkerd/examples/statsd.yaml telemeter, key for key."""
        cfg = statsd("- kind: io.l5d.statsd\n  experimental: true\n  prefix: linkerd\n"
                     "  hostname: 127.0.0.1\n  port: 8125\n  gaugeIntervalMs: 10000\n"
                     "  sampleRate: 0.01\n")
        assert cfg.to_json() == {
            "kind": "io.l5d.statsd", "experimental": True, "prefix": "linkerd",
            "hostname": "127.0.0.1", "port": 8125, "gaugeIntervalMs": 10000,
            "sampleRate": 0.01}

    def test_to_json_reads_back(self) -> None:
        cfg = statsd("- {kind: io.l5d.statsd, prefix: l5d.node-1, hostname: statsd.local, "
                     "port: 9125, gaugeIntervalMs: 250, sampleRate: 0.5}\n")
        assert statsd("- " + json.dumps(cfg.to_json()) + "\n") == cfg

    @pytest.mark.parametrize("body, message", [
        ("{kind: io.l5d.statsd, port: 0}",
         "telemetry[0].port: expected an integer >= 1, got 0"),
        ("{kind: io.l5d.statsd, port: 70000}",
         "telemetry[0].port: expected an integer <= 65535, got 70000"),
        ("{kind: io.l5d.statsd, gaugeIntervalMs: 0}",
         "telemetry[0].gaugeIntervalMs: expected an integer >= 10, got 0"),
        ("{kind: io.l5d.statsd, gaugeIntervalMs: 3600001}",
         "telemetry[0].gaugeIntervalMs: expected an integer <= 3600000, got 3600001"),
        ("{kind: io.l5d.statsd, sampleRate: 0}",
         "telemetry[0].sampleRate: expected a number > 0, got 0"),
        ("{kind: io.l5d.statsd, sampleRate: 1.5}",
         "telemetry[0].sampleRate: expected a number <= 1, got 1.5"),
        ("{kind: io.l5d.statsd, sampleRate: .nan}",
         "telemetry[0].sampleRate: expected a number, got nan"),
        ("{kind: io.l5d.statsd, prefix: 'my app'}",
         "telemetry[0].prefix: expected \"\" or names of letters, digits, '_' and '-' joined "
         "by '.' (such as linkerd or l5d.node1), got 'my app'"),
        ("{kind: io.l5d.statsd, prefix: 'linkerd.'}",
         "telemetry[0].prefix: expected \"\" or names of letters, digits, '_' and '-' joined "
         "by '.' (such as linkerd or l5d.node1), got 'linkerd.'"),
        ("{kind: io.l5d.statsd, hostname: 'statsd:8125'}",
         "telemetry[0].hostname: expected an IP address or a host name, got 'statsd:8125'"),
        ("{kind: io.l5d.statsd, experimental: 1}",
         "telemetry[0].experimental: expected a boolean, got 1"),
        ("{kind: io.l5d.statsd, flushIntervalMs: 100}",
         'telemetry[0].flushIntervalMs: unknown key "flushIntervalMs" (known keys: '
         'experimental, gaugeIntervalMs, hostname, kind, port, prefix, sampleRate)'),
    ])
    def test_errors(self, body: str, message: str) -> None:
        with pytest.raises(ConfigError) as err:
            statsd("- " + body + "\n")
        assert str(err.value) == "linkerd.yaml:5: " + message

    def test_an_empty_prefix_and_ipv6(self) -> None:
        cfg = statsd("- {kind: io.l5d.statsd, prefix: '', hostname: '::1'}\n")
        assert (cfg.prefix, cfg.hostname) == ("", "::1")

    @pytest.mark.parametrize("kwargs, message", [
        ({"port": 0}, "port: expected a port number (1-65535), got 0"),
        ({"sample_rate": 2.0}, "sampleRate: expected a number with 0 < sampleRate <= 1 "
                               "(1: every timer value is sent), got 2.0"),
        ({"gauge_interval_s": 0.001}, "gaugeIntervalMs: expected 10..3600000 milliseconds, "
                                      "got 0.001 s"),
        ({"hostname": ""}, "hostname: expected an IP address or a host name, got ''"),
    ])
    def test_the_dataclass_checks_itself(self, kwargs, message) -> None:
        with pytest.raises(ValueError) as err:
            StatsdConfig(**kwargs)
        assert str(err.value) == message
