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
    dst = ex.dst
    client = ex.route
    node = ex.picked
    endpoint = ""
    if node is not None:
        pool = node.endpoint
        endpoint = f"{pool.host}:{pool.port}"
    return RequestRecord(
        router=label,
        started=wall_now - (now - ex.started_at),
        duration_us=duration_us,
        method=head.method,
        uri=head.target.decode("latin-1"),
        version=head.version,
        host=host.decode("latin-1"),
        source=head.peer,
        status=ex.status,
        ok=ok,
        service=dst.show() if dst is not None else "",
        client=client.name if client is not None else "",
        endpoint=endpoint,
        retries=ex.retries,
        error=ex.error,
        user_agent=user_agent.decode("latin-1"),
        referer=referer.decode("latin-1"),
        response_bytes=ex.response_bytes,
    )
