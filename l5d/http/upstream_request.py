"""The request head l5d sends upstream, and what routing remembers per head (pure).

:func:`upstream_head` writes the head a routed request goes upstream with: the
request line, the client's headers less hop-by-hop ones and l5d's own, ``Host`` and
the framing from what l5d parsed (so ``Connection`` cannot remove them), Linkerd's
``l5d-dst-*``, ``l5d-ctx-dtab``, the trace headers of the router's propagator
(:mod:`l5d.http.trace`: ``l5d-reqid``/``l5d-ctx-trace`` or B3) and ``Via``. A head
that went to the same service before reuses all of that but the trace headers
(:class:`HeadRoute`). ``l5d-ctx-deadline`` is not copied: the exchange writes the
deadline each attempt has (:func:`with_deadline`).
"""

from __future__ import annotations

from typing import Any

from dtab import EMPTY_DTAB, Dtab
from l5d.http.deadline import Deadline, encode
from l5d.http.framing import HeadInfo
from l5d.http.headers import DST_HEADERS, DTAB_HEADERS, HOP_BY_HOP, connection_tokens
from l5d.http.trace import DEFAULT_PROPAGATOR, Tracing
from l5d.router.identifier import Identified

__all__ = ["HeadRoute", "NO_OVERRIDE", "Override", "scan", "tracing", "upstream_head",
           "with_deadline"]

DEADLINE_HEADER = b"l5d-ctx-deadline"
# headers never copied upstream as they came: hop-by-hop ones, l5d's own, and the framing
# and Host, which l5d writes itself from what it parsed (so Connection cannot remove them)
_UPSTREAM_DROP = (HOP_BY_HOP | DTAB_HEADERS | DST_HEADERS
                  | {b"via", b"expect", b"host", b"content-length", DEADLINE_HEADER})


class Override:
    """A parsed per-request dtab (``l5d-ctx-dtab`` ++ ``l5d-dtab``) with what using it costs
    computed once: its ``l5d-ctx-dtab`` header line, and ``base ++ local`` for the base dtab
    it was last used with (rebuilt only when the base changes)."""

    __slots__ = ("local", "header", "_base", "_combined")

    def __init__(self, local: Dtab) -> None:
        self.local = local
        self.header = b"l5d-ctx-dtab: " + local.show().encode("latin-1") + b"\r\n"
        self._base: Dtab | None = None
        self._combined: Dtab | None = None

    def over(self, base: Dtab) -> Dtab:
        if base is not self._base:
            self._base = base
            self._combined = base + self.local
        return self._combined  # type: ignore[return-value]


NO_OVERRIDE = Override(EMPTY_DTAB)


def tracing(rng: Any, propagator: str = DEFAULT_PROPAGATOR,
            sample_rate: float | None = None) -> Tracing:
    """A router's :class:`~l5d.http.trace.Tracing`, dropping what :func:`upstream_head`
    never copies upstream and the propagator's own headers."""
    return Tracing(rng, propagator, sample_rate, drop=_UPSTREAM_DROP)


class HeadRoute:
    """What routing found for one :class:`~l5d.http.server.KnownHead` (its ``route``).

    Identification, the dtab override and the incoming deadline are functions of the
    head's bytes and of the server it came in on, so a head read before reuses them.
    ``headers`` and ``target`` are the head's fields after routing's rewrites. ``up_*``
    is the upstream head but for its per-request trace headers, valid while the service's
    ``dst_headers`` and the override are the same objects (set by :func:`upstream_head`).
    """

    __slots__ = ("server", "override", "ident", "headers", "target", "deadline", "up_dst",
                 "up_prefix", "up_suffix")

    def __init__(self, server: Any, override: Override, ident: Identified, headers: list,
                 target: bytes, deadline: Deadline | None = None) -> None:
        self.server = server
        self.override = override
        self.ident = ident
        self.headers = headers
        self.target = target
        self.deadline = deadline
        self.up_dst: bytes | None = None
        self.up_prefix = b""
        self.up_suffix = b""


