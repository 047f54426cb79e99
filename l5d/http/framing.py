"""Framing decisions for HTTP/1.1 requests, on bytes (pure).

The llhttp parser (``httptools``) already rejects most smuggling vectors
(CL+TE, duplicate or malformed Content-Length, bad chunk sizes, obs-fold, bare
CR/LF, NUL, bad header tokens). This module adds the checks it leaves to us and
maps every rejection to the status RFC 9112 and a careful proxy answer with
(reliability matrix, group A):

* 400 for a Transfer-Encoding whose final coding is not ``chunked``, that names
  ``chunked`` twice, is empty or malformed (RFC 9112 6.3); 501 for a coding l5d
  does not implement before the final ``chunked`` (``gzip, chunked``; RFC 9112
  6.1). Empty list elements are ignored (``,chunked`` is chunked);
* 501 for a well-formed request line whose method token llhttp does not know;
* 505 for a text request line in ``HTTP/2.0`` or later (A15); ``HTTP/1.2`` and
  later minor versions are HTTP/1.1;
* 413 for a Content-Length over the body limit, however many digits (A4);
* 400 for everything else: HTTP/0.9 and a request line that is not exactly
  ``METHOD SP target SP HTTP/x.y CRLF`` (llhttp accepts runs of spaces; A14),
  TE on HTTP/1.0 (A7), a missing or duplicate Host on HTTP/1.1 or one with
  spaces or ``@``, ``Transfer_Encoding`` style look-alike names (A13), a
  request-target that is neither origin- nor absolute-form, or an absolute-form
  one with an empty authority.

The framing l5d forwards is never the client's spelling: the upstream head gets
``Content-Length`` as the decimal value parsed here, ``Transfer-Encoding:
chunked`` when the body is chunked, and ``Host``, whatever ``Connection`` lists
(:mod:`l5d.http.router`). So ``Content-Length`` is not part of ``HeadInfo.lines``.

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
_TCHAR = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
# transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) )
_QUOTED = rb'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e])*"'
_CODING = re.compile(rb"(%s+)(?:[ \t]*;[ \t]*%s+=(?:%s+|%s))*\Z"
                     % (_TCHAR, _TCHAR, _TCHAR, _QUOTED))
# a whole request line with a method token (llhttp refuses methods it does not know)
_TOKEN_LINE = re.compile(rb"(?:\r\n)*%s+ [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r\n" % _TCHAR)
# what may begin such a line, while its end has not arrived
_TOKEN_LINE_START = re.compile(
    rb"%s+(?: (?:[^\x00-\x20\x7f]+"
    rb"(?: (?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.(?:[0-9]\r?)?)?)?)?)?)?)?)?)?)?)?\Z" % _TCHAR)
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
    :param raw: the bytes of the request that failed, from its first byte, as far as they
        are known; they tell a well-formed ``HTTP/3.0`` request line (505) or one with a
        method llhttp does not know (501) from other errors (400).
    """
    lower = message.lower()
    if "content-length overflow" in lower:
        return 413  # more digits than llhttp counts: over any body limit
    if "invalid method" in lower:
        return 501 if _TOKEN_LINE.match(raw) else 400
    if ("http version" in lower or "pri/upgrade" in lower) and _NEWER_VERSION.match(raw):
        return 505
    return 400  # Transfer-Encoding llhttp refuses (a list it cannot read, empty) included


def awaits_request_line(raw: bytes, limit: int) -> bool:
    """llhttp refused the method of ``raw`` before its request line ended: is it still the
    start of a well-formed line (so :func:`parser_error_status` should see the rest)?"""
    raw = raw.lstrip(b"\r\n")  # empty lines before a request are skipped
    return len(raw) < limit and b"\n" not in raw and bool(_TOKEN_LINE_START.match(raw))


def transfer_coding(values: list[bytes]) -> Reject | None:
    """The verdict on a request's Transfer-Encoding field values (RFC 9112 6.1, 6.3).

    ``None`` when the codings are exactly one ``chunked`` (any case; empty list
    elements are ignored, so ``,chunked`` is chunked); otherwise a 400 for a final
    coding that is not ``chunked``, ``chunked`` more than once, no coding at all or a
    malformed element, and a 501 for a coding l5d does not implement (``gzip,
    chunked``, or ``chunked`` with parameters).
    """
    names: list[bytes] = []
    params = False
    for value in values:
        for element in value.split(b","):
            element = element.strip(_OWS)
            if not element:
                continue
            m = _CODING.match(element)
            if m is None:
                return Reject(400, "malformed Transfer-Encoding")
            names.append(m.group(1).lower())
            params = len(m.group(1)) != len(element)
    if not names:
        return Reject(400, "empty Transfer-Encoding")
    if names[-1] != b"chunked":
        return Reject(400, "the final transfer coding is not chunked")
    if names.count(b"chunked") > 1:
        return Reject(400, "chunked is applied more than once")
    if len(names) > 1 or params:
        return Reject(501, "transfer codings other than chunked are not supported")
    return None


