"""The admin's security, applied to ``twisted.web`` requests (Twisted shell).

The decisions are :mod:`admin_ui.auth_model`'s; this module lifts the headers off a
request, keeps the login sessions, and serves:

* ``GET /admin/login``: a login form (``admin_ui/templates/login.html``);
* ``POST /admin/login``: form-encoded (or JSON) ``token``, optional ``user`` and ``next``;
  with the right token, a session: cookie ``l5d_session`` (HttpOnly, SameSite=Strict,
  Path=/) and a redirect (303) to ``next``; a JSON login gets ``/admin/session.json``'s
  document instead. The one form-encoded write: its ``Origin`` is checked and the
  cookie it sets never travels cross-site;
* ``POST /admin/logout``: ends the session (a write of the session, CSRF header included);
* ``GET /admin/session.json``: ``{"authenticated", "writable", "csrf", "user"}``.

Sessions live in memory (a restart logs everyone out): a random id (32 bytes from the
injected ``token_bytes``) and CSRF value, expiring ``SESSION_TTL_S`` after login (time
from the reactor, so tests use ``task.Clock``); at most ``MAX_SESSIONS``, the oldest
dropped first.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from admin_ui.auth_model import (
    Allowed, Denied, WriteRequest, decide_write, host_allowed, safe_next, same_origin, secret_equal,
    writes_off_reason,
)
from admin_ui.pages import APPLICATION_JSON, Page

__all__ = ["AdminSecurity", "COOKIE", "CSRF_HEADER", "LoginPage", "LogoutPage",
           "SessionPage", "add_security_pages", "json_response"]

COOKIE = b"l5d_session"
CSRF_HEADER = b"x-l5d-csrf"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 256
#: wrong tokens (login or bearer) one client address may send per FAILURE_WINDOW_S; more
#: get 429 until the window has passed (a guessed token is logged, and cannot be tried fast)
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0
MAX_LOGIN_BODY = 8192
_log = Logger()
_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    user: str | None
    expires: float


class AdminSecurity:
    """Who may write to the admin, and its login sessions. Reactor-thread only.

    :param token: the bearer token (``None`` or empty: writes are off).
    :param read_only: ``admin.readOnly``.
    :param allowed_hosts: ``admin.allowedHosts`` (besides IP literals and ``localhost``).
    :param clock: seconds now (``reactor.seconds``).
    :param token_bytes: ``n -> n random bytes`` (``secrets.token_bytes``).
    :param token_source: where a token would come from, for the "writes are off" message.
    """

    def __init__(self, token: str | None, read_only: bool, allowed_hosts: tuple[str, ...],
                 clock: Callable[[], float],
                 token_bytes: Callable[[int], bytes] = secrets.token_bytes,
                 token_source: str = "admin.tokenFile or admin.tokenEnv") -> None:
        self._token = token or None
        self.off_reason = writes_off_reason(self._token, read_only, token_source)
        self._allowed = frozenset(h.lower() for h in allowed_hosts)
        self._clock = clock
        self._token_bytes = token_bytes
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}  # client address -> times of wrong tokens

    @property
    def writable(self) -> bool:
        return self.off_reason is None

    # -- every request -------------------------------------------------------
    def check_host(self, request: IRequest) -> Denied | None:
        """``None`` when the request's ``Host`` may be served, else why not (403)."""
        host = _header(request, b"host")
        if host_allowed(host, self._allowed):
            return None
        return Denied(403, f"Host {host!r} is not allowed on the admin (DNS rebinding "
                           f"defence): use an IP address, localhost, or add the name to "
                           f"admin.allowedHosts")

    # -- writes --------------------------------------------------------------
    def authorize(self, request: IRequest, *, json_body: bool = True) -> Allowed | Denied:
        """May ``request`` write? (``json_body``: it carries a JSON document.)"""
        session = self.session(request)
        peer = _peer(request)
        return decide_write(WriteRequest(
            host=_header(request, b"host"), origin=_header(request, b"origin"),
            authorization=_header(request, b"authorization"),
            content_type=_header(request, b"content-type"),
            csrf=_header(request, CSRF_HEADER), peer=peer,
            session_csrf=None if session is None else session.csrf,
            session_user=None if session is None else session.user,
        ), self._token, self.off_reason, json_body=json_body)

    def guard(self, request: IRequest, *, json_body: bool = True) -> Allowed | bytes:
        """:class:`Allowed` (with who) when ``request`` may write, else the JSON error
        answer to return (its status set)."""
        peer = _peer(request)
        if self.throttled(peer):
            return _too_many(request)
        decision = self.authorize(request, json_body=json_body)
        if isinstance(decision, Denied):
            if decision.status == 401 and _header(request, b"authorization") is not None:
                self.failed(peer)
            return json_response(request, decision.status, {"error": decision.message})
        return decision

    # -- wrong tokens --------------------------------------------------------
    def throttled(self, peer: str) -> bool:
        """Whether ``peer`` sent :data:`MAX_FAILURES` wrong tokens in the last
        :data:`FAILURE_WINDOW_S` (its writes and logins get 429 meanwhile)."""
        times = self._failures.get(peer)
        if not times:
            return False
        cutoff = self._clock() - FAILURE_WINDOW_S
        times[:] = [t for t in times if t > cutoff]
        if not times:
            del self._failures[peer]
            return False
        return len(times) >= MAX_FAILURES

    def failed(self, peer: str) -> None:
        """``peer`` sent a wrong token (logged; counted for :meth:`throttled`)."""
        if len(self._failures) >= MAX_SESSIONS and peer not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        times = self._failures.setdefault(peer, [])
        times.append(self._clock())
        _log.warn("admin: wrong admin token from {peer} ({n} in {window:.0f} s)", peer=peer,
                  n=len(times), window=FAILURE_WINDOW_S)

    # -- sessions ------------------------------------------------------------
    def session(self, request: IRequest) -> Session | None:
        sid = request.getCookie(COOKIE)
        if not sid:
            return None
        key = sid.decode("ascii", "replace")
        found = self._sessions.get(key)
        if found is None:
            return None
        if found.expires <= self._clock():
            del self._sessions[key]
            return None
        return found

    def login(self, token: str, user: str | None) -> tuple[str, Session] | None:
        """A new session when ``token`` is right and writes are on, else ``None``."""
        if self._token is None or self.off_reason is not None \
                or not secret_equal(token, self._token):
            return None
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        sid = _random(self._token_bytes)
        session = Session(_random(self._token_bytes), _clean_user(user), now + SESSION_TTL_S)
        self._sessions[sid] = session
        return sid, session

    def logout(self, request: IRequest) -> None:
        sid = request.getCookie(COOKIE)
        if sid:
            self._sessions.pop(sid.decode("ascii", "replace"), None)

    def session_json(self, request: IRequest) -> dict[str, Any]:
        session = self.session(request)
        return {"authenticated": session is not None, "writable": self.writable,
                "csrf": None if session is None else session.csrf,
                "user": None if session is None else session.user,
                "reason": self.off_reason}


