"""An exchange's :class:`~l5d.telemetry.record.RequestRecord` and its trace (pure, over its
fields).

Made only when the router has request sinks; nothing here runs otherwise.
"""

from __future__ import annotations

from typing import Any

from l5d.http.headers import TraceId
from l5d.http.trace import sampled_of
from l5d.telemetry.record import RequestRecord

__all__ = ["exchange_record", "trace_of", "trace_sampled"]

_NEW_TUPLE = tuple.__new__


def trace_of(ex: Any) -> TraceId | int:
    """The trace ``ex`` went upstream with (``head.trace``: an int is the one-span root of a
    router without tracers). A request l5d answered before sending it anywhere gets its
    trace decided now, as a :class:`TraceId` with span 0 (no client span), kept on the head
    so it is decided once."""
    head = ex.head
    trace = getattr(head, "trace", None)
    if trace is None:
        tracing = ex.router.tracing
        incoming, rate = tracing.read_headers(head.headers)
        t = tracing.decide(incoming, rate)
        trace = head.trace = TraceId(0, t.parent_id, t.trace_id, t.flags)
        if incoming is not None and incoming.parent_id != incoming.span_id:
            head.trace_parent = incoming.parent_id
    return trace


def trace_sampled(trace: TraceId | int) -> bool | None:
    """The sampling decision of a :func:`trace_of` (``None``: undecided)."""
    return None if type(trace) is int else sampled_of(trace.flags)  # type: ignore[union-attr]


def exchange_record(ex: Any, ok: bool, now: float, duration_us: int, wall_now: float,
                    label: str) -> RequestRecord:
    """The record of ``ex``, over at monotonic ``now`` (``wall_now`` on the wall clock), with
    its trace (:func:`trace_of`)."""
    head = ex.head
    info = head.info
    absolute = head.absolute
    host = b""
    if absolute is not None and absolute.authority:
        host = absolute.authority
    elif info is not None and info.host is not None:
        host = info.host
    user_agent = referer = b""
    for name, value in head.headers:
        lower = name.lower()
        if lower == b"user-agent":
            user_agent = value
        elif lower == b"referer":
            referer = value
    svc = ex.svc
    client = ex.route
    node = ex.picked
    trace = trace_of(ex)
    if type(trace) is int:
        trace_id = span_id = parent_id = trace
        sampled = None
    else:
        trace_id, span_id, parent_id = trace.trace_id, trace.span_id, trace.parent_id
        sampled = sampled_of(trace.flags)
    client_sent = 0.0
    if client is not None and span_id:
        client_sent = wall_now - (now - ex._client_at)
    # tuple.__new__ spares NamedTuple's Python-level __new__ (every field is given here)
    return _NEW_TUPLE(RequestRecord, (
        label, wall_now - (now - ex.started_at), duration_us, head.method,
        head.target.decode("latin-1"), head.version, host.decode("latin-1"), head.peer,
        ex.status, ok,
        svc.name if svc is not None else "",
        client.name if client is not None else "",
        node.endpoint.address if node is not None else "",
        ex.retries, ex.error, user_agent.decode("latin-1"), referer.decode("latin-1"),
        ex.response_bytes, trace_id, span_id, parent_id, sampled, client_sent,
        getattr(head, "trace_parent", 0)))