def valid_host(value: bytes) -> bool:
    """A Host value with no whitespace, userinfo or control characters."""
    return bool(_HOST_OK.match(value))


def read_content_length(value: bytes) -> int | None:
    """``1*DIGIT`` with optional surrounding OWS, as an int; ``None`` for anything else."""
    digits = value.strip(_OWS)
    if not digits or not digits.isdigit():  # bytes.isdigit is ASCII-only
        return None
    return int(digits)


_VERSION_BYTES = {"1.1": b"1.1", "1.0": b"1.0"}


def request_line(method: bytes, target: bytes, version: str) -> bytes:
    """The one canonical spelling of a request line (single spaces, CRLF)."""
    return b"%s %s HTTP/%s\r\n" % (
        method, target, _VERSION_BYTES.get(version) or version.encode("ascii"))


class HeadInfo:
    """What one pass over a request head found (everything later steps need to know).

    :ivar host: the Host value (``None`` when absent).
    :ivar length: Content-Length, or ``None``. :ivar chunked: Transfer-Encoding: chunked.
    :ivar expect: ``Expect: 100-continue``. The flags ``via``, ``connection``, ``dtab``
        (``l5d-dtab``/``l5d-ctx-dtab``), ``l5d`` (any ``l5d-*``) say whether such headers
        exist, so the router skips its own scans when they do not.
    :ivar plain: no header but Host, Content-Length, Transfer-Encoding and ones forwarded
        as they are (B3's ``x-b3-*`` are not: the ``io.l5d.zipkin`` propagator reads them);
        then ``lines`` (``name, ": ", value, CRLF`` for each of the last
        kind, in order) is the whole forwarded header block but for Host and the
        framing, which the router writes itself from ``host``, ``length`` and ``chunked``.
    :ivar framing: a field llhttp reads for the framing or the connection exists
        (Content-Length, Transfer-Encoding, Connection, Upgrade or another hop-by-hop one).
    """

    __slots__ = ("host", "length", "chunked", "expect", "via", "connection", "dtab", "l5d",
                 "plain", "lines", "framing")

    def __init__(self) -> None:
        self.host: bytes | None = None
        self.length: int | None = None
        self.chunked = False
        self.expect = False
        self.via = False
        self.connection = False
        self.dtab = False
        self.l5d = False
        self.plain = True
        self.lines: list[bytes] = []
        self.framing = False


# what a request header name means, decided once per distinct name as received
(_KEEP, _HOST, _LENGTH, _TE, _L5D, _DTAB, _VIA, _CONNECTION, _EXPECT, _HOP,
 _LOOKALIKE_NAME, _B3) = range(12)
_DTAB_NAMES = frozenset({b"l5d-dtab", b"l5d-ctx-dtab"})
# hop-by-hop names other than the framing ones (l5d.http.headers.HOP_BY_HOP)
_OTHER_HOP = frozenset({b"keep-alive", b"proxy-connection", b"proxy-authorization",
                        b"proxy-authenticate", b"te", b"trailer", b"upgrade"})
_NAME_KINDS: dict[bytes, int] = {}
_NAME_KINDS_MAX = 4096
# Host values that passed _HOST_OK (they repeat; a set lookup is a tenth of the match)
_GOOD_HOSTS: set[bytes] = set()
_GOOD_HOSTS_MAX = 1024
_GOOD_HOST_LEN = 255


def _name_kind(name: bytes) -> int:
    lower = name.lower()
    if lower == b"host":
        kind = _HOST
    elif lower == b"content-length":
        kind = _LENGTH
    elif lower == b"transfer-encoding":
        kind = _TE
    elif lower.startswith(b"l5d-"):
        kind = _DTAB if lower in _DTAB_NAMES else _L5D
    elif lower == b"via":
        kind = _VIA
    elif lower == b"connection":
        kind = _CONNECTION
    elif lower == b"expect":
        kind = _EXPECT
    elif lower in _OTHER_HOP:
        kind = _HOP
    elif lower.startswith(b"x-b3-"):
        kind = _B3
    elif b"_" in lower and lower.replace(b"_", b"-") in _LOOKALIKE:
        kind = _LOOKALIKE_NAME
    else:
        kind = _KEEP
    if len(_NAME_KINDS) < _NAME_KINDS_MAX:
        _NAME_KINDS[name] = kind
    return kind


