"""The stats registry in InfluxDB's line protocol, as Linkerd's ``io.l5d.influxdb`` (pure).

Linkerd serves it at ``/admin/metrics/influxdb`` for Telegraf to collect (``inputs.exec``
running curl, or ``inputs.http``). Its shape:

* one line per scope that has metrics directly under it: the scope is the
  **measurement**, those metrics are its **fields** (sorted by key);
* the measurement is the scope's path after Linkerd's rewrite of the router, service,
  client and server ids into tags (:mod:`l5d.telemetry.labels`, without Prometheus'
  ``exception`` label: ``failures/<kind>`` stays a measurement ``...:failures`` with a
  field per kind), joined by ``:``, every character outside ``[a-zA-Z0-9:]`` made ``_``;
  metrics with no scope above them go to the measurement ``root``;
* **tags**, sorted by key: ``host`` (the ``Host`` header of the request for the page,
  ``none`` without one), ``rt``, and ``service``/``client``/``server``;
* a counter or gauge is a field of its own name; a histogram gives ``<name>_count``,
  ``_sum``, ``_avg``, ``_min``, ``_max``, ``_p50``, ``_p90``, ``_p95``, ``_p99``,
  ``_p999`` and ``_p9999`` from its last snapshot (only ``_count``, 0, when that window
  was empty: Linkerd wrote nothing before the first snapshot);
* no timestamp: the server stamps the points as it receives them.

So ``rt/http/service/svc/hello/requests`` is
``rt:service,host=...,rt=http,service=svc/hello requests=3``. Every value is written as a
float (no ``i`` suffix, as Linkerd), so a field's type never changes between writes; a
NaN or infinite gauge is left out (the protocol has no such values). Tag values and field
keys escape ``,``, ``=`` and spaces with ``\\`` (Linkerd wrote them as they were).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from l5d.config.telemeters import INFLUXDB_PATH, InfluxDbConfig
from l5d.telemetry.flat import summary_fields
from l5d.telemetry.labels import labels_of, metric_name
from l5d.telemetry.stats import Scope, Stats
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["InfluxDbTelemeter", "render"]

_ROOT = ["root"]
#: Linkerd's influx names of the histogram fields where they differ from metrics.json's
_STAT_FIELD = {"p9990": "p999"}
_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
#: a backslash that InfluxDB 1.x would read as an escape (or reject, at the end)
_LOOSE_BACKSLASH = re.compile(r"\\(?=[ ,=\r\n]|$)")


def _escape(text: str) -> str:
    """A tag value or field key: commas, equals signs and spaces escaped; line breaks,
    which the protocol cannot carry, made spaces; a backslash that would escape what
    follows it, or end the text (which InfluxDB 1.x cannot read), made ``_``."""
    return _LOOSE_BACKSLASH.sub("_", text).translate(_ESCAPES)


def _value(v: Any) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    v = float(v)
    if not math.isfinite(v):
        return None
    return repr(v)


class _Lines:
    """Fields gathered by (measurement, tags)."""

    def __init__(self, host: str) -> None:
        self._host = ("host", host or "none")
        #: a scope -> the fields of its line (the scopes' rewrites are made once each)
        self._by_scope: dict[Scope, dict[str, str]] = {}
        self.points: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}

    def add(self, name: Scope, value: Any, suffix: str = "") -> None:
        text = _value(value)
        if text is None:
            return
        scope = name[:-1]
        fields = self._by_scope.get(scope)
        if fields is None:
            # the rewrite of a scope depends only on it and on something being below it
            path, labels = labels_of(name, exception_label=False)
            key = (metric_name(path[:-1] or _ROOT), tuple(sorted([self._host, *labels])))
            fields = self._by_scope[scope] = self.points.setdefault(key, {})
        fields[name[-1] + suffix] = text

    def text(self) -> str:
        out = []
        keys: dict[str, str] = {}  # field key -> escaped (the same few names recur)
        for (measurement, tags), fields in sorted(self.points.items()):
            tag_text = "".join(f",{k}={_escape(v)}" for k, v in tags if v)
            parts = []
            for k, v in sorted(fields.items()):
                escaped = keys.get(k)
                if escaped is None:
                    escaped = keys[k] = _escape(k)
                parts.append(f"{escaped}={v}")
            out.append(f"{measurement}{tag_text} {','.join(parts)}\n")
        return "".join(out)


def render(stats: Stats, host: str = "") -> str:
    """Every metric of ``stats`` as line protocol, tagged ``host=<host>`` (``none`` when
    empty); ``""`` when there is nothing to write."""
    lines = _Lines(host)
    for name, value in stats.counters():
        lines.add(name, value)
    for name, value in stats.gauges():
        lines.add(name, value)
    for name, hist in stats.stats():
        for field, value in summary_fields(hist.last):
            lines.add(name, value, "_" + _STAT_FIELD.get(field, field))
    return lines.text()


class InfluxDbTelemeter(Telemeter):
    """``io.l5d.influxdb``: the registry in line protocol at ``/admin/metrics/influxdb``."""

    def __init__(self, cfg: InfluxDbConfig, ctx: TelemetryContext) -> None:
        read = ctx.read_metrics

        def page(args: Mapping[str, str]) -> tuple[int, bytes, bytes]:
            host = getattr(args, "host", "")
            return 200, b"text/plain; charset=utf-8", render(read(), host).encode("utf-8")

        self.pages = {INFLUXDB_PATH: page}
