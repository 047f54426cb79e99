"""The admin web site on port 9990 (Twisted shell, ``twisted.web``).

A first, minimal cut of Linkerd's admin interface:

* ``GET /admin/ping`` → ``pong`` (``text/plain``);
* ``GET /config.json`` → the parsed config with every default filled in;
* ``POST /admin/shutdown`` → graceful shutdown (other methods: 405), a write: it needs the
  admin token or a login session (:mod:`admin_ui.security`);
* ``POST /admin/reload`` → reload the config file (a write too), answering what changed or
  every error of the refused config (docs/reload.md);
* the dtab store's ``/admin/dtab/<router>.json`` and ``.../history.json``
  (:mod:`admin_ui.dtab_api`), ``/logging.json`` (:mod:`admin_ui.logging_api`), and the
  login pages (``/admin/login``, ``/admin/logout``, ``/admin/session.json``);
* every request's ``Host`` must be an IP literal, ``localhost`` or in
  ``admin.allowedHosts`` (403 otherwise: DNS rebinding);
* ``GET /admin/metrics.json`` → every counter, gauge and histogram, flat (Linkerd's names;
  ``?tree=1``, ``?q=<subtree>``, ``?pretty=1``);
* the pages of the telemeters (``io.l5d.prometheus``'s ``path``,
  ``/admin/metrics/prometheus``: the same metrics in Prometheus' text format;
  ``io.l5d.influxdb``'s ``/admin/metrics/influxdb``; ``io.l5d.recentRequests``'
  ``/requests`` and ``/requests.json``);
* the JSON pages about names of :mod:`admin_ui.names` (``/delegator.json``,
  ``/namer_state/<prefix>.json``, ``/client_state.json``, ``/bound-names.json``).

* the UI of :mod:`admin_ui.ui`: the dashboard at ``/``, ``/dtab``, ``/requests`` ... and
  their static files and helper APIs.

Everything else is 404. ``admin_ui`` may
import ``l5d`` and ``dtab``; ``l5d`` never imports
``admin_ui`` (``l5d/main.py`` wires the two together).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable

from twisted.internet.interfaces import IReactorTime
from twisted.web import server
from twisted.web.iweb import IRequest

from admin_ui.dtab_api import DtabDir
from admin_ui.logging_api import LoggingPage
from admin_ui.names import add_name_pages
from admin_ui.pages import JsonPage, Page, PathDir, TEXT_PLAIN, mount
from admin_ui.security import AdminSecurity, add_security_pages, json_response
from admin_ui.ui import add_ui_pages
from l5d.config import LinkerConfig
from l5d.telemetry.flat import flat_metrics, resolve, tree_metrics
from l5d.telemetry.telemeter import PageArgs

__all__ = ["build_admin_site"]


class _Ping(Page):
    """``/admin/ping``: liveness."""

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", TEXT_PLAIN)
        return b"pong"


class _Shutdown(Page):
    """``POST /admin/shutdown``: answer, then call ``on_shutdown`` once the
    response is finished (on the next reactor turn, so it is written first)."""

    methods = (b"POST",)

    def __init__(self, reactor: IReactorTime, on_shutdown: Callable[[], object],
                 security: AdminSecurity) -> None:
        super().__init__()
        self._reactor = reactor
        self._on_shutdown = on_shutdown
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        allowed = self._security.guard(request, json_body=False)  # a write: token or session
        if isinstance(allowed, bytes):
            return allowed
        request.setHeader(b"content-type", TEXT_PLAIN)
        request.notifyFinish().addBoth(self._finished)
        return b"shutting down\n"

    def _finished(self, _: object) -> None:
        self._reactor.callLater(0, self._on_shutdown)


class _Reload(Page):
    """``POST /admin/reload``: reload the config file now (a write: token or session).
    Answers ``on_reload(who)``'s JSON: 200 with what changed, or 400 with every error of
    the refused config (nothing changed)."""

    methods = (b"POST",)

    def __init__(self, on_reload: Callable[[str], dict], security: AdminSecurity) -> None:
        super().__init__()
        self._on_reload = on_reload
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        allowed = self._security.guard(request, json_body=False)
        if isinstance(allowed, bytes):
            return allowed
        outcome = self._on_reload(f"POST /admin/reload by {allowed.who}")
        return json_response(request, 400 if outcome.get("outcome") == "refused" else 200,
                             outcome)


class _Metrics(Page):
    """``/admin/metrics.json``: the stats registry, flat; ``?tree=1`` nested; ``?q=a/b``
    the subtree at ``a/b`` (404 when there is none); ``?pretty=1`` indented."""

    def __init__(self, linker: Any) -> None:
        super().__init__()
        self._linker = linker

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        args = request.args
        stats = self._linker.read_metrics()
        under: tuple[str, ...] = ()
        q = _arg(args, b"q")
        if q:
            found = resolve(stats, q)
            if found is None:
                request.setResponseCode(404)
                return json.dumps({"error": f"No such subtree: {q}"}).encode("utf-8")
            under = found
        body = (tree_metrics(stats, under) if _flag(args, b"tree")
                else flat_metrics(stats, under))
        indent = 2 if _flag(args, b"pretty") else None
        return json.dumps(body, indent=indent).encode("utf-8")


def _arg(args: dict, name: bytes) -> str | None:
    values = args.get(name)
    return values[0].decode("utf-8", "replace") if values else None


def _flag(args: dict, name: bytes) -> bool:
    return (_arg(args, name) or "").lower() in ("1", "true", "yes")


class _TelemeterPage(Page):
    """A page a telemeter serves (``io.l5d.prometheus``'s ``path``, ...)."""

    def __init__(self, page: Callable[[dict], tuple[int, bytes, bytes]]) -> None:
        super().__init__()
        self._page = page

    def respond(self, request: IRequest) -> bytes:
        args = PageArgs({k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace")
                         for k, v in request.args.items() if v},
                        host=(request.getHeader(b"host") or b"").decode("utf-8", "replace"))
        status, content_type, body = self._page(args)
        request.setResponseCode(status)
        request.setHeader(b"content-type", content_type)
        return body


class _Refusal(Page):
    methods = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")

    def __init__(self, status: int, message: str) -> None:
        super().__init__()
        self._status = status
        self._message = message

    def respond(self, request: IRequest) -> bytes:
        return json_response(request, self._status, {"error": self._message})


class _Refreshed:
    """A page of the control of workers, read after the workers' stats (and, for the
    recent-requests pages, their records) are gathered: what a client just sent through
    any worker shows on the next read."""

    isLeaf = True

    def __init__(self, page: Any, refresh: Callable[[bool], Any], records: bool) -> None:
        self._page = page
        self._refresh = refresh
        self._records = records

    def render(self, request: IRequest) -> Any:
        def ready(_: Any) -> None:
            if request.finished or getattr(request, "_disconnected", False):
                return
            body = self._page.render(request)
            if body is not server.NOT_DONE_YET:
                request.write(body)
                request.finish()

        self._refresh(self._records).addBoth(ready)
        return server.NOT_DONE_YET


class _AdminSite(server.Site):
    """A Site without an access log (admin polling would drown everything else) that
    checks every request's ``Host`` (DNS rebinding) and sets the security headers. In the
    control of workers, every read but ``/admin/ping`` and ``/static`` waits for the
    workers' figures first (:class:`_Refreshed`)."""

    noisy = False
    displayTracebacks = False

    def __init__(self, root: Any, security: AdminSecurity, gathered: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self._security = security
        self._gathered = gathered

    def log(self, request: server.Request) -> None:
        pass

    def getResourceFor(self, request: IRequest) -> Any:
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"x-frame-options", b"DENY")
        request.setHeader(b"referrer-policy", b"same-origin")
        denied = self._security.check_host(request)
        if denied is not None:
            return _Refusal(denied.status, denied.message)
        page = super().getResourceFor(request)
        gathered = self._gathered
        if gathered is None or request.method not in (b"GET", b"HEAD"):
            return page
        path = request.path
        if path == b"/admin/ping" or path.startswith(b"/static/"):
            return page
        return _Refreshed(page, gathered.refresh, b"requests" in path)


def build_admin_site(
    config: LinkerConfig, reactor: IReactorTime, on_shutdown: Callable[[], object],
    linker: Any = None, *, token: str | None = None, log_levels: Any = None,
    token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    on_reload: Callable[[str], dict] | None = None, security: AdminSecurity | None = None,
) -> server.Site:
    """The admin site for ``config``.

    :param config: served at ``/config.json``.
    :param linker: the running :class:`~l5d.linker.Linker`, for the pages about names
        (``/delegator.json``, ``/namer_state/...``, ``/client_state.json``,
        ``/bound-names.json``); without it only the fixed pages exist.
    :param reactor: for the site's timeouts and to schedule ``on_shutdown``.
    :param on_shutdown: called (with no arguments) after a ``POST
        /admin/shutdown`` has been answered.
    :param token: the bearer token admin writes need (``None``: writes are off).
    :param log_levels: a :class:`~l5d.telemetry.log_levels.LogLevels` for
        ``/logging.json`` (``None``: no such page).
    :param token_bytes: randomness for session ids and CSRF values.
    :param on_reload: ``who -> outcome JSON``: ``POST /admin/reload`` (``None``: no page).
    :param security: the running site's (a reload keeps its sessions and throttling).
    """
    admin_cfg = config.admin
    if security is None:
        security = AdminSecurity(token, admin_cfg.read_only, admin_cfg.allowed_hosts,
                                 reactor.seconds, token_bytes,
                                 f"admin.tokenFile, or ${admin_cfg.token_env}")
    root = PathDir()
    admin = PathDir()
    root.putChild(b"admin", admin)
    admin.putChild(b"ping", _Ping())
    admin.putChild(b"shutdown", _Shutdown(reactor, on_shutdown, security))
    if on_reload is not None:
        admin.putChild(b"reload", _Reload(on_reload, security))
    add_security_pages(admin, security)
    if log_levels is not None:
        root.putChild(b"logging.json", LoggingPage(log_levels, security))
    root.putChild(b"config.json", JsonPage(config.to_json()))
    if linker is not None:
        admin.putChild(b"metrics.json", _Metrics(linker))
        for telemeter in linker.telemeters:
            for path, page in telemeter.pages.items():
                mount(root, path, _TelemeterPage(page))
        add_name_pages(root, linker, reactor)
        admin.putChild(b"dtab", DtabDir(linker.dtab_store, security))
    # the UI: pages, /static, /admin/dashboard.json, /admin/identify.json (admin_ui.ui)
    add_ui_pages(root, admin, config, linker)
    return _AdminSite(root, security, getattr(linker, "gathered", None), reactor=reactor)
