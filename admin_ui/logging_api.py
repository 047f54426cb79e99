"""``/logging.json`` (Twisted shell): log levels, read and set while l5d runs.

* ``GET /logging.json`` -> ``{"loggers": [{"name", "level"}], "levels": [...]}`` (``name``
  ``""`` is the root);
* ``PUT /logging.json`` ``{"logger": name, "level": level}`` (a write: see
  :mod:`admin_ui.security`) -> 200 ``{"logger", "level"}``; 400 for an unknown level or a
  malformed name.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.iweb import IRequest

from admin_ui.pages import Page
from admin_ui.security import AdminSecurity, json_response
from l5d.telemetry.log_levels import LEVELS

__all__ = ["LoggingPage"]

MAX_BODY = 4096


class LoggingPage(Page):
    """``/logging.json`` over a :class:`~l5d.telemetry.log_levels.LogLevels`."""

    methods = (b"GET", b"HEAD", b"PUT")

    def __init__(self, levels: Any, security: AdminSecurity) -> None:
        super().__init__()
        self._levels = levels
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        if request.method != b"PUT":
            return json_response(request, 200, {"loggers": self._levels.loggers(),
                                                "levels": list(LEVELS)})
        allowed = self._security.guard(request)
        if isinstance(allowed, bytes):
            return allowed
        body = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        try:
            doc = json.loads(body) if len(body) <= MAX_BODY else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("logger"), str) \
                or not isinstance(doc.get("level"), str):
            return json_response(request, 400, {
                "error": 'expected {"logger": <name, "" for the root>, "level": <level>}'})
        try:
            self._levels.set(doc["logger"], doc["level"])
        except ValueError as err:
            return json_response(request, 400, {"error": str(err)})
        return json_response(request, 200, {"logger": doc["logger"],
                                            "level": self._levels.level(doc["logger"])})
