"""Telemeter configs (top-level ``telemetry`` list) (pure).

Kinds: ``io.l5d.prometheus``, ``io.l5d.influxdb``, ``io.l5d.recentRequests``,
``io.l5d.statsd``, ``io.l5d.zipkin``, ``io.l5d.tracelog``. Third-party telemeters register
under the ``l5d.telemeters`` entry-point group.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from l5d.config._check import _is_int, _is_number, check_int, require
from l5d.config.registry import PluginConfig, Registry

__all__ = ["TELEMETERS", "TelemeterConfig", "PrometheusConfig", "DEFAULT_PROMETHEUS_PATH",
           "InfluxDbConfig", "INFLUXDB_PATH", "RecentRequestsConfig",
           "DEFAULT_RECENT_REQUESTS_CAPACITY",
           "StatsdConfig", "DEFAULT_STATSD_PREFIX", "DEFAULT_STATSD_HOSTNAME",
           "DEFAULT_STATSD_PORT", "DEFAULT_STATSD_GAUGE_INTERVAL_S", "DEFAULT_STATSD_SAMPLE_RATE",
           "TRACELOG_LEVELS", "TracelogConfig", "ZipkinConfig"]

DEFAULT_PROMETHEUS_PATH = "/admin/metrics/prometheus"
INFLUXDB_PATH = "/admin/metrics/influxdb"
DEFAULT_RECENT_REQUESTS_CAPACITY = 10
DEFAULT_ZIPKIN_HOST = "localhost"
#: Zipkin's HTTP port (its v2 JSON API); Linkerd's 9410 was Zipkin's Scribe port
DEFAULT_ZIPKIN_PORT = 9411
DEFAULT_ZIPKIN_SAMPLE_RATE = 0.001
DEFAULT_TRACELOG_SAMPLE_RATE = 1.0
DEFAULT_TRACELOG_LEVEL = "INFO"
#: Linkerd's (TwitterServer's) log levels
TRACELOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL",
                   "OFF")

DEFAULT_STATSD_PREFIX = "linkerd"
DEFAULT_STATSD_HOSTNAME = "127.0.0.1"
DEFAULT_STATSD_PORT = 8125
DEFAULT_STATSD_GAUGE_INTERVAL_S = 10.0
#: l5d's default: every timer value is sent (Linkerd's was 0.01, for counters too)
DEFAULT_STATSD_SAMPLE_RATE = 1.0
#: flushing more often than this costs more than it tells
STATSD_MIN_INTERVAL_MS = 10
STATSD_MAX_INTERVAL_MS = 3_600_000
_STATSD_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")

TELEMETERS = Registry("telemetry", "l5d.telemeters")
"""Telemeter kinds (config key ``telemetry``)."""


class TelemeterConfig(PluginConfig, registry=TELEMETERS):
    """Base of telemeter configs; subclasses set ``kind``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PrometheusConfig(TelemeterConfig):
    """``io.l5d.prometheus``: the metrics in Prometheus' text format on the admin server.

    :param path: ``path``, where the admin server serves them.
    :param prefix: ``prefix``, put before every metric name.
    """

    kind: ClassVar[str] = "io.l5d.prometheus"
    path: str = DEFAULT_PROMETHEUS_PATH
    prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/") or "?" in self.path:
            raise ValueError(f"path: expected an absolute path such as "
                             f"{DEFAULT_PROMETHEUS_PATH}, got {self.path!r}")
        if not isinstance(self.prefix, str):
            raise ValueError(f"prefix: expected a string, got {self.prefix!r}")

    @classmethod
    def from_fields(cls, f: Any) -> "PrometheusConfig":
        return cls(path=f.string("path", DEFAULT_PROMETHEUS_PATH),
                   prefix=f.string("prefix", "", allow_empty=True))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "prefix": self.prefix}


@dataclass(frozen=True, slots=True)
class InfluxDbConfig(TelemeterConfig):
    """``io.l5d.influxdb``: the metrics in InfluxDB's line protocol at
    ``/admin/metrics/influxdb`` (no keys, as Linkerd's)."""

    kind: ClassVar[str] = "io.l5d.influxdb"

    @classmethod
    def from_fields(cls, f: Any) -> "InfluxDbConfig":
        return cls()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True, slots=True)