def _random(token_bytes: Callable[[int], bytes]) -> str:
    return base64.urlsafe_b64encode(token_bytes(32)).decode("ascii").rstrip("=")


def _clean_user(user: str | None) -> str | None:
    if not user:
        return None
    kept = "".join(c for c in user.strip() if c in _USER_CHARS)[:64]
    return kept or None


def _peer(request: IRequest) -> str:
    return getattr(request.getClientAddress(), "host", "?")


def _too_many(request: IRequest) -> bytes:
    request.setHeader(b"retry-after", b"%d" % int(FAILURE_WINDOW_S))
    return json_response(request, 429, {"error": f"too many wrong admin tokens from this "
                                                  f"address; try again in "
                                                  f"{FAILURE_WINDOW_S:.0f} s"})


def _header(request: IRequest, name: bytes) -> str | None:
    value = request.getHeader(name)
    return None if value is None else value.decode("latin-1")


def json_response(request: IRequest, status: int, document: Any) -> bytes:
    """Set ``status`` and the JSON content type; the encoded ``document``."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", APPLICATION_JSON)
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


@functools.cache
def _templates() -> Any:
    """The login page's jinja2 environment, made at its first view (jinja2 is imported
    then, not at start: issue 14, memory)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("admin_ui", "templates"),
                       autoescape=select_autoescape(default=True))


