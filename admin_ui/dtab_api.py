"""The dtab store's admin API (Twisted shell, ``twisted.web``):

* ``GET /admin/dtab/<router>.json`` -> 200 ``{"router", "dtab" (one dentry per line),
  "version", "store" (the dtabStore kind), "writable", "source" ("store" | "config")}``;
  404 for an unknown router;
* ``PUT /admin/dtab/<router>.json`` with ``{"dtab": text, "version": v}`` (a write: see
  :mod:`admin_ui.security`) -> 200 and the GET document, in force for the next request;
  409 ``{"error", "current": <GET document>}`` when ``v`` is not the current version; 400
  ``{"error", "offset", "line", "column"}`` when the text does not parse (or the body is
  not that JSON object: no position then); 503 ``{"error"}`` when the store cannot write;
* ``GET /admin/dtab/<router>/history.json`` -> ``{"router", "history": [change, newest
  first]}``, a change being ``{"router", "version", "dtab", "previous_version",
  "previous", "who", "at"}``. A rollback is a PUT of an old ``dtab`` with the current
  version.

``who`` of a change: ``token@<peer ip>``, ``session@<peer ip>`` or
``session:<user>@<peer ip>`` (the login's optional name).
"""

from __future__ import annotations

import json
from typing import Any

from twisted.python.failure import Failure
from twisted.web import pages, resource, server
from twisted.web.iweb import IRequest

from admin_ui.pages import Page
from admin_ui.security import AdminSecurity, json_response
from l5d.dtab_store.model import Conflict, Invalid, Refused, Written, change_json
from l5d.dtab_store.store import DtabStore

__all__ = ["DtabDir", "MAX_DTAB_BODY"]

#: the largest PUT body accepted (413 above it)
MAX_DTAB_BODY = 256 * 1024


def dtab_json(store: DtabStore, security: AdminSecurity, router: str) -> dict[str, Any]:
    current = store.current(router)
    return {"router": router, "dtab": current.dtab.show_lines(), "version": current.version,
            "store": store.kind, "writable": security.writable, "source": store.source(router)}


class DtabDir(resource.Resource):
    """``/admin/dtab/``: ``<router>.json`` and ``<router>/history.json``."""

    def __init__(self, store: DtabStore, security: AdminSecurity) -> None:
        super().__init__()
        self._store = store
        self._security = security

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        name = path.decode("utf-8", "replace")
        if name.endswith(".json") and name[:-5] in self._store.routers:
            return _DtabPage(self._store, self._security, name[:-5])
        if name in self._store.routers:
            return _RouterDir(self._store, name)
        return _NotFound(f"no router {name.removesuffix('.json')!r} "
                         f"(routers: {', '.join(self._store.routers)})")

    def render(self, request: IRequest) -> bytes:
        return json_response(request, 200, {"routers": list(self._store.routers)})


class _NotFound(Page):
    methods = (b"GET", b"HEAD", b"PUT", b"POST")

    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def respond(self, request: IRequest) -> bytes:
        return json_response(request, 404, {"error": self._message})


class _RouterDir(resource.Resource):
    def __init__(self, store: DtabStore, router: str) -> None:
        super().__init__()
        self._store = store
        self._router = router

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        if path == b"history.json":
            return _HistoryPage(self._store, self._router)
        return pages.notFound()

    def render(self, request: IRequest) -> bytes:
        return pages.notFound().render(request)


class _HistoryPage(Page):
    def __init__(self, store: DtabStore, router: str) -> None:
        super().__init__()
        self._store = store
        self._router = router

    def respond(self, request: IRequest) -> bytes:
        history = [change_json(c) for c in self._store.history(self._router)]
        return json_response(request, 200, {"router": self._router, "history": history})


class _DtabPage(Page):
    methods = (b"GET", b"HEAD", b"PUT")

    def __init__(self, store: DtabStore, security: AdminSecurity, router: str) -> None:
        super().__init__()
        self._store = store
        self._security = security
        self._router = router

    def respond(self, request: IRequest) -> Any:
        if request.method != b"PUT":
            return json_response(request, 200, self._json())
        allowed = self._security.guard(request)
        if isinstance(allowed, bytes):
            return allowed
        body = request.content.read(MAX_DTAB_BODY + 1) if request.content is not None else b""
        if len(body) > MAX_DTAB_BODY:
            return json_response(request, 413, {"error": f"body over {MAX_DTAB_BODY} bytes"})
        try:
            doc = json.loads(body)
        except ValueError as err:
            return json_response(request, 400, {"error": f"not JSON: {err}"})
        if not isinstance(doc, dict) or not isinstance(doc.get("dtab"), str) \
                or not isinstance(doc.get("version"), str):
            return json_response(request, 400, {
                "error": 'expected {"dtab": <text>, "version": <the version it edits>}'})
        d = self._store.write(self._router, doc["dtab"], doc["version"], allowed.who)
        d.addCallback(self._answer, request)
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _json(self) -> dict[str, Any]:
        return dtab_json(self._store, self._security, self._router)

    def _answer(self, outcome: Any, request: IRequest) -> None:
        if isinstance(outcome, Written):
            body = json_response(request, 200, self._json())
        elif isinstance(outcome, Conflict):
            body = json_response(request, 409, {
                "error": f"the dtab of {self._router} changed: version "
                         f"{self._store.current(self._router).version} is current "
                         f"(reload, merge, save again)",
                "current": self._json()})
        elif isinstance(outcome, Invalid):
            body = json_response(request, 400, {
                "error": f"Invalid dtab: {outcome.message}", "offset": outcome.offset,
                "line": outcome.line, "column": outcome.column})
        elif isinstance(outcome, Refused):
            body = json_response(request, 503, {"error": f"dtab store: {outcome.reason}"})
        else:  # pragma: no cover - the store returns only these
            body = json_response(request, 500, {"error": repr(outcome)})
        _finish(request, body)

    def _failed(self, failure: Failure, request: IRequest) -> None:
        _finish(request, json_response(request, 500, {"error": failure.getErrorMessage()}))


def _finish(request: IRequest, body: bytes) -> None:
    if getattr(request, "_disconnected", False) or request.finished:
        return
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()
