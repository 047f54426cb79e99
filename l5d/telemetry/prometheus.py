"""The stats registry in Prometheus' text format, with Linkerd's names and labels (pure).

A metric's name is the telemeter's ``prefix`` plus its scopes joined by ``:``, every
character outside ``[a-zA-Z0-9:]`` made ``_``. Scopes become labels as Linkerd's
``io.l5d.prometheus`` makes them (:mod:`l5d.telemetry.labels`):

* ``rt/<router>/...`` -> ``rt:...{rt="<router>"}``;
* ``rt/<r>/service|client|server/<id>/...`` -> ``rt:service:...{rt=..., service="<id>"}``;
* ``rt/<r>/client/<id>/service/<name>/...`` -> ``rt:client:service:...{..., service=...}``;
* ``rt/<r>/<stack>/<id>/failures/<kind>`` -> ``rt:<stack>:failures{..., exception="<kind>"}``.

So ``rt/http/service/svc/hello/requests`` is ``rt:service:requests{rt="http",
service="svc/hello"}``. Counters are ``counter``, gauges ``gauge``; a histogram is a
``summary``: quantiles 0, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999 and 1 from the last snapshot,
with ``_count`` and ``_sum`` over everything recorded (Linkerd gave the last snapshot's
count, which ``rate()`` cannot use), and Linkerd's ``_avg`` as a gauge of its own. Samples
of one name are written together under one ``# HELP`` and ``# TYPE``.
"""

from __future__ import annotations

import math
from typing import Any

from l5d.telemetry.labels import labels_of, metric_name
from l5d.telemetry.stats import Scope, Stats

__all__ = ["render", "metric_name"]

_QUANTILES = (("0", "min"), ("0.5", "p50"), ("0.9", "p90"), ("0.95", "p95"), ("0.99", "p99"),
              ("0.999", "p9990"), ("0.9999", "p9999"), ("1", "max"))
#: what the common leaves mean (``# HELP``); anything else is described by its path
_HELP = {
    "requests": "Requests received.",
    "success": "Requests classified as successful.",
    "failures": "Requests classified as failed (label exception: the kind).",
    "request_latency_ms": "Request latency in milliseconds.",
    "status": "Responses by status code or class.",
    "pending": "Requests in flight.",
    "connections": "Open connections.",
    "connects": "Connections opened.",
    "sent_bytes": "Bytes sent.",
    "received_bytes": "Bytes received.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_labels(labels: list[tuple[str, str]]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


class _Families:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.types: dict[str, str] = {}
        self.help: dict[str, str] = {}
        self.samples: dict[str, list[str]] = {}

    def add(self, family: str, kind: str, help_text: str, line: str) -> None:
        if family not in self.types:
            self.order.append(family)
            self.types[family] = kind
            self.help[family] = help_text
            self.samples[family] = []
        elif self.types[family] != kind:
            return  # a name that two kinds map to (never from l5d's own names): first wins
        self.samples[family].append(line)

    def text(self) -> str:
        out = []
        for family in self.order:
            out.append(f"# HELP {family} {self.help[family]}")
            out.append(f"# TYPE {family} {self.types[family]}")
            out.extend(self.samples[family])
        return "\n".join(out) + "\n" if out else ""


def _help(path: list[str], name: Scope) -> str:
    for seg in reversed(path):
        if seg in _HELP:
            return _HELP[seg]
    return "l5d metric " + _escape("/".join(name)).replace("\n", " ")


def render(stats: Stats, prefix: str = "") -> str:
    """Every metric of ``stats`` in the text exposition format (version 0.0.4)."""
    fams = _Families()
    for kind, items in (("counter", stats.counters()), ("gauge", stats.gauges())):
        for name, value in sorted(items):
            path, labels = labels_of(name)
            family = metric_name(path, prefix)
            fams.add(family, kind, _help(path, name),
                     f"{family}{_fmt_labels(labels)} {_fmt_value(value)}")
    for name, hist in sorted(stats.stats(), key=lambda item: item[0]):
        path, labels = labels_of(name)
        family = metric_name(path, prefix)
        help_text = _help(path, name)
        last = hist.last
        count, total, _ = hist.totals()
        if count == 0:
            continue
        lines = []
        if last.count > 0:
            values = {"min": last.min, "max": last.max, **dict(last.percentiles)}
            for q, field in _QUANTILES:
                lines.append(f"{family}{_fmt_labels(labels + [('quantile', q)])} "
                             f"{_fmt_value(values[field])}")
        lines.append(f"{family}_sum{_fmt_labels(labels)} {_fmt_value(total / hist.scale)}")
        lines.append(f"{family}_count{_fmt_labels(labels)} {count}")
        for line in lines:
            fams.add(family, "summary", help_text, line)
        if last.count > 0:
            fams.add(family + "_avg", "gauge", f"Average of the last snapshot of {family}.",
                     f"{family}_avg{_fmt_labels(labels)} {_fmt_value(last.avg)}")
    return fams.text()
