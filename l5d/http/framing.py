"""Framing decisions for HTTP/1.1 messages, on bytes (pure).

The llhttp parser (``httptools``) already rejects most smuggling vectors
(CL+TE, duplicate or malformed Content-Length, bad chunk sizes, obs-fold, bare
CR/LF, NUL, bad header tokens). This module adds the checks it leaves to us and
maps every rejection to the status a careful proxy answers with
(reliability matrix, groups A and C):

* 501 for a Transfer-Encoding other than one ``chunked``;
* 505 for a text request in ``HTTP/2.0`` or later;
* 400 for everything else (HTTP/0.9, TE on HTTP/1.0, a missing or duplicate
  Host on HTTP/1.1, a Host with spaces or ``@``, ``Transfer_Encoding`` style
  look-alike names, a request-target that is neither origin- nor absolute-form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HOST_OK = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::[0-9]*)?\Z")
_LOOKALIKE = frozenset({b"transfer-encoding", b"content-length"})
BODYLESS_STATUS = frozenset(range(100, 200)) | {204, 304}


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the message: answer ``status`` with ``reason`` and close the connection."""

    status: int
    reason: str


def parser_error_status(message: str) -> int:
    """The status for an ``httptools`` parse error message."""
    lower = message.lower()
    if "transfer-encoding" in lower and "invalid" in lower:
        return 501
    return 400


def valid_host(value: bytes) -> bool:
    """A Host value with no whitespace, userinfo or control characters."""
    return bool(_HOST_OK.match(value))


def check_request(version: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> Reject | None:
    """Checks llhttp does not make; ``None`` when the request may proceed."""
    if version in ("2.0", "3.0") or (version and version[0] not in "01"):
        return Reject(505, f"HTTP/{version} is not supported over HTTP/1.x")
    if version not in ("1.1", "1.0"):
        return Reject(400, f"unsupported HTTP version {version or '0.9'}")
    if not target or target[:1] not in (b"/", b"h", b"H", b"*"):
        return Reject(400, "malformed request-target")
    hosts = 0
    for name, value in headers:
        lower = name.lower()
        if lower == b"host":
            hosts += 1
            if not valid_host(value):
                return Reject(400, "malformed Host header")
        elif lower == b"transfer-encoding":
            if version == "1.0":
                return Reject(400, "Transfer-Encoding is not allowed in HTTP/1.0")
        elif b"_" in lower and lower.replace(b"_", b"-") in _LOOKALIKE:
            return Reject(400, f"header name {name.decode('latin-1')!r} is not allowed")
    if hosts > 1:
        return Reject(400, "duplicate Host headers")
    if hosts == 0 and version == "1.1":
        return Reject(400, "missing Host header")
    return None


@dataclass(frozen=True, slots=True)
class AbsoluteForm:
    """An ``http://authority/path`` request-target split for Linkerd's ProxyRewrite."""

    scheme: bytes
    authority: bytes
    origin: bytes  # path + query (+ fragment), at least b"/"


def split_absolute(target: bytes) -> AbsoluteForm | None:
    """``http://host:port/p?q`` -> authority and origin-form; ``None`` if not absolute-form."""
    sep = target.find(b"://")
    if sep <= 0:
        return None
    scheme = target[:sep]
    if not scheme.isalpha():
        return None
    rest = target[sep + 3:]
    cut = len(rest)
    for ch in (b"/", b"?", b"#"):
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    authority = rest[:cut]
    origin = rest[cut:]
    if not origin.startswith(b"/"):
        origin = b"/" + origin
    if b"@" in authority or not authority:
        return AbsoluteForm(scheme.lower(), b"", origin) if not authority else None
    return AbsoluteForm(scheme.lower(), authority, origin)
