"""What one finished request leaves for the request sinks (pure).

A :class:`RequestRecord` is made at the end of an exchange only when the router has
sinks (``httpAccessLog``, ``io.l5d.recentRequests``, the tracers): without them the data
path pays one truth test. Sinks read it and never keep the exchange itself.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RequestRecord"]


class RequestRecord(NamedTuple):
    """One request through a router, as it ended (a named tuple: a frozen dataclass of
    these fields took 4.3 µs to make, this takes well under one).

    :param router: the router's label.
    :param started: wall-clock seconds when its head was in.
    :param duration_us: from the head in to the response's end (``request_latency_ms``).
    :param method: the request method. :param uri: the request target as received.
    :param version: ``"1.1"`` or ``"1.0"``.
    :param host: the authority it was sent to (``Host`` or the absolute URI's), or ``""``.
    :param source: the client's address ``ip:port``.
    :param status: the status the client got (``-1``: its connection was cut first).
    :param ok: the response classifier's verdict (success or failure).
    :param service: the logical name (``/svc/hello``), or ``""`` when not identified.
    :param client: the bound id (``/#/io.l5d.fs/hello``), or ``""`` when not bound.
    :param endpoint: ``ip:port`` of the last endpoint tried, or ``""``.
    :param retries: how many times it was sent again.
    :param error: l5d's own error text (``l5d-err``) when l5d answered, else ``""``.
    :param user_agent: the ``User-Agent`` header, or ``""``. :param referer: ``Referer``.
    :param response_bytes: body bytes sent to the client.
    :param trace_id: the request's trace id (``l5d-reqid`` is its low 64 bits), or 0.
    :param span_id: the span of l5d's client request upstream (0: none went; retries go
        with the same span).
    :param parent_id: that span's parent, l5d's server span: the incoming span, or at a new
        trace the trace id (the span itself when the router has no tracer: then l5d's
        one span is both).
    :param server_parent_id: the parent of l5d's server span (the incoming span's parent),
        or 0 when the server span is a root.
    :param sampled: the trace's sampling decision: ``None`` when none was made (a tracer
        then gets the record at its own ``sampleRate``, drawn by the router). Tracers get
        the records of sampled traces only.
    :param client_sent: wall-clock seconds the last client request started (0: none).
    """

    router: str
    started: float
    duration_us: int
    method: str
    uri: str
    version: str
    host: str
    source: str
    status: int
    ok: bool
    service: str = ""
    client: str = ""
    endpoint: str = ""
    retries: int = 0
    error: str = ""
    user_agent: str = ""
    referer: str = ""
    response_bytes: int = 0
    trace_id: int = 0
    span_id: int = 0
    parent_id: int = 0
    sampled: bool | None = None
    client_sent: float = 0.0
    server_parent_id: int = 0
