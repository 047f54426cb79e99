"""One access-log line per request: Linkerd's layout plus l5d's fields (pure).

Linkerd's ``AccessLogger`` writes, per response::

    <Host> <remote ip> - - [dd/MM/yyyy:HH:mm:ss z] "<METHOD> <uri> HTTP/<v>" <status>
        <bytes> "<Referer>" "<User-Agent>"

(one line; wrapped here)

and l5d appends its own fields, space-separated, so a CLF parser still reads the
first part and a person sees where the request went::

    ... <router> <service> <client> <endpoint> <duration ms> <retries> <l5d-reqid> "<l5d-err>"

Exactly (``-`` stands for an empty field):

* ``Host``: the authority the request was sent to (``Host``, or an absolute URI's).
* ``remote ip``: the client's address without its port.
* the time the response ended, in UTC: ``[06/01/2016:21:21:26 UTC]`` (Linkerd's numeric
  month; Linkerd used the JVM's zone, l5d always UTC).
* ``status``: ``-`` when the client's connection was cut before a response started.
* ``bytes``: the body bytes sent to the client (``0`` for none; Linkerd wrote the
  ``Content-Length`` header, or ``-``).
* ``router``: the router's label. ``service``: the logical name (``/svc/hello``).
  ``client``: the bound id (``/#/io.l5d.fs/hello``). ``endpoint``: ``ip:port`` of the last
  endpoint tried.
* ``duration ms``: from the request head in to the response's end, 3 decimals.
* ``retries``: how many times the request was sent again.
* ``l5d-reqid``: the trace id, 16 hex digits.
* ``l5d-err``: l5d's own error text when l5d answered, its whitespace runs (newlines
  included) folded to one space, cut at :data:`MAX_ERROR_CHARS` characters.

Escaping: the line is printable ASCII. In every field ``"`` and ``\\`` are written ``\\"``
and ``\\\\``, and any other character outside ``0x20``-``0x7e`` as ``\\xHH`` (a request's
bytes are read as Latin-1, so each non-ASCII byte is one ``\\xHH``; a character above
``0xff`` is written as the ``\\xHH`` of its UTF-8 bytes); in the unquoted fields a space is
``\\x20`` too, so fields never run into each other.
"""

from __future__ import annotations

import re
import time

from l5d.telemetry.record import RequestRecord

__all__ = ["MAX_ERROR_CHARS", "LineFormat", "escape_quoted", "escape_token"]

MAX_ERROR_CHARS = 512

_QUOTED_BAD = re.compile(r'[^\x20-\x7e]|["\\]')
_TOKEN_BAD = re.compile(r'[^\x21-\x7e]|["\\]')


def _escape_char(m: re.Match) -> str:
    c = m.group(0)
    if c == '"' or c == "\\":
        return "\\" + c
    code = ord(c)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return "".join(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogatepass"))


def escape_quoted(text: str) -> str:
    """``text`` for a ``"..."`` field (see the module docstring)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return _QUOTED_BAD.sub(_escape_char, text)


def escape_token(text: str) -> str:
    """``text`` for an unquoted field: ``-`` when empty, spaces escaped too."""
    if not text:
        return "-"
    if text.isascii() and text.isprintable() and " " not in text and '"' not in text \
            and "\\" not in text:
        return text
    return _TOKEN_BAD.sub(_escape_char, text)


def _remote_ip(source: str) -> str:
    """``10.0.0.1:5555`` -> ``10.0.0.1``; ``::1:5555`` -> ``::1``."""
    host, sep, port = source.rpartition(":")
    return host if sep and port.isdigit() and host else source


def _error(text: str) -> str:
    if not text:
        return "-"
    folded = " ".join(text.split())
    if len(folded) > MAX_ERROR_CHARS:
        folded = folded[:MAX_ERROR_CHARS - 3] + "..."
    return escape_quoted(folded)


class LineFormat:
    """``LineFormat()(record)`` is the record's line, ``\\n`` included.

    Keeps the last second's time text (requests ending in the same second share it).
    Not thread-safe: one per writer.
    """

    __slots__ = ("_second", "_stamp")

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""

    def stamp(self, wall_s: float) -> str:
        """``06/01/2016:21:21:26 UTC`` for ``wall_s`` seconds since the epoch."""
        second = int(wall_s // 1)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%d/%m/%Y:%H:%M:%S UTC", time.gmtime(second))
        return self._stamp

    def __call__(self, r: RequestRecord) -> str:
        method, uri, version, referer, agent = r.method, r.uri, r.version, r.referer, r.user_agent
        quoted = method + uri + version + referer + agent
        if not (quoted.isascii() and quoted.isprintable() and '"' not in quoted
                and "\\" not in quoted):  # one test for the usual, clean request
            method, uri, version, referer, agent = (
                escape_quoted(method), escape_quoted(uri), escape_quoted(version),
                escape_quoted(referer), escape_quoted(agent))
        host, ip, router, service, client, endpoint = (
            r.host, _remote_ip(r.source), r.router, r.service, r.client, r.endpoint)
        tokens = host + ip + router + service + client + endpoint
        if tokens.isascii() and tokens.isprintable() and " " not in tokens \
                and '"' not in tokens and "\\" not in tokens:
            host, ip, router, service, client, endpoint = (
                host or "-", ip or "-", router or "-", service or "-", client or "-",
                endpoint or "-")
        else:
            host, ip, router, service, client, endpoint = (
                escape_token(host), escape_token(ip), escape_token(router),
                escape_token(service), escape_token(client), escape_token(endpoint))
        status = r.status
        return (
            f"{host} {ip} - - [{self.stamp(r.started + r.duration_us / 1e6)}] "
            f'"{method} {uri} HTTP/{version}" {status if status > 0 else "-"} '
            f'{r.response_bytes} "{referer or "-"}" "{agent or "-"}" '
            f"{router} {service} {client} {endpoint} {r.duration_us / 1000:.3f} {r.retries} "
            f"{f'{r.trace_id:016x}' if r.trace_id else '-'} \"{_error(r.error)}\"\n"
        )