def upstream_head(head: Any, route: HeadRoute | None, override: Override, dst_headers: bytes,
                  tracing: Tracing) -> bytes:
    """The head a request goes upstream with (its body follows, framed as it came); sets
    ``head.trace`` (and ``head.trace_parent``), the trace context it went with.

    :param head: the request head (:class:`~l5d.http.server.RequestHead`).
    :param route: its :class:`HeadRoute` (the memo), or ``None``.
    :param override: the request's dtab override (``NO_OVERRIDE``: none).
    :param dst_headers: the service's ``l5d-dst-*`` lines.
    :param tracing: the router's propagator and sampling (made by :func:`tracing`).
    """
    headers = head.headers
    info = head.info if head.info is not None else scan(headers)
    if route is not None and info.plain and route.up_dst is dst_headers:
        # this head went to this service before: only the trace headers are new
        return b"".join((route.up_prefix, tracing.root(head), route.up_suffix))
    absolute = head.absolute
    http10 = head.version == "1.0"
    parts = [head.method.encode("latin-1"), b" ", head.target,
             b" HTTP/1.0\r\n" if http10 else b" HTTP/1.1\r\n"]
    found = None
    via = None
    if info.plain:
        # only Host, framing and headers forwarded as they are (scan_request listed them)
        parts += info.lines
    else:
        drop = tracing.drop
        collect = tracing.collect
        if info.connection:
            # what Connection lists is hop-by-hop too; the framing and Host are written
            # below from what l5d parsed, whatever it lists (never re-framed by it)
            drop = drop | connection_tokens(headers)
        for name, value in headers:
            lower = name.lower()
            if lower in drop:
                if lower in collect:
                    if found is None:
                        found = [(lower, value)]
                    else:
                        found.append((lower, value))
                elif lower == b"via":
                    via = value if via is None else via + b", " + value
                continue
            parts += (name, b": ", value, b"\r\n")
    host = absolute.authority if absolute is not None and absolute.authority else info.host
    if host is not None:
        parts += (b"Host: ", host, b"\r\n")
    parts.append(dst_headers)
    if override is not NO_OVERRIDE:
        parts.append(override.header)
    prefix = b"".join(parts)
    own_via = b"1.0 linkerd" if http10 else b"1.1 linkerd"
    if via is None and not http10 and not head.chunked and head.content_length is None:
        suffix = b"Via: 1.1 linkerd\r\n\r\n"  # the common case
    else:
        parts = [b"Via: ", own_via if via is None else via + b", " + own_via, b"\r\n"]
        if head.chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif head.content_length is not None:
            parts.append(b"Content-Length: %d\r\n" % head.content_length)
        if http10:
            # l5d keeps its upstream connections: an HTTP/1.0 server closes after the
            # response unless asked (the response says whether it agreed)
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        suffix = b"".join(parts)
    if route is not None and info.plain:
        # the same head to the same service and override: all but the trace is the same
        route.up_prefix = prefix
        route.up_suffix = suffix
        route.up_dst = dst_headers
    return b"".join((prefix, tracing.root(head) if found is None else tracing.lines(head, found),
                     suffix))


def with_deadline(up_head: bytes, deadline: Deadline) -> bytes:
    """``up_head`` with an ``l5d-ctx-deadline`` line before its final blank line."""
    return b"%s%s: %s\r\n\r\n" % (up_head[:-2], DEADLINE_HEADER, encode(deadline))


def scan(headers: list) -> HeadInfo:
    """HeadInfo for a head built without the server's scan (tests, tools)."""
    info = HeadInfo()
    info.plain = False  # the router walks the headers itself
    for n, v in headers:
        lower = n.lower()
        if lower == b"host":
            info.host = v
        elif lower == b"via":
            info.via = True
        elif lower == b"connection":
            info.connection = True
        elif lower.startswith(b"l5d-"):
            info.l5d = True
            info.dtab = info.dtab or lower in DTAB_HEADERS
    return info
