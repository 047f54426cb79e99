"""A request head as the server read it, and what of it depends on its bytes alone (pure).

:class:`KnownHead` is everything reading a head decides from its bytes and the
server's limits; it is remembered by those bytes (:class:`~l5d.http.memo.HeadMemo`)
so the same head later skips the parser. :class:`RequestHead` is one request's
head, made from a known head for each request. Plain slotted classes: one is made
per request on the data path.
"""

from __future__ import annotations

from typing import Any

from l5d.http.framing import AbsoluteForm, HeadInfo

__all__ = ["KnownHead", "RequestHead"]


class KnownHead:
    """What reading one request head found that depends on its bytes alone.

    Everything :meth:`~l5d.http.server.HttpServerConnection._read_head` decides (the strict checks,
    the absolute-form split, keep-alive as the client asked) is a function of the
    head's bytes and the server's limits. A head that arrived as the whole of one
    read, with no body, is remembered by its bytes (:class:`~l5d.http.memo.HeadMemo`),
    and the same bytes later skip the parser and the checks. ``route`` is the
    router's own memo for this head (identification and dtab override), set by the
    router on first use. Never mutated after ``_read_head`` but for ``route``.
    """

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "chunked", "length",
                 "absolute", "expect", "info", "route")

    def __init__(self, method: str, target: bytes, version: str, headers: list,
                 keep_alive: bool, chunked: bool, length: int | None,
                 absolute: AbsoluteForm | None, expect: bool, info: HeadInfo) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunked = chunked
        self.length = length
        self.absolute = absolute
        self.expect = expect
        self.info = info
        self.route: Any = None


class RequestHead:
    """A parsed request head. ``target`` is origin-form after the absolute-form rewrite.

    ``known`` is the :class:`KnownHead` it was made from (``None`` when built by hand).
    ``trace`` (and ``trace_parent``) are set when the request goes upstream
    (:func:`l5d.http.upstream_request.upstream_head`): unset until then, read with
    ``getattr``.
    """

    __slots__ = ("method", "target", "version", "headers", "keep_alive", "chunked",
                 "content_length", "absolute", "peer", "expect_continue", "info", "known",
                 "trace", "trace_parent")

    def __init__(self, method: str, target: bytes, version: str, headers: list,
                 keep_alive: bool, chunked: bool, content_length: int | None,
                 absolute: AbsoluteForm | None, peer: str, expect_continue: bool,
                 info: HeadInfo | None = None, known: KnownHead | None = None) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunked = chunked
        self.content_length = content_length
        self.absolute = absolute
        self.peer = peer
        self.expect_continue = expect_continue
        #: what one pass over the headers found (host, via/dtab/connection flags)
        self.info = info
        self.known = known

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)
