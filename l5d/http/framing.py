"""Framing decisions for HTTP/1.1 requests, on bytes (pure).

The llhttp parser (``httptools``) already rejects most smuggling vectors
(CL+TE, duplicate or malformed Content-Length, bad chunk sizes, obs-fold, bare
CR/LF, NUL, bad header tokens). This module adds the checks it leaves to us and
maps every rejection to the status a careful proxy answers with (reliability
matrix, group A):

* 501 for a Transfer-Encoding other than exactly one ``chunked`` (llhttp
  accepts ``gzip, chunked`` and ``,chunked``; A5);
* 505 for a text request line in ``HTTP/2.0`` or later (A15);
* 413 for a Content-Length over the body limit (A4);
* 400 for everything else: HTTP/0.9 and a request line that is not exactly
  ``METHOD SP target SP HTTP/x.y CRLF`` (llhttp accepts runs of spaces; A14),
  TE on HTTP/1.0 (A7), a missing or duplicate Host on HTTP/1.1 or one with
  spaces or ``@``, ``Transfer_Encoding`` style look-alike names (A13), a
  request-target that is neither origin- nor absolute-form.

Numbers are read with explicit digit grammars, never ``int()`` on raw text
(which accepts ``+``, ``_`` and surrounding whitespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HOST_OK = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::[0-9]*)?\Z")
_LOOKALIKE = frozenset({b"transfer-encoding", b"content-length"})
_OWS = b" \t"
# A well-formed request line whose version llhttp refused or that is HTTP/2+ (PRI * HTTP/2.0).
_NEWER_VERSION = re.compile(rb"(?:\r\n)*[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/[2-9]\.[0-9]\r?\n")
# A Transfer-Encoding field whose value holds something other than VCHAR, SP and HTAB.
_TE_BAD_VALUE = re.compile(rb"(?im)^transfer-encoding[ \t]*:[\t\x20-\x7e]*[^\t\x20-\x7e\r\n]")
BODYLESS_STATUS = frozenset(range(100, 200)) | {204, 304}
#: Linkerd 1.7's largest fixed-length body, 2 GiB - 1 byte.
MAX_FIXED_BODY = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the message: answer ``status`` with ``reason`` and close the connection."""

    status: int
    reason: str


def parser_error_status(message: str, raw: bytes = b"") -> int:
    """The status for an ``httptools`` parse error.

    :param message: the parser's message.
    :param raw: the bytes of the request head that failed, as far as they are known; they
        tell a ``Transfer-Encoding`` with a bad character (501) and a well-formed
        ``HTTP/3.0`` request line (505) from other errors (400).
    """
    lower = message.lower()
    if "transfer-encoding" in lower and ("invalid" in lower or "empty" in lower):
        return 501
    if "header value char" in lower and _TE_BAD_VALUE.search(raw):
        return 501
    if ("http version" in lower or "pri/upgrade" in lower) and _NEWER_VERSION.match(raw):
        return 505
    return 400


def valid_host(value: bytes) -> bool:
    """A Host value with no whitespace, userinfo or control characters."""
    return bool(_HOST_OK.match(value))


def read_content_length(value: bytes) -> int | None:
    """``1*DIGIT`` with optional surrounding OWS, as an int; ``None`` for anything else."""
    digits = value.strip(_OWS)
    if not digits or not digits.isdigit():  # bytes.isdigit is ASCII-only
        return None
    return int(digits)


def is_chunked(value: bytes) -> bool:
    """A Transfer-Encoding value that is exactly ``chunked`` (any case, optional OWS)."""
    return value.strip(_OWS).lower() == b"chunked"


def request_line(method: bytes, target: bytes, version: str) -> bytes:
    """The one canonical spelling of a request line (single spaces, CRLF)."""
    return b"%s %s HTTP/%s\r\n" % (method, target, version.encode("ascii"))


def check_request(version: str, target: bytes, headers: list[tuple[bytes, bytes]],
                  max_body: int = MAX_FIXED_BODY) -> Reject | None:
    """Checks llhttp does not make; ``None`` when the request may proceed.

    :param max_body: the largest Content-Length accepted (413 above it).
    """
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
            if not is_chunked(value):
                return Reject(501, "Transfer-Encoding other than chunked is not supported")
        elif lower == b"content-length":
            length = read_content_length(value)
            if length is None:
                return Reject(400, "malformed Content-Length")
            if length > max_body:
                return Reject(413, f"request body of {length} bytes is over the limit "
                                   f"of {max_body}")
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
