"""An exchange's :class:`~l5d.telemetry.record.RequestRecord` (pure, over its fields).

Made only when the router has request sinks; nothing here runs otherwise.
"""

from __future__ import annotations

from typing import Any

from l5d.telemetry.record import RequestRecord

__all__ = ["exchange_record"]


def exchange_record(ex: Any, ok: bool, now: float, duration_us: int, wall_now: float,
                    label: str) -> RequestRecord:
    """The record of ``ex``, over at monotonic ``now`` (``wall_now`` on the wall clock)."""
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
    return RequestRecord(
        label, wall_now - (now - ex.started_at), duration_us, head.method,
        head.target.decode("latin-1"), head.version, host.decode("latin-1"), head.peer,
        ex.status, ok,
        svc.name if svc is not None else "",
        client.name if client is not None else "",
        node.endpoint.address if node is not None else "",
        ex.retries, ex.error, user_agent.decode("latin-1"), referer.decode("latin-1"),
        ex.response_bytes)
