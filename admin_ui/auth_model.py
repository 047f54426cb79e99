"""Decisions of the admin's security (pure): Host, Origin, token, CSRF, content type.

The admin (port 9990) serves reads to anyone who reaches it and writes (a dtab PUT,
``/admin/shutdown``, ``PUT /logging.json``) to an operator only. These functions decide;
:mod:`admin_ui.security` applies them to ``twisted.web`` requests. See ``docs/admin.md``,
"Security", for the threats:

* **DNS rebinding**: every request's ``Host`` must be an IP literal, ``localhost`` or one of
  ``admin.allowedHosts`` (:func:`host_allowed`);
* **CSRF**: a write's ``Origin``, when sent, must be the admin's own (:func:`same_origin`);
  JSON writes need ``Content-Type: application/json``, which a cross-site form cannot send
  without a CORS preflight that is never approved; a session's writes carry its CSRF value
  in ``X-L5d-Csrf`` and its cookie is ``SameSite=Strict``;
* **who may write**: ``Authorization: Bearer <token>`` or a login session; tokens and CSRF
  values are compared in constant time (:func:`secret_equal`).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Allowed", "Denied", "WriteRequest", "bearer_token", "decide_write", "host_allowed",
           "host_name", "safe_next", "same_origin", "secret_equal", "writes_off_reason"]


@dataclass(frozen=True, slots=True)
class Allowed:
    """A write may go ahead; ``who`` is what the change log records."""

    who: str


@dataclass(frozen=True, slots=True)
class Denied:
    """A request refused: the HTTP status and the message the client is shown."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """What a write decision looks at, lifted off the HTTP request.

    :param host: the ``Host`` header (``None``: none sent).
    :param origin: the ``Origin`` header (``None``: none sent).
    :param authorization: the ``Authorization`` header.
    :param content_type: the ``Content-Type`` header (media type only matters).
    :param csrf: the ``X-L5d-Csrf`` header.
    :param peer: the client's IP address.
    :param session_csrf: the CSRF value of the request's valid session (``None``: no
        session cookie, or an unknown or expired one).
    :param session_user: the name given at login (``None``: none given).
    """

    host: str | None
    origin: str | None
    authorization: str | None
    content_type: str | None
    csrf: str | None
    peer: str
    session_csrf: str | None = None
    session_user: str | None = None


def host_name(host: str | None) -> str | None:
    """The host of a ``Host`` header without its port, lower-cased (IPv6 without brackets);
    ``None`` when it is missing or malformed."""
    if not host:
        return None
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1:] and not _is_port(host[end + 1:])):
            return None
        return host[1:end]
    name, sep, port = host.rpartition(":")
    if not sep:
        return host
    return name if name and _is_port(":" + port) else None


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and len(text) <= 6


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request with this ``Host`` may be served: an IP literal, ``localhost`` or a
    name in ``allowed`` (lower-case). A missing ``Host`` (HTTP/1.0) is refused."""
    name = host_name(host)
    if name is None:
        return False
    return name == "localhost" or _is_ip(name) or name in allowed


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether ``Origin`` (when sent) names the host and port of ``Host``; no ``Origin``
    (curl, a same-origin GET) passes, ``Origin: null`` does not."""
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    name = host_name(host)
    if name is None or host is None:
        return False
    _, _, host_port = host.strip().rpartition("]")[2].rpartition(":")
    own_port = int(host_port) if host_port.isdigit() else 80
    return parts.hostname.lower() == name and port == own_port


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, else ``None``."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def secret_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (``hmac.compare_digest`` on UTF-8)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def writes_off_reason(token: str | None, read_only: bool, token_source: str) -> str | None:
    """Why admin writes are off (``None``: they are on)."""
    if read_only:
        return "admin writes are off: admin.readOnly is true"
    if not token:
        return f"admin writes are off: no admin token is configured ({token_source})"
    return None


def safe_next(target: str | None) -> str:
    """Where a login may redirect: a path on this site (``/...``, not ``//host``), else
    ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    return target


def decide_write(req: WriteRequest, token: str | None, off_reason: str | None, *,
                 json_body: bool) -> Allowed | Denied:
    """May this write go ahead? (``Host`` was checked for every request already.)

    In order: a cross-site ``Origin`` is 403; writes off (no token, ``readOnly``) 403; a
    bearer token must match (401 otherwise), else a session must exist (401) and send its
    CSRF value (403); a JSON write needs ``Content-Type: application/json`` (415).
    """
    if not same_origin(req.origin, req.host):
        return Denied(403, f"cross-origin write refused (Origin {req.origin!r} is not this "
                           f"admin's {req.host!r})")
    if off_reason is not None:
        return Denied(403, off_reason)
    assert token is not None
    given = bearer_token(req.authorization)
    if req.authorization is not None:
        if given is None or not secret_equal(given, token):
            return Denied(401, "invalid admin token")
        who = f"token@{req.peer}"
    elif req.session_csrf is not None:
        if req.csrf is None or not secret_equal(req.csrf, req.session_csrf):
            return Denied(403, "missing or wrong X-L5d-Csrf header for this session")
        who = (f"session:{req.session_user}@{req.peer}" if req.session_user
               else f"session@{req.peer}")
    else:
        return Denied(401, "admin writes need Authorization: Bearer <token> or a login "
                           "session (POST /admin/login)")
    if json_body:
        media = (req.content_type or "").split(";")[0].strip().lower()
        if media != "application/json":
            return Denied(415, f"expected Content-Type: application/json, got "
                               f"{req.content_type or 'none'}")
    return Allowed(who)
