"""A Zipkin collector's HTTP API in the test process: ``POST /api/v2/spans`` on 127.0.0.1.

:class:`ZipkinCollector` is a real HTTP server (``http.server``, one thread per
connection) that accepts what Zipkin's collector accepts on that path, a JSON list of v2
spans sent as ``application/json``, answers ``202 Accepted`` as Zipkin does, and keeps
every span. Anything else is answered 400 or 404 and recorded in ``errors``, and so is
every span :func:`span_problems` finds fault with (the constraints of Zipkin's
``zipkin2-api.yaml`` on a v2 span).
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TRACE_ID = re.compile(r"[a-f0-9]{16}(?:[a-f0-9]{16})?")
_SPAN_ID = re.compile(r"[a-f0-9]{16}")
_KINDS = {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}
_FIELDS = {"traceId", "id", "parentId", "name", "kind", "timestamp", "duration", "debug",
           "shared", "localEndpoint", "remoteEndpoint", "annotations", "tags"}


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _endpoint_problems(where: str, ep: object) -> list[str]:
    if not isinstance(ep, dict) or set(ep) - {"serviceName", "ipv4", "ipv6", "port"}:
        return [f"{where}: not an endpoint: {ep!r}"]
    out = []
    name = ep.get("serviceName")
    if name is not None and (not isinstance(name, str) or name != name.lower()):
        out.append(f"{where}.serviceName: not a lower-case string: {name!r}")
    for key, version in (("ipv4", 4), ("ipv6", 6)):
        if key in ep:
            try:
                assert ipaddress.ip_address(ep[key]).version == version
            except (ValueError, AssertionError):
                out.append(f"{where}.{key}: {ep[key]!r}")
    if "port" in ep and not (_int(ep["port"]) and 0 < ep["port"] < 65536):
        out.append(f"{where}.port: {ep['port']!r}")
    return out


def span_problems(span: object) -> list[str]:
    """What is wrong with one v2 span (empty: nothing)."""
    if not isinstance(span, dict):
        return [f"not an object: {span!r}"]
    out = [f"unknown field {k}" for k in set(span) - _FIELDS]
    if not isinstance(span.get("traceId"), str) or not _TRACE_ID.fullmatch(span["traceId"]):
        out.append(f"traceId: {span.get('traceId')!r}")
    for key in ("id", "parentId"):
        if (key == "id" or key in span) and (
                not isinstance(span.get(key), str) or not _SPAN_ID.fullmatch(span[key])):
            out.append(f"{key}: {span.get(key)!r}")
    if "kind" in span and span["kind"] not in _KINDS:
        out.append(f"kind: {span['kind']!r}")
    name = span.get("name", "")
    if not isinstance(name, str) or name != name.lower():
        out.append(f"name: not lower case: {span['name']!r}")
    if "timestamp" in span and not (_int(span["timestamp"]) and span["timestamp"] > 0):
        out.append(f"timestamp: {span['timestamp']!r}")
    if "duration" in span and not (_int(span["duration"]) and span["duration"] >= 1):
        out.append(f"duration: {span['duration']!r}")
    for key in ("debug", "shared"):
        if key in span and not isinstance(span[key], bool):
            out.append(f"{key}: {span[key]!r}")
    for key in ("localEndpoint", "remoteEndpoint"):
        if key in span:
            out += _endpoint_problems(key, span[key])
    tags = span.get("tags", {})
    if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        out.append(f"tags: not strings: {tags!r}")
    for a in span.get("annotations", []):
        if not (isinstance(a, dict) and set(a) == {"timestamp", "value"}
                and _int(a["timestamp"]) and isinstance(a["value"], str)):
            out.append(f"annotation: {a!r}")
    return out


class ZipkinCollector:
    """``port``, ``spans`` (in arrival order), ``posts`` (spans per POST), ``errors``."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.posts: list[int] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = 202
                if self.path != "/api/v2/spans":
                    status = 404
                    collector.errors.append(f"POST {self.path}")
                elif self.headers.get("Content-Type") != "application/json":
                    status = 400
                    collector.errors.append(f"content type {self.headers.get('Content-Type')}")
                else:
                    try:
                        spans = json.loads(body)
                        assert isinstance(spans, list)
                    except (ValueError, AssertionError):
                        status = 400
                        collector.errors.append(f"not a JSON list: {body[:100]!r}")
                    else:
                        with collector._lock:
                            for span in spans:
                                collector.errors += span_problems(span)
                            collector.spans.extend(spans)
                            collector.posts.append(len(spans))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __enter__(self) -> "ZipkinCollector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def trace(self, trace_id: str) -> list[dict]:
        """The spans of one trace."""
        with self._lock:
            return [s for s in self.spans if s.get("traceId") == trace_id]