def scan_request(version: str, target: bytes, headers: list[tuple[bytes, bytes]],
                 max_body: int = MAX_FIXED_BODY) -> Reject | HeadInfo:
    """Checks llhttp does not make, and what the head holds, in one pass.

    ``HTTP/1.2`` and later minor versions pass (the caller treats them as 1.1).

    :param max_body: the largest Content-Length accepted (413 above it).
    :returns: a :class:`Reject`, or the :class:`HeadInfo` when the request may proceed.
    """
    if version != "1.1" and version != "1.0":
        if version[:2] != "1." or not version[2:].isdigit():
            if version in ("2.0", "3.0") or (version and version[0] not in "01"):
                return Reject(505, f"HTTP/{version} is not supported over HTTP/1.x")
            return Reject(400, f"unsupported HTTP version {version or '0.9'}")
    if not target or target[:1] not in (b"/", b"h", b"H", b"*"):
        return Reject(400, "malformed request-target")
    info = HeadInfo()
    lines = info.lines
    hosts = 0
    codings: list[bytes] | None = None
    kinds = _NAME_KINDS
    for name, value in headers:
        kind = kinds.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind == _KEEP:
            lines += (name, b": ", value, b"\r\n")
        elif kind == _HOST:
            hosts += 1
            if value not in _GOOD_HOSTS:
                if not _HOST_OK.match(value):
                    return Reject(400, "malformed Host header")
                if len(_GOOD_HOSTS) < _GOOD_HOSTS_MAX and len(value) <= _GOOD_HOST_LEN:
                    _GOOD_HOSTS.add(value)
            info.host = value
        elif kind == _LENGTH:
            info.framing = True
            length = read_content_length(value)
            if length is None:
                return Reject(400, "malformed Content-Length")
            if length > max_body:
                return Reject(413, f"request body of {length} bytes is over the limit "
                                   f"of {max_body}")
            info.length = length  # forwarded as this decimal value, not as spelled
        elif kind == _TE:
            info.framing = True
            if version == "1.0":
                return Reject(400, "Transfer-Encoding is not allowed in HTTP/1.0")
            if codings is None:
                codings = [value]
            else:
                codings.append(value)
        elif kind == _LOOKALIKE_NAME:
            return Reject(400, f"header name {name.decode('latin-1')!r} is not allowed")
        else:
            info.plain = False
            if kind == _L5D:
                info.l5d = True
            elif kind == _DTAB:
                info.l5d = info.dtab = True
            elif kind == _VIA:
                info.via = True
            elif kind == _CONNECTION:
                info.connection = info.framing = True
            elif kind == _HOP:
                info.framing = True
            elif kind == _EXPECT:
                info.expect = info.expect or value.lower() == b"100-continue"
    if codings is not None:
        verdict = transfer_coding(codings)
        if verdict is not None:
            return verdict
        info.chunked = True
    if hosts > 1:
        return Reject(400, "duplicate Host headers")
    if hosts == 0 and version != "1.0":
        return Reject(400, "missing Host header")
    return info


def check_request(version: str, target: bytes, headers: list[tuple[bytes, bytes]],
                  max_body: int = MAX_FIXED_BODY) -> Reject | None:
    """Checks llhttp does not make; ``None`` when the request may proceed.

    :param max_body: the largest Content-Length accepted (413 above it).
    """
    result = scan_request(version, target, headers, max_body)
    return result if isinstance(result, Reject) else None


class AbsoluteForm:
    """An ``http://authority/path`` request-target split for Linkerd's ProxyRewrite.

    A plain slotted class (one per proxied request); compares by value.
    """

    __slots__ = ("scheme", "authority", "origin")

    def __init__(self, scheme: bytes, authority: bytes, origin: bytes) -> None:
        self.scheme = scheme
        self.authority = authority
        self.origin = origin  # path + query (+ fragment), at least b"/"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbsoluteForm) and (
            (self.scheme, self.authority, self.origin)
            == (other.scheme, other.authority, other.origin))

    def __hash__(self) -> int:
        return hash((self.scheme, self.authority, self.origin))

    def __repr__(self) -> str:
        return f"AbsoluteForm({self.scheme!r}, {self.authority!r}, {self.origin!r})"


_AUTHORITY_END = re.compile(rb"[/?#]")


#: split_absolute's answers for short targets (they repeat); read it first on the hot path
ABSOLUTE_FORMS: dict[bytes, AbsoluteForm] = {}
_ABSOLUTE_FORMS_MAX = 1024
_ABSOLUTE_FORMS_KEY_MAX = 256


def split_absolute(target: bytes) -> AbsoluteForm | None:
    """``http://host:port/p?q`` -> authority and origin-form; ``None`` if not absolute-form."""
    form = ABSOLUTE_FORMS.get(target)
    if form is None:
        form = _split_absolute(target)
        if form is not None and len(target) <= _ABSOLUTE_FORMS_KEY_MAX:
            if len(ABSOLUTE_FORMS) >= _ABSOLUTE_FORMS_MAX:
                ABSOLUTE_FORMS.clear()
            ABSOLUTE_FORMS[target] = form
    return form


def _split_absolute(target: bytes) -> AbsoluteForm | None:
    if target.startswith(b"http://"):
        scheme, start = b"http", 7
    else:
        sep = target.find(b"://")
        if sep <= 0:
            return None
        scheme = target[:sep]
        if not scheme.isalpha():
            return None
        scheme = scheme.lower()
        start = sep + 3
    m = _AUTHORITY_END.search(target, start)
    cut = m.start() if m is not None else len(target)
    authority = target[start:cut]
    if not authority or b"@" in authority:
        return None  # an empty authority is invalid (RFC 9112 3.2.2); userinfo is refused
    rest = target[cut:]
    origin = rest if rest[:1] == b"/" else b"/" + rest
    return AbsoluteForm(scheme, authority, origin)
