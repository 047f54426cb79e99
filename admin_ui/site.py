"""The admin web site on port 9990 (Twisted shell, ``twisted.web``).

A first, minimal cut of Linkerd's admin interface:

* ``GET /admin/ping`` → ``pong`` (``text/plain``);
* ``GET /config.json`` → the parsed config with every default filled in;
* ``POST /admin/shutdown`` → graceful shutdown (other methods: 405).

Everything else is 404. The dashboard, the dtab editor and the delegator come
later. ``admin_ui`` may import ``l5d`` and ``dtab``; ``l5d`` never imports
``admin_ui`` (``l5d/main.py`` wires the two together).
"""

from __future__ import annotations

import json
from typing import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.web import pages, resource, server
from twisted.web.iweb import IRequest

from l5d.config import LinkerConfig

__all__ = ["build_admin_site"]

TEXT_PLAIN = b"text/plain; charset=utf-8"
APPLICATION_JSON = b"application/json"


class _Page(resource.Resource):
    """One admin page: the methods in ``methods`` reach :meth:`respond`,
    others get 405 with an ``Allow`` header; nothing lives below it (404)."""

    methods: tuple[bytes, ...] = (b"GET", b"HEAD")

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        return pages.notFound()

    def render(self, request: IRequest) -> bytes:
        if request.method not in self.methods:
            request.setResponseCode(405)
            request.setHeader(b"allow", b", ".join(self.methods))
            request.setHeader(b"content-type", TEXT_PLAIN)
            return b"method not allowed\n"
        return self.respond(request)

    def respond(self, request: IRequest) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError


class _Dir(resource.Resource):
    """A path segment with children and no page of its own: 404 for itself
    and for unknown children."""

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        return pages.notFound()

    def render(self, request: IRequest) -> bytes:
        return pages.notFound().render(request)


class _Ping(_Page):
    """``/admin/ping``: liveness."""

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", TEXT_PLAIN)
        return b"pong"


class _Json(_Page):
    """A fixed JSON document, encoded once."""

    def __init__(self, document: object) -> None:
        super().__init__()
        self._body = json.dumps(document, indent=2).encode("utf-8") + b"\n"

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", APPLICATION_JSON)
        return self._body


class _Shutdown(_Page):
    """``POST /admin/shutdown``: answer, then call ``on_shutdown`` once the
    response is finished (on the next reactor turn, so it is written first)."""

    methods = (b"POST",)

    def __init__(self, reactor: IReactorTime, on_shutdown: Callable[[], object]) -> None:
        super().__init__()
        self._reactor = reactor
        self._on_shutdown = on_shutdown

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", TEXT_PLAIN)
        request.notifyFinish().addBoth(self._finished)
        return b"shutting down\n"

    def _finished(self, _: object) -> None:
        self._reactor.callLater(0, self._on_shutdown)


class _AdminSite(server.Site):
    """A Site without an access log (admin polling would drown everything else)."""

    noisy = False
    displayTracebacks = False

    def log(self, request: server.Request) -> None:
        pass


def build_admin_site(
    config: LinkerConfig, reactor: IReactorTime, on_shutdown: Callable[[], object]
) -> server.Site:
    """The admin site for ``config``.

    :param config: served at ``/config.json``.
    :param reactor: for the site's timeouts and to schedule ``on_shutdown``.
    :param on_shutdown: called (with no arguments) after a ``POST
        /admin/shutdown`` has been answered.
    """
    root = _Dir()
    admin = _Dir()
    root.putChild(b"admin", admin)
    admin.putChild(b"ping", _Ping())
    admin.putChild(b"shutdown", _Shutdown(reactor, on_shutdown))
    root.putChild(b"config.json", _Json(config.to_json()))
    return _AdminSite(root, reactor=reactor)
