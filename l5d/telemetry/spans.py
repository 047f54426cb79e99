"""A request record as Zipkin v2 spans (pure).

One request through l5d is two spans, as in Linkerd: l5d's **server** span (kind
``SERVER``) from the request head in to the response's end, and l5d's **client** span
(kind ``CLIENT``, the server span's child) from the last client request's start to the
same end. A request l5d answered itself (no route, a bad request) has the server span
alone. When the request came with a trace, the server span has the incoming span's id
and is marked ``shared`` (Zipkin's model: the caller's client span and this server span
are one span, reported by both sides).

Ids are lower-case hex (16 digits, 32 for a 128-bit trace id), times integer
microseconds. Names are lower case and of low cardinality, as Zipkin asks: the server
span's is Linkerd's ``<router label> <service>`` (the method when l5d answered before
naming a service), the client span's the method (the path is in ``http.uri``).
``localEndpoint.serviceName`` is the router's label, in lower case; the client span's
``remoteEndpoint`` is the endpoint it went to and the server span's the downstream
client's address. Tags are Linkerd's binary annotations where the record has them
(``router.label``, ``service``, ``client``, ``http.uri``, ``http.req.method``,
``http.req.host``, ``http.req.version``, ``http.rsp.status``, ``l5d.success``), plus
Zipkin's ``error`` on a failure (the ``l5d-err`` text, or the status); a failure is also
Linkerd's ``l5d.failure`` annotation at the end of the span.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from l5d.telemetry.record import RequestRecord

__all__ = ["hex_id", "record_spans"]

_MASK64 = (1 << 64) - 1


def hex_id(value: int) -> str:
    """A span or trace id as Zipkin writes it: 16 lower-case hex digits, or 32 when it does
    not fit in 64 bits."""
    return f"{value:032x}" if value > _MASK64 else f"{value:016x}"


def _endpoint(address: str) -> dict[str, Any] | None:
    """``ip:port`` (``[v6]:port`` too) as a Zipkin endpoint; ``None`` if it is not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return {"ipv4" if ip.version == 4 else "ipv6": str(ip), "port": int(port)}


def record_spans(record: RequestRecord) -> list[dict[str, Any]]:
    """l5d's Zipkin v2 spans of ``record`` (server, then client when one went); none when the
    record has no trace."""
    if not record.trace_id:
        return []
    trace = hex_id(record.trace_id)
    local = {"serviceName": record.router.lower()}
    start_us = int(record.started * 1e6)
    end_us = start_us + max(record.duration_us, 1)
    tags = {"router.label": record.router, "http.uri": record.uri,
            "http.req.method": record.method, "http.req.version": f"HTTP/{record.version}"}
    if record.host:
        tags["http.req.host"] = record.host
    if record.service:
        tags["service"] = record.service
    if record.status > 0:
        tags["http.rsp.status"] = str(record.status)
    annotations = None
    if record.ok:
        tags["l5d.success"] = "1.0"
    else:
        tags["error"] = record.error or (
            str(record.status) if record.status > 0 else "connection closed")
        annotations = [{"timestamp": end_us, "value": "l5d.failure"}]
    server: dict[str, Any] = {
        "traceId": trace, "id": hex_id(record.parent_id), "kind": "SERVER",
        "name": (f"{record.router} {record.service}" if record.service
                 else record.method).lower(),
        "timestamp": start_us, "duration": end_us - start_us, "localEndpoint": local,
    }
    if record.server_parent_id:
        server["parentId"] = hex_id(record.server_parent_id)
    if record.server_parent_id or record.parent_id != record.trace_id:
        server["shared"] = True  # the id came with the request: the caller's client span
    remote = _endpoint(record.source)
    if remote is not None:
        server["remoteEndpoint"] = remote
    server["tags"] = tags
    if annotations:
        server["annotations"] = annotations
    spans = [server]
    if record.span_id and record.span_id != record.parent_id:
        sent_us = int(record.client_sent * 1e6) if record.client_sent else start_us
        sent_us = min(max(sent_us, start_us), end_us - 1)
        client_tags = dict(tags)
        if record.client:
            client_tags["client"] = record.client
        client: dict[str, Any] = {
            "traceId": trace, "id": hex_id(record.span_id), "parentId": hex_id(record.parent_id),
            "kind": "CLIENT", "name": record.method.lower(),
            "timestamp": sent_us, "duration": end_us - sent_us, "localEndpoint": local,
        }
        remote = _endpoint(record.endpoint)
        if remote is not None:
            client["remoteEndpoint"] = remote
        client["tags"] = client_tags
        if annotations:
            client["annotations"] = annotations
        spans.append(client)
    return spans