class RecentRequestsConfig(TelemeterConfig):
    """``io.l5d.recentRequests``: a sample of the last requests at ``/requests``.

    :param sample_rate: ``sampleRate`` (required), the share of requests kept, 0 to 1.
    :param capacity: ``capacity``, how many requests are kept (the oldest go first).
    """

    kind: ClassVar[str] = "io.l5d.recentRequests"
    sample_rate: float
    capacity: int = DEFAULT_RECENT_REQUESTS_CAPACITY

    def __post_init__(self) -> None:
        _check_rate(self.sample_rate)
        check_int("capacity", self.capacity, minimum=0)

    @classmethod
    def from_fields(cls, f: Any) -> "RecentRequestsConfig":
        return cls(sample_rate=f.number("sampleRate", minimum=0, maximum=1),
                   capacity=f.integer("capacity", DEFAULT_RECENT_REQUESTS_CAPACITY, minimum=0))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "sampleRate": self.sample_rate, "capacity": self.capacity}
def _prefix_problem(prefix: object) -> str:
    """What is wrong with a statsd ``prefix`` (``""`` when nothing is)."""
    if isinstance(prefix, str) and (not prefix or _STATSD_PREFIX.fullmatch(prefix)):
        return ""
    return (f"prefix: expected \"\" or names of letters, digits, '_' and '-' joined by '.' "
            f"(such as linkerd or l5d.node1), got {prefix!r}")


def _hostname_problem(hostname: object) -> str:
    """What is wrong with a ``hostname``: an IP literal or a DNS name (letters, digits and
    ``-`` in labels joined by ``.``)."""
    if isinstance(hostname, str) and 0 < len(hostname) <= 253:
        try:
            ipaddress.ip_address(hostname)
            return ""
        except ValueError:
            if _HOSTNAME.fullmatch(hostname):
                return ""
    return f"hostname: expected an IP address or a host name, got {hostname!r}"


@dataclass(frozen=True, slots=True)
class StatsdConfig(TelemeterConfig):
    """``io.l5d.statsd``: the metrics to a statsd collector over UDP, lossless.

    Counters are sent as their deltas and gauges as their values every
    ``gaugeIntervalMs``; histograms as statsd timers, every value recorded since the
    previous flush (see :mod:`l5d.telemetry.statsd`).

    :param prefix: ``prefix``, put with a ``.`` before every name (``""``: none).
    :param hostname: ``hostname``, an IP literal or a name resolved when l5d starts.
    :param port: ``port`` of the collector, 1..65535.
    :param gauge_interval_s: ``gaugeIntervalMs``: how often counters, gauges and timers
        are flushed.
    :param sample_rate: ``sampleRate``, 0 < rate <= 1: the share of timer values sent,
        marked ``|@rate``; counters and gauges are always exact.
    :param experimental: ``experimental``: Linkerd required ``true``; accepted and ignored.
    """

    kind: ClassVar[str] = "io.l5d.statsd"
    prefix: str = DEFAULT_STATSD_PREFIX
    hostname: str = DEFAULT_STATSD_HOSTNAME
    port: int = DEFAULT_STATSD_PORT
    gauge_interval_s: float = DEFAULT_STATSD_GAUGE_INTERVAL_S
    sample_rate: float = DEFAULT_STATSD_SAMPLE_RATE
    experimental: bool = False

    def __post_init__(self) -> None:
        for problem in (_prefix_problem(self.prefix), _hostname_problem(self.hostname)):
            if problem:
                raise ValueError(problem)
        _check_port(self.port)
        interval = self.gauge_interval_s
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not STATSD_MIN_INTERVAL_MS <= interval * 1000 <= STATSD_MAX_INTERVAL_MS:
            raise ValueError(f"gaugeIntervalMs: expected {STATSD_MIN_INTERVAL_MS}.."
                             f"{STATSD_MAX_INTERVAL_MS} milliseconds, got {interval!r} s")
        rate = self.sample_rate
        require(_is_number(rate) and 0 < rate <= 1, "sampleRate", rate,
                "a number with 0 < sampleRate <= 1 (1: every timer value is sent)")
        require(isinstance(self.experimental, bool), "experimental", self.experimental,
                "a boolean")

    @classmethod
    def from_fields(cls, f: Any) -> "StatsdConfig":
        prefix = f.string("prefix", DEFAULT_STATSD_PREFIX, allow_empty=True)
        hostname = f.string("hostname", DEFAULT_STATSD_HOSTNAME)
        for key, problem in (("prefix", _prefix_problem(prefix)),
                             ("hostname", _hostname_problem(hostname))):
            if problem:
                raise f.error(problem.partition(": ")[2], key)
        return cls(prefix=prefix, hostname=hostname,
                   port=f.integer("port", DEFAULT_STATSD_PORT, minimum=1, maximum=65535),
                   gauge_interval_s=f.integer(
                       "gaugeIntervalMs", round(DEFAULT_STATSD_GAUGE_INTERVAL_S * 1000),
                       minimum=STATSD_MIN_INTERVAL_MS, maximum=STATSD_MAX_INTERVAL_MS) / 1000,
                   sample_rate=f.number("sampleRate", DEFAULT_STATSD_SAMPLE_RATE, above=0,
                                        maximum=1),
                   experimental=f.boolean("experimental", False))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "experimental": self.experimental, "prefix": self.prefix,
                "hostname": self.hostname, "port": self.port,
                "gaugeIntervalMs": round(self.gauge_interval_s * 1000),
                "sampleRate": self.sample_rate}




