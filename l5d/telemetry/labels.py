"""Linkerd's rewrite of a metric's scopes into a name and labels (pure).

Shared by the exporters whose formats have labels (``io.l5d.prometheus``,
``io.l5d.influxdb``). The router, the ``service``/``client``/``server`` id and a client's
``service`` leave the name and become labels:

* ``rt/<router>/...`` -> ``rt/...`` with ``rt=<router>``;
* ``rt/<r>/service|client|server/<id>/...`` -> ``rt/<stack>/...`` with ``<stack>=<id>``;
* ``rt/<r>/client/<id>/service/<name>/...`` -> ``rt/client/service/...`` with ``service``;
* and for Prometheus only, ``rt/<r>/<stack>/<id>/failures/<kind>`` (and ``exn/<kind>``) ->
  ``rt/<stack>/failures`` (``exceptions``) with ``exception=<kind>``.

An id only becomes a label when something is below it (``rt/http/service/svc/x`` itself
stays a name).
"""

from __future__ import annotations

import re

from l5d.telemetry.stats import Scope

__all__ = ["labels_of", "metric_name"]

_STACKS = ("service", "client", "server")
_DISALLOWED = re.compile(r"[^a-zA-Z0-9:]")


def labels_of(name: Scope, *, exception_label: bool = True
              ) -> tuple[list[str], list[tuple[str, str]]]:
    """``(path, labels)`` of the metric ``name``, labels in the order they were found.

    :param exception_label: rewrite ``failures/<kind>`` and ``exn/<kind>`` into an
        ``exception`` label (Prometheus) rather than keep ``<kind>`` in the path (InfluxDB).
    """
    if len(name) < 3 or name[0] != "rt":
        return list(name), []
    labels = [("rt", name[1])]
    path = ["rt"]
    rest = list(name[2:])
    if len(rest) >= 3 and rest[0] in _STACKS:
        stack = rest[0]
        labels.append((stack, rest[1]))
        path.append(stack)
        rest = rest[2:]
        if stack == "client" and len(rest) >= 3 and rest[0] == "service":
            labels.append(("service", rest[1]))
            path.append("service")
            rest = rest[2:]
        if exception_label and len(rest) == 2 and rest[0] in ("failures", "exn"):
            labels.append(("exception", rest[1]))
            rest = ["failures" if rest[0] == "failures" else "exceptions"]
    return path + rest, labels


def metric_name(path: list[str], prefix: str = "") -> str:
    """``prefix`` and ``path`` joined by ``:``, every character outside ``[a-zA-Z0-9:]``
    made ``_`` (Linkerd's names for Prometheus and InfluxDB measurements)."""
    return _DISALLOWED.sub("_", prefix + ":".join(path))
