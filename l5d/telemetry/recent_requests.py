"""``io.l5d.recentRequests``: a sample of the last requests, for the admin server.

Linkerd's telemeter keeps ``capacity`` sampled traces and shows them at ``/requests``
(time, source, router, logical name, concrete name, destination). Here the router hands
every finished request's :class:`~l5d.telemetry.record.RequestRecord` to :meth:`record`,
which keeps it with probability ``sampleRate`` (drawn from the injected ``rng``) in a ring
of ``capacity``: the oldest goes when a new one comes. Keeping one costs a draw and an
append; the pages format what is kept only when asked.

Pages:

* ``/requests.json``: the kept requests, newest first, as JSON objects (see
  :func:`request_json`); ``?router=<label>`` keeps one router's, ``?limit=<n>`` the
  ``n`` newest;
* ``/requests``: the same as a plain HTML table (Linkerd's page); the admin UI mounts its
  own ``/requests`` over it (filterable, linking to the playground: docs/admin.md).

Reactor-thread only.
"""

from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable, Mapping

from l5d.config.telemeters import RecentRequestsConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.telemeter import Telemeter, TelemetryContext

__all__ = ["RecentRequests", "RecentRequestsTelemeter", "request_json", "requests_html"]

_JSON = b"application/json"
_HTML = b"text/html; charset=utf-8"
_TEXT = b"text/plain; charset=utf-8"
#: the table's columns: heading, key of :func:`request_json`
_COLUMNS = (("Time", "time"), ("Router", "router"), ("Source", "source"),
            ("Method", "method"), ("Host", "host"), ("URI", "uri"),
            ("Logical name", "service"), ("Client", "client"), ("Endpoint", "endpoint"),
            ("Status", "status"), ("Latency (ms)", "latency_ms"), ("Error", "error"))


class RecentRequests:
    """The ring: keeps each offered record with probability ``sample_rate``, at most
    ``capacity`` of them (the newest).

    :param sample_rate: 0 keeps nothing, 1 everything (without drawing).
    :param capacity: the ring's size.
    :param rng: a ``random.Random`` (seeded in tests).
    """

    __slots__ = ("sample_rate", "_ring", "_random")

    def __init__(self, sample_rate: float, capacity: int, rng: Any) -> None:
        self.sample_rate = sample_rate
        self._ring: deque[RequestRecord] = deque(maxlen=capacity)
        self._random = rng.random

    def offer(self, record: RequestRecord) -> None:
        """Keep ``record`` if it is sampled."""
        rate = self.sample_rate
        if rate >= 1.0 or (rate > 0.0 and self._random() < rate):
            self._ring.append(record)

    def newest(self, router: str | None = None, limit: int | None = None) -> list[RequestRecord]:
        """The kept records, newest first; only ``router``'s when given; at most ``limit``."""
        out = []
        for rec in reversed(self._ring):
            if limit is not None and len(out) >= limit:
                break
            if router is None or rec.router == router:
                out.append(rec)
        return out

    def replace(self, records: list[RequestRecord]) -> None:
        """Hold ``records`` instead (already sampled, oldest first; the newest
        ``capacity`` kept): the control of workers gathering its workers' rings."""
        self._ring.clear()
        self._ring.extend(records)

    def __len__(self) -> int:
        return len(self._ring)


def _iso(wall_s: float) -> str:
    t = datetime.fromtimestamp(wall_s, timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def request_json(rec: RequestRecord) -> dict[str, Any]:
    """One request as ``/requests.json`` shows it: ``time`` (UTC, ISO 8601, when its head
    was in), ``router``, ``source`` (the client's ``ip:port``), ``method``, ``uri``,
    ``host``, ``service`` (the logical name), ``client`` (the bound id), ``endpoint``
    (``ip:port``), ``status`` (-1: cut before a response), ``latency_ms``, ``retries`` and
    ``error`` (l5d's own ``l5d-err``); a name not known is ``""``."""
    return {
        "time": _iso(rec.started),
        "router": rec.router,
        "source": rec.source,
        "method": rec.method,
        "uri": rec.uri,
        "host": rec.host,
        "service": rec.service,
        "client": rec.client,
        "endpoint": rec.endpoint,
        "status": rec.status,
        "latency_ms": rec.duration_us / 1000,
        "retries": rec.retries,
        "error": rec.error,
    }


def requests_html(rows: Iterable[dict[str, Any]]) -> str:
    """A standalone HTML page with a table of ``rows`` (:func:`request_json` objects),
    every cell escaped."""
    head = "".join(f"<th>{escape(title)}</th>" for title, _ in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(row[key]))}</td>" for _, key in _COLUMNS) + "</tr>\n"
        for row in rows)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>Recent requests</title></head>\n<body>\n<h1>Recent requests</h1>\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"
            "</body></html>\n")


class RecentRequestsTelemeter(Telemeter):
    """``io.l5d.recentRequests``: takes request records, serves ``/requests`` and
    ``/requests.json``. With ``sampleRate`` 0 it takes none (the router then has no
    sink to call for it)."""

    def __init__(self, cfg: RecentRequestsConfig, ctx: TelemetryContext) -> None:
        # the router samples (it draws before it makes a record); the ring keeps all it gets
        self.ring = RecentRequests(1.0, cfg.capacity, ctx.rng)
        self.sample_rate = cfg.sample_rate
        if cfg.sample_rate > 0 and cfg.capacity > 0:
            self.record = self.ring.offer
        self.pages = {"/requests.json": self._json_page, "/requests": self._html_page}

    def _select(self, args: Mapping[str, str]) -> list[dict[str, Any]] | str:
        """The rows ``args`` ask for, or what is wrong with them."""
        limit = None
        raw = args.get("limit")
        if raw is not None:
            try:
                limit = int(raw)
            except ValueError:
                limit = -1
            if limit < 0:
                return f"limit: expected an integer >= 0, got {raw!r}"
        router = args.get("router") or None
        return [request_json(r) for r in self.ring.newest(router, limit)]

    def _json_page(self, args: Mapping[str, str]) -> tuple[int, bytes, bytes]:
        rows = self._select(args)
        if isinstance(rows, str):
            return 400, _TEXT, rows.encode("utf-8") + b"\n"
        return 200, _JSON, json.dumps(rows).encode("utf-8")

    def _html_page(self, args: Mapping[str, str]) -> tuple[int, bytes, bytes]:
        rows = self._select(args)
        if isinstance(rows, str):
            return 400, _TEXT, rows.encode("utf-8") + b"\n"
        return 200, _HTML, requests_html(rows).encode("utf-8")