def _check_rate(value: object) -> None:
    require(_is_number(value) and 0.0 <= value <= 1.0,  # type: ignore[operator]
            "sampleRate", value, "a number from 0.0 to 1.0")


def _check_port(value: object) -> None:
    require(_is_int(value) and 1 <= value <= 65535,  # type: ignore[operator]
            "port", value, "a port number (1-65535)")


@dataclass(frozen=True, slots=True)
class ZipkinConfig(TelemeterConfig):
    """``io.l5d.zipkin``: sampled spans, as Zipkin v2 JSON, POSTed to a Zipkin collector's
    ``/api/v2/spans`` (Linkerd sent Thrift over Scribe; l5d speaks Zipkin's HTTP API).

    :param host: ``host``, the collector's host name or address.
    :param port: ``port``, its HTTP port (Zipkin's 9411; Linkerd's default 9410 was Scribe).
    :param sample_rate: ``sampleRate``, the share of new traces sampled (0..1).
    """

    kind: ClassVar[str] = "io.l5d.zipkin"
    host: str = DEFAULT_ZIPKIN_HOST
    port: int = DEFAULT_ZIPKIN_PORT
    sample_rate: float = DEFAULT_ZIPKIN_SAMPLE_RATE

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host or any(
                c in self.host for c in "/?#@ "):
            raise ValueError(f"host: expected a host name or address, got {self.host!r}")
        _check_port(self.port)
        _check_rate(self.sample_rate)

    @classmethod
    def from_fields(cls, f: Any) -> "ZipkinConfig":
        return cls(host=f.string("host", DEFAULT_ZIPKIN_HOST),
                   port=f.integer("port", DEFAULT_ZIPKIN_PORT, minimum=1, maximum=65535),
                   sample_rate=f.number("sampleRate", DEFAULT_ZIPKIN_SAMPLE_RATE, minimum=0.0,
                                        maximum=1.0))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "host": self.host, "port": self.port,
                "sampleRate": self.sample_rate}


@dataclass(frozen=True, slots=True)
class TracelogConfig(TelemeterConfig):
    """``io.l5d.tracelog``: sampled spans written to l5d's log.

    :param sample_rate: ``sampleRate``: the share of traces logged when no sampling decision
        came with the request or was made by another tracer (0..1).
    :param level: ``level``, one of :data:`TRACELOG_LEVELS` (``OFF`` logs nothing).
    :param host: ``host``: in Linkerd's documentation, not read by its code; accepted and
        unused.
    """

    kind: ClassVar[str] = "io.l5d.tracelog"
    sample_rate: float = DEFAULT_TRACELOG_SAMPLE_RATE
    level: str = DEFAULT_TRACELOG_LEVEL
    host: str | None = None

    def __post_init__(self) -> None:
        _check_rate(self.sample_rate)
        if self.level not in TRACELOG_LEVELS:
            raise ValueError(f"level: expected one of {', '.join(TRACELOG_LEVELS)}, "
                             f"got {self.level!r}")
        if self.host is not None and not isinstance(self.host, str):
            raise ValueError(f"host: expected a string, got {self.host!r}")

    @classmethod
    def from_fields(cls, f: Any) -> "TracelogConfig":
        raw = f.raw("level")
        if raw is not None and raw.value is False:
            level = "OFF"  # YAML 1.1 reads an unquoted OFF as false
        else:
            level = f.string("level", DEFAULT_TRACELOG_LEVEL)
        if level.upper() not in TRACELOG_LEVELS:
            raise f.error(f'unknown level "{level}" (levels: {", ".join(TRACELOG_LEVELS)})',
                          "level")
        return cls(sample_rate=f.number("sampleRate", DEFAULT_TRACELOG_SAMPLE_RATE,
                                        minimum=0.0, maximum=1.0),
                   level=level.upper(), host=f.string("host", None))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "sampleRate": self.sample_rate,
                               "level": self.level}
        if self.host is not None:
            out["host"] = self.host
        return out
