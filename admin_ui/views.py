"""View models of the admin pages (pure): what each template renders.

Every page gets :func:`page` (title, the nav with the current entry marked, and ``boot``: a
JSON object the page's script reads from ``<script id="boot" type="application/json">``).
:data:`PAGES` and :data:`APIS` are the ``/admin`` index.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["APIS", "NAV", "PAGES", "admin_index", "page"]

#: (title, address) of the nav bar
NAV = (("Dashboard", "/"), ("Dtab", "/dtab"), ("Requests", "/requests"),
       ("Metrics", "/metrics"), ("Config", "/config"), ("Logging", "/logging"),
       ("Help", "/help"))

#: every page: (address, what it shows)
PAGES = (
    ("/", "Dashboard: live request rate, success rate, latency, retries and connections per "
          "router; a card per client and per service"),
    ("/dtab", "The routers' dtabs: view, edit and save; history and rollback; the delegation "
              "playground with a preview of unsaved edits"),
    ("/delegator", "Linkerd's name for /dtab (the same page)"),
    ("/requests", "Recent requests (io.l5d.recentRequests), each linking to the playground"),
    ("/metrics", "Every metric as a filterable tree"),
    ("/config", "The running configuration, every default filled in"),
    ("/logging", "Log levels per logger, changeable"),
    ("/help", "How to read these pages and where the numbers come from"),
    ("/admin", "This index"),
)

#: every JSON (or text) API: (method and address, what it answers)
APIS = (
    ("GET /admin/ping", "pong (liveness)"),
    ("GET /admin/metrics.json", "every metric, flat; ?tree=1 nested, ?q=a/b a subtree, "
                                "?pretty=1"),
    ("GET /admin/metrics/prometheus", "Prometheus text (with io.l5d.prometheus)"),
    ("GET /admin/dashboard.json", "the dashboard's compact summary per router"),
    ("GET /config.json", "the parsed configuration"),
    ("GET|POST /delegator.json", "the delegation tree of a path (namespace, path, dtab)"),
    ("POST /admin/identify.json", "the logical name a whole request is routed by"),
    ("GET /client_state.json", "per client, its address state"),
    ("GET /bound-names.json", "the bound names the namers watch"),
    ("GET /namer_state/<prefix>.json", "a namer's watch state"),
    ("GET /requests.json", "recent requests (with io.l5d.recentRequests)"),
    ("GET|PUT /admin/dtab/<router>.json", "a router's stored dtab and its version; PUT "
                                          "{dtab, version} saves (a write)"),
    ("GET /admin/dtab/<router>/history.json", "the saved versions, newest first"),
    ("GET /admin/session.json", "whether this browser is logged in and may write"),
    ("POST /admin/login, /admin/logout", "the login form for writes (token)"),
    ("GET|PUT /logging.json", "log levels; PUT {logger, level} (a write)"),
    ("POST /admin/reload", "reload the config file: what changed, or every error (a write)"),
    ("POST /admin/shutdown", "drain and stop (a write)"),
)


def page(title: str, active: str, boot: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    """The view model every template extends: ``title``, ``nav`` (``title, href, current``)
    and ``boot`` (JSON for the page's script); ``extra`` adds the page's own names."""
    return {"title": title,
            "nav": [{"title": t, "href": h, "current": h == active} for t, h in NAV],
            "boot": boot or {}, **extra}


def admin_index(telemeter_pages: Sequence[str]) -> dict[str, Any]:
    """The ``/admin`` index: the pages, the JSON APIs, and the telemeters' own pages."""
    return page("Admin index", "/admin",
                pages=[{"href": h, "text": t} for h, t in PAGES],
                apis=[{"name": n, "text": t} for n, t in APIS],
                telemeter_pages=sorted(telemeter_pages))