class LoginPage(Page):
    """``/admin/login``: the form (GET) and the login (POST)."""

    methods = (b"GET", b"HEAD", b"POST")

    def __init__(self, security: AdminSecurity) -> None:
        super().__init__()
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        if request.method == b"POST":
            return self._login(request)
        return self._form(request, 200, _arg(request.args, b"next"), None)

    def _form(self, request: IRequest, status: int, target: str | None,
              error: str | None) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"content-security-policy",
                          b"default-src 'none'; style-src 'self'; form-action 'self'")
        page = _templates().get_template("login.html").render(
            next=safe_next(target), error=error, writable=self._security.writable,
            reason=self._security.off_reason)
        return page.encode("utf-8")

    def _login(self, request: IRequest) -> bytes:
        sec = self._security
        as_json = (_header(request, b"content-type") or "").split(";")[0].strip().lower() \
            == "application/json"
        fields = _login_fields(request, as_json)
        target = fields.get("next")
        origin = _header(request, b"origin")
        if not same_origin(origin, _header(request, b"host")):
            return json_response(request, 403, {"error": f"cross-origin login refused "
                                                         f"(Origin {origin!r})"})
        if sec.off_reason is not None:
            if as_json:
                return json_response(request, 403, {"error": sec.off_reason})
            return self._form(request, 403, target, sec.off_reason)
        peer = _peer(request)
        if sec.throttled(peer):
            return _too_many(request)
        made = sec.login(fields.get("token") or "", fields.get("user"))
        if made is None:
            sec.failed(peer)
            if as_json:
                return json_response(request, 401, {"error": "invalid admin token"})
            return self._form(request, 401, target, "invalid admin token")
        sid, session = made
        request.addCookie(COOKIE, sid.encode("ascii"), path=b"/", httpOnly=True,
                          sameSite="strict", max_age=str(int(SESSION_TTL_S)).encode())
        if as_json:
            return json_response(request, 200, {
                "authenticated": True, "writable": True, "csrf": session.csrf,
                "user": session.user, "reason": None})
        request.setResponseCode(303)
        request.setHeader(b"location", safe_next(target).encode("utf-8"))
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"logged in\n"


def _login_fields(request: IRequest, as_json: bool) -> dict[str, str]:
    body = request.content.read(MAX_LOGIN_BODY + 1) if request.content is not None else b""
    if len(body) > MAX_LOGIN_BODY:
        return {}
    if as_json:
        try:
            doc = json.loads(body)
        except ValueError:
            return {}
        return {k: v for k, v in doc.items() if isinstance(v, str)} \
            if isinstance(doc, dict) else {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items() if v}


def _arg(args: dict, name: bytes) -> str | None:
    values = args.get(name)
    return values[0].decode("utf-8", "replace") if values else None


class LogoutPage(Page):
    """``POST /admin/logout``: ends the request's session (needs its CSRF header)."""

    methods = (b"POST",)

    def __init__(self, security: AdminSecurity) -> None:
        super().__init__()
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        allowed = self._security.guard(request, json_body=False)
        if isinstance(allowed, bytes):
            return allowed
        self._security.logout(request)
        request.addCookie(COOKIE, b"", path=b"/", httpOnly=True, sameSite="strict",
                          max_age=b"0")
        return json_response(request, 200, {"authenticated": False})


class SessionPage(Page):
    """``GET /admin/session.json``."""

    def __init__(self, security: AdminSecurity) -> None:
        super().__init__()
        self._security = security

    def respond(self, request: IRequest) -> bytes:
        return json_response(request, 200, self._security.session_json(request))


def add_security_pages(admin: Any, security: AdminSecurity) -> None:
    """Put ``login``, ``logout`` and ``session.json`` under the ``/admin`` directory."""
    admin.putChild(b"login", LoginPage(security))
    admin.putChild(b"logout", LogoutPage(security))
    admin.putChild(b"session.json", SessionPage(security))
