"""Admin pages about names: how a path resolves, what the namers watch, what clients hold
(Twisted shell, ``twisted.web``), in Linkerd's JSON shapes (its admin reference):

* ``/delegator.json``: the delegation of a path through a router's dtab (plus an
  optional override), as a tree. ``GET ?namespace=<router label>&path=<path>&dtab=<text>``
  or ``POST`` a JSON object with the same keys (``Content-Type: application/json``,
  else 415). ``dtab`` is appended to the router's dtab; with ``replace`` (``1``/``true``)
  it stands instead of it (the dtab page's preview of an unsaved edit). A bad dtab or path
  is a 400 (``Invalid dtab: ...``, ``Invalid path: ...``); an unknown router 404;
  a namer still pending after 2 s, 503 ``Request timed out.``;
* ``/namer_state/<prefix>.json``: a k8s namer's watches (its state and watch record per
  object);
* ``/client_state.json``: per client (bound id), its address state and addresses;
* ``/bound-names.json``: the bound ids the namers have resolved and still watch.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import server
from twisted.web.iweb import IRequest

from admin_ui.pages import APPLICATION_JSON, Page, PathDir, TEXT_PLAIN
from dtab import Dtab, DtabParseError, Failed, Ok, Path, delegate_tree_json

__all__ = ["add_name_pages"]

DELEGATE_TIMEOUT_S = 2.0
POLL_S = 0.05


def add_name_pages(root: Any, linker: Any, reactor: IReactorTime) -> None:
    """Put the name pages of ``linker`` under ``root``."""
    root.putChild(b"delegator.json", _Delegator(linker, reactor))
    root.putChild(b"client_state.json", _ClientState(linker))
    root.putChild(b"bound-names.json", _BoundNames(linker))
    states = PathDir()
    root.putChild(b"namer_state", states)
    for prefix, namer in linker.namers:
        inner = getattr(namer, "namer", namer)  # a TransformedNamer wraps it
        if hasattr(inner, "state_json"):
            name = prefix.drop(1).show().lstrip("/")  # /#/io.l5d.k8s -> io.l5d.k8s
            states.putChild(f"{name}.json".encode("utf-8"), _NamerState(inner))


def _json(request: IRequest, code: int, document: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", APPLICATION_JSON)
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


def _text(request: IRequest, code: int, message: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", TEXT_PLAIN)
    return message.encode("utf-8") + b"\n"


class _Delegator(Page):
    methods = (b"GET", b"HEAD", b"POST")

    def __init__(self, linker: Any, reactor: IReactorTime) -> None:
        super().__init__()
        self._linker = linker
        self._reactor = reactor

    def respond(self, request: IRequest) -> Any:
        if request.method == b"POST":
            ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
            if ctype != APPLICATION_JSON:
                return _text(request, 415, "expected Content-Type: application/json")
            try:
                params = json.loads(request.content.read() or b"{}")
            except ValueError as err:
                return _text(request, 400, f"malformed JSON: {err}")
            if not isinstance(params, dict):
                return _text(request, 400, "expected a JSON object")
        else:
            params = {k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace")
                      for k, v in request.args.items()}
        routers = self._linker.routers
        label = params.get("namespace") or (routers[0].label if routers else "")
        router = next((r for r in routers if r.label == label), None)
        if router is None:
            return _text(request, 404, f"no router named {label!r}")
        try:
            path = Path.read(str(params.get("path") or ""))
        except DtabParseError as err:
            return _text(request, 400, f"Invalid path: {err}")
        try:
            override = Dtab.read(str(params.get("dtab") or ""))
        except DtabParseError as err:
            return _text(request, 400, f"Invalid dtab: {err}")
        replace = str(params.get("replace", "")).lower() in ("1", "true", "yes")
        dtab = override if replace else router.base_dtab() + override
        deadline = self._reactor.seconds() + DELEGATE_TIMEOUT_S
        answer = self._answer(router, dtab, path)
        if answer is not None:
            return _json(request, 200, answer)
        self._reactor.callLater(POLL_S, self._poll, request, router, dtab, path, deadline)
        return server.NOT_DONE_YET

    def _answer(self, router: Any, dtab: Dtab, path: Path) -> Any:
        state = router.interpreter.delegate(dtab, path)
        if isinstance(state, Ok):
            return delegate_tree_json(state.value)
        if isinstance(state, Failed):
            return {"type": "exception", "path": path.show(), "message": str(state.error)}
        return None  # pending: the namers have not answered yet

    def _poll(self, request: Any, router: Any, dtab: Dtab, path: Path, deadline: float) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        answer = self._answer(router, dtab, path)
        if answer is None and self._reactor.seconds() < deadline:
            self._reactor.callLater(POLL_S, self._poll, request, router, dtab, path, deadline)
            return
        if answer is None:
            body = _text(request, 503, "Request timed out.")
        else:
            body = _json(request, 200, answer)
        request.write(body)
        request.finish()


class _ClientState(Page):
    def __init__(self, linker: Any) -> None:
        super().__init__()
        self._linker = linker

    def respond(self, request: IRequest) -> bytes:
        return _json(request, 200, dict(sorted(self._linker.client_states().items())))


class _BoundNames(Page):
    def __init__(self, linker: Any) -> None:
        super().__init__()
        self._linker = linker

    def respond(self, request: IRequest) -> bytes:
        names: set[str] = set()
        for _, namer in self._linker.namers:
            bound_names = getattr(namer, "bound_names", None)
            if bound_names is not None:
                names.update(bound_names())
        return _json(request, 200, sorted(names))


class _NamerState(Page):
    def __init__(self, namer: Any) -> None:
        super().__init__()
        self._namer = namer

    def respond(self, request: IRequest) -> bytes:
        return _json(request, 200, self._namer.state_json())
