"""The body of an upgrade request, read by a second llhttp parser (no I/O).

llhttp stops at the end of an upgrade request's head (``Connection: upgrade`` with an
``Upgrade`` field): it reports the message complete at once, reads none of the body
the head announces, and leaves every later byte to the new protocol. l5d does not
switch protocols. It forwards such a request as a plain one (``Upgrade`` and
``Connection`` are hop-by-hop and never go upstream), so the body must still be read,
with the same strictness as any other, and then nothing more is read on that
connection. Forwarding the head alone would leave the origin reading the client's
next bytes as this body: a request smuggled past l5d.

An :class:`UpgradeBody` is a fresh llhttp parser primed with a head that carries the
request's framing and nothing else; fed the bytes that follow the real head, it
reports the body, trailer fields and the end of the body to its *sink* (the server
connection), and ignores whatever follows.
"""

from __future__ import annotations

from typing import Any

import httptools

__all__ = ["UpgradeBody"]


class _Done(Exception):
    """Stops the parser at the first byte after the body."""


class UpgradeBody:
    """Reads one body framed by ``length`` (Content-Length) or ``chunked``.

    The sink gets ``on_body(data)``, ``on_header(name, value)`` for trailer fields, and
    ``upgrade_body_complete()`` once. :meth:`feed` raises ``httptools.HttpParserError``
    for malformed chunk framing and lets the sink's own exceptions through (as
    ``HttpParserCallbackError``, like the server's main parser).
    """

    __slots__ = ("_sink", "_parser", "_in_body", "done")

    def __init__(self, sink: Any, length: int | None, chunked: bool) -> None:
        self._sink = sink
        self._in_body = False
        self.done = False
        self._parser = httptools.HttpRequestParser(self)
        framing = (b"Transfer-Encoding: chunked" if chunked
                   else b"Content-Length: %d" % (length or 0))
        self._parser.feed_data(b"POST / HTTP/1.1\r\nHost: l5d\r\n" + framing + b"\r\n\r\n")

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if not isinstance(e.__context__, _Done):
                raise

    # -- llhttp callbacks ------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:
            raise _Done()

    def on_headers_complete(self) -> None:
        self._in_body = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            self._sink.on_header(name, value)  # a trailer field

    def on_body(self, data: bytes) -> None:
        self._sink.on_body(data)

    def on_message_complete(self) -> None:
        if self._in_body and not self.done:
            self.done = True
            self._sink.upgrade_body_complete()
