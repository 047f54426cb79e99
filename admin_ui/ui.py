"""The admin UI's pages, static files and UI helper APIs (Twisted shell, ``twisted.web``).

:func:`add_ui_pages` mounts, below the admin site's root:

* the HTML pages (jinja2, :mod:`admin_ui.templating`; view models from
  :mod:`admin_ui.views`): ``/`` dashboard, ``/dtab`` and ``/delegator``, ``/requests``,
  ``/metrics``, ``/config``, ``/logging``, ``/help`` and the ``/admin`` index;
* ``/static/<file>``: the pages' CSS and scripts, with their content type, an ETag (304 on
  ``If-None-Match``) and a year's caching when the address names the file's hash;
* ``GET /admin/dashboard.json`` (:mod:`admin_ui.dashboard_model`) and
  ``POST /admin/identify.json`` (:mod:`admin_ui.identify`).

Every HTML page is sent with a Content-Security-Policy that allows scripts, styles and
fetches from this origin only (no inline script: the pages' data travels as a JSON
``<script type="application/json">`` block, which autoescaping and ``tojson`` keep inert).
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any, Callable

from twisted.web import pages as web_pages
from twisted.web.iweb import IRequest

from admin_ui import views
from admin_ui.dashboard_model import RouterInfo, dashboard
from admin_ui.identify import identify_request
from admin_ui.pages import APPLICATION_JSON, Page, PathDir, TEXT_PLAIN, mount
from admin_ui.templating import StaticFiles, environment
from dtab import Path

__all__ = ["add_ui_pages"]

HTML = b"text/html; charset=utf-8"
CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class _Html(Page):
    """A template rendered with the view model ``model()`` returns."""

    def __init__(self, env: Callable[[], Any], template: str,
                 model: Callable[[IRequest], dict[str, Any]]) -> None:
        super().__init__()
        self._env = env  # the jinja2 environment, made (and jinja2 imported) at a first view
        self._name = template
        self._template: Any = None
        self._model = model

    def respond(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", HTML)
        request.setHeader(b"content-security-policy", CSP)
        request.setHeader(b"x-frame-options", b"DENY")
        request.setHeader(b"referrer-policy", b"same-origin")
        request.setHeader(b"cache-control", b"no-cache")
        if self._template is None:
            self._template = self._env().get_template(self._name)
        return self._template.render(self._model(request)).encode("utf-8")


class _StaticFile(Page):
    def __init__(self, files: StaticFiles, name: str) -> None:
        super().__init__()
        self._file = files.get(name)

    def respond(self, request: IRequest) -> bytes:
        f = self._file
        asked = request.args.get(b"v", [b""])[0].decode("ascii", "replace")
        for name, value in f.headers(asked).items():
            request.setHeader(name.encode("ascii"), value.encode("ascii"))
        if (request.getHeader(b"if-none-match") or b"").decode("ascii", "replace") == f.etag:
            request.setResponseCode(304)
            return b""
        return f.body


class _Static(PathDir):
    """``/static/<name>``: the files of :class:`StaticFiles`; anything else 404."""

    def __init__(self, files: StaticFiles) -> None:
        super().__init__()
        self._files = files

    def getChild(self, path: bytes, request: IRequest) -> Any:
        name = path.decode("utf-8", "replace")
        if self._files.get(name) is None:
            return web_pages.notFound()
        return _StaticFile(self._files, name)


def _json(request: IRequest, code: int, document: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", APPLICATION_JSON)
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _router_infos(config: Any) -> list[RouterInfo]:
    out = []
    for rcfg in config.routers:
        budget = rcfg.service.params_for(Path()).retry_budget
        out.append(RouterInfo(rcfg.label, budget.percent_can_retry))
    return out


class _Dashboard(Page):
    """``GET /admin/dashboard.json``."""

    def __init__(self, linker: Any, infos: list[RouterInfo], now: Callable[[], float]) -> None:
        super().__init__()
        self._linker = linker
        self._infos = infos
        self._now = now

    def respond(self, request: IRequest) -> bytes:
        stats = self._linker.read_metrics()
        doc = dashboard(stats.counters(), stats.gauges(),
                        ((n, h.last) for n, h in stats.stats()), self._infos, self._now())
        return _json(request, 200, doc)


class _Identify(Page):
    """``POST /admin/identify.json`` ``{"router", "method", "host", "path", "headers"}``."""

    methods = (b"POST",)

    def __init__(self, linker: Any) -> None:
        super().__init__()
        self._linker = linker

    def respond(self, request: IRequest) -> bytes:
        ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != APPLICATION_JSON:
            request.setResponseCode(415)
            request.setHeader(b"content-type", TEXT_PLAIN)
            return b"expected Content-Type: application/json\n"
        try:
            doc = json.loads(request.content.read() or b"{}")
        except ValueError as err:
            return _json(request, 400, {"error": f"malformed JSON: {err}"})
        routers = self._linker.routers
        label = (doc.get("router") if isinstance(doc, dict) else None) or (
            routers[0].label if routers else "")
        router = next((r for r in routers if r.label == label), None)
        if router is None:
            return _json(request, 404, {"error": f"no router named {label!r}"})
        code, answer = identify_request(router.identifier, doc)
        return _json(request, code, {"router": label, **answer} if code == 200 else answer)


def add_ui_pages(root: Any, admin: PathDir, config: Any, linker: Any = None,
                 now: Callable[[], float] = time.monotonic,
                 static: StaticFiles | None = None) -> None:
    """Mount the UI below ``root`` (``admin``: its ``/admin`` directory).

    :param linker: the running linker (the dashboard's metrics, the identifiers); without
        it the pages render but the UI APIs are absent.
    :param now: monotonic seconds, the dashboard's ``t``.
    """
    files = static if static is not None else StaticFiles()
    env = functools.cache(lambda: environment(files))
    cfg_json = config.to_json()
    routers = [{"label": r["label"], "dtab": r.get("dtab", "")} for r in cfg_json["routers"]]
    telemeter_pages = sorted(p for t in (linker.telemeters if linker else ())
                             for p in t.pages)
    has_requests = "/requests.json" in telemeter_pages

    def simple(title: str, active: str, **boot: Any) -> Callable[[IRequest], dict]:
        return lambda request: views.page(title, active, boot)

    def config_model(request: IRequest) -> dict:
        return views.page("Config", "/config", {},
                          config_text=json.dumps(cfg_json, indent=2))

    dtab_page = _Html(env, "dtab.html", simple("Dtab", "/dtab", routers=routers))
    pages = {
        "": _Html(env, "dashboard.html", lambda r: views.page(
            "Dashboard", "/", {"routers": [r["label"] for r in routers]})),
        "dtab": dtab_page,
        "delegator": dtab_page,
        "requests": _Html(env, "requests.html", lambda r: views.page(
            "Recent requests", "/requests", {"available": has_requests})),
        "metrics": _Html(env, "metrics.html", simple("Metrics", "/metrics")),
        "config": _Html(env, "config.html", config_model),
        "logging": _Html(env, "logging.html", simple("Logging", "/logging")),
        "help": _Html(env, "help.html", simple("Help", "/help")),
    }
    for name, resource in pages.items():
        root.putChild(name.encode("ascii"), resource)
    admin.index = _Html(env, "admin.html", lambda r: views.admin_index(telemeter_pages))
    root.putChild(b"static", _Static(files))
    if linker is not None:
        mount(root, "/admin/dashboard.json", _Dashboard(linker, _router_infos(config), now))
        mount(root, "/admin/identify.json", _Identify(linker))
