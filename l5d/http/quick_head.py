"""A common request head read in one call, without llhttp's callback per field (pure).

Most requests a router sees are one whole head in one read: a method llhttp knows,
``HTTP/1.1``, an origin-form or ``http://`` target, no body and no field that changes
the framing or the connection. :func:`quick_head` reads exactly those with one regular
expression over the whole head and one ``findall`` for its fields, and answers
``None`` for everything else, which then goes through llhttp and the strict checks
(:mod:`l5d.http.server_input`) as before. It never accepts what that path would refuse
or read differently:

* the grammar below is a subset of what llhttp accepts (its character classes were
  read off llhttp byte by byte): one space between the parts of the request line,
  CRLF line ends, field names of token characters, no obs-fold, no bare LF;
* field values are what llhttp hands over: leading spaces and tabs dropped, trailing
  ones kept;
* a head with ``Content-Length``, ``Transfer-Encoding``, ``Connection`` or another
  hop-by-hop field (``Upgrade``, ``Proxy-Connection``...) is left to llhttp, which
  decides the framing, keep-alive and upgrade from them; so a quick head is always
  keep-alive, bodiless and no upgrade;
* a head over the server's limits (414, 431) or that :func:`~l5d.http.framing.scan_request`
  refuses is left to the strict path too, which answers it with its exact status.

``tests/l5d/http/test_quick_head.py`` checks this against llhttp and the strict path on
generated heads. The regular expressions have no nested ambiguity (possessive
quantifiers), so their time is linear in the head's length.
"""

from __future__ import annotations

import re

from l5d.http.framing import AbsoluteForm, HeadInfo, scan_request
from l5d.http.limits import ServerLimits
from l5d.http.request import KnownHead

__all__ = ["quick_head"]

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
# a field line as llhttp reads it: value = after leading OWS, up to CRLF (trailing OWS kept)
_FIELD = rb"(%s++):[ \t]*+([\t\x20-\x7e\x80-\xff]*+)\r\n" % _TOKEN
_HEAD = re.compile(
    rb"(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE) "
    # origin-form, or http:// with a non-empty authority (no userinfo) and an optional path
    rb"(/[\x21-\x7e]*+|http://([0-9A-Za-z._~:\[\]-]++)(/[\x21-\x7e]*+)?) HTTP/1\.1\r\n"
    rb"((?:%s++:[ \t]*+[\t\x20-\x7e\x80-\xff]*+\r\n)*+)\r\n" % _TOKEN)
_FIELDS = re.compile(_FIELD)
_METHODS = {m: m.decode() for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS",
                                    b"PATCH", b"TRACE")}


def quick_head(data: bytes, limits: ServerLimits) -> KnownHead | None:
    """What the strict path would make of ``data``, when ``data`` is exactly one whole
    common head (see the module docstring); ``None`` when it is anything else.

    :param limits: the server's limits (a head near one is left to the strict path).
    """
    m = _HEAD.fullmatch(data)
    if m is None:
        return None
    method, target, authority, path, block = m.groups()
    if len(target) > limits.max_initial_line:
        return None
    headers = _FIELDS.findall(block)
    # each field counts len(name) + len(value) + 4 against max_headers: at most its line + 1
    if len(headers) > limits.max_header_count or len(block) + len(headers) > limits.max_headers:
        return None
    info = scan_request("1.1", target, headers, limits.max_body)
    if type(info) is not HeadInfo or info.length is not None or info.framing:
        return None
    if authority is None:
        absolute = None
    else:
        absolute = AbsoluteForm(b"http", authority, path or b"/")
        target = absolute.origin
    return KnownHead(_METHODS[method], target, "1.1", headers, True, False, None, absolute,
                     info.expect, info)
