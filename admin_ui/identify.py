"""``POST /admin/identify.json``: a whole request -> the name the router would route it to
(pure).

The playground's "whole request" mode: the page sends a method, a host, a request-target and
headers; :func:`identify_request` builds the same :class:`~l5d.router.identifier.RequestView`
the router builds for a request it serves and runs the router's own identifier over it, so
the answer is the router's (``io.l5d.header.token``, ``io.l5d.methodAndHost``,
``io.l5d.path`` with ``consume``, a chain of them...). The request's ``l5d-ctx-dtab`` and
``l5d-dtab`` headers are parsed as the router parses them and returned as the dtab the
request appends to the router's (the playground delegates with it).

As in the router: an absolute-form target (``http://host/path``) makes its authority the
Host; the Host field, when given, is the ``Host`` header.
"""

from __future__ import annotations

from typing import Any, Callable

from dtab import DtabParseError
from l5d.http.headers import local_dtab
from l5d.router.identifier import Identified, RequestView

__all__ = ["identify_request", "parse_request"]

_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
             "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_request(doc: Any) -> tuple[str, str, str, str, list[tuple[str, str]]] | str:
    """``(method, host, uri, version, headers)`` from the JSON object ``doc`` (keys
    ``method`` default GET, ``host``, ``path`` or ``uri`` default ``/``, ``version``
    ``1.1``|``1.0``, ``headers``: ``[[name, value], ...]`` or ``{name: value}``), or what is
    wrong with it."""
    if not isinstance(doc, dict):
        return "expected a JSON object"
    method = str(doc.get("method") or "GET")
    if not set(method) <= _TOKEN:
        return f"method: not an HTTP token: {method!r}"
    uri = str(doc.get("uri") or doc.get("path") or "/")
    if not (uri.startswith("/") or uri.startswith("http://") or uri.startswith("https://")):
        return f"path: expected /... or an absolute http:// URI, got {uri!r}"
    version = str(doc.get("version") or "1.1")
    if version not in ("1.0", "1.1"):
        return f"version: expected 1.0 or 1.1, got {version!r}"
    raw = doc.get("headers") or []
    if isinstance(raw, dict):
        raw = list(raw.items())
    headers = []
    for item in raw if isinstance(raw, list) else [None]:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            return "headers: expected [[name, value], ...] or {name: value}"
        name, value = str(item[0]).strip(), str(item[1]).strip()
        if name:
            if not set(name) <= _TOKEN:
                return f"headers: not a header name: {name!r}"
            headers.append((name, value))
    return method, str(doc.get("host") or "").strip(), uri, version, headers


def identify_request(identifier: Callable[[RequestView], Any], doc: Any) -> tuple[int, dict]:
    """``(status, answer)``: 200 with ``{"identified": true, "path", "uri", "dtab"}`` (the
    logical name, the request-target forwarded, the request's own dtab) or
    ``{"identified": false, "reason"}`` (the router would answer 400 with it); 400
    ``{"error"}`` for a request that cannot be built."""
    parsed = parse_request(doc)
    if isinstance(parsed, str):
        return 400, {"error": parsed}
    method, host, uri, version, headers = parsed
    raw_headers = [(n.lower().encode("latin-1", "replace"), v.encode("latin-1", "replace"))
                   for n, v in headers]
    if host:
        raw_headers = [h for h in raw_headers if h[0] != b"host"] + [
            (b"host", host.encode("latin-1", "replace"))]
    effective: bytes | None = None
    if "://" in uri:  # absolute-form: the authority is the Host (Linkerd's ProxyRewrite)
        rest = uri.split("://", 1)[1]
        authority, slash, tail = rest.partition("/")
        effective = authority.encode("latin-1", "replace")
        uri = slash + tail if slash else "/"
    try:
        override = local_dtab(raw_headers)
    except DtabParseError as err:
        return 200, {"identified": False, "reason": f"l5d-dtab header: {err}"}
    if effective is None:
        effective = next((v for n, v in raw_headers if n == b"host"), None)
    view = RequestView(method, uri, version, raw_headers, effective)
    result = identifier(view)
    if isinstance(result, Identified):
        return 200, {"identified": True, "path": result.dst.show(), "uri": result.uri,
                     "dtab": override.show()}
    return 200, {"identified": False, "reason": result.reason}
