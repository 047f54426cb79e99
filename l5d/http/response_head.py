"""The response head l5d sends its client, built from the upstream's (pure).

:func:`downstream_head` re-frames the body for the client (Content-Length kept,
chunked or close-delimited bodies re-chunked for an HTTP/1.1 client, the end of the
connection for an HTTP/1.0 one), drops hop-by-hop headers and what the upstream's
``Connection`` lists, appends l5d's ``Via`` hop and ``l5d-success-class``, and says
whether the connection closes after the response. The exchange remembers the
result per request shape for heads read before (:mod:`l5d.http.memo`).
"""

from __future__ import annotations

from typing import Any

from l5d.http.upstream_response import CONNECTION, FRAMING_LENGTH, FRAMING_NONE, L5D, VIA
from l5d.http.headers import connection_tokens

__all__ = ["downstream_head"]

_STATUS_LINES: dict[tuple[int, bytes], bytes] = {}
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})
_SUCCESS_CLASS_0 = b"l5d-success-class: 0.0\r\n"
_SUCCESS_CLASS_1 = b"l5d-success-class: 1.0\r\n"


def downstream_head(rhead: Any, framing: int, client_11: bool, keep_alive: bool,
                    request_done: bool, clear: bool, success: bool | None = None
                    ) -> tuple[bytes, bool, bool]:
    """The response head l5d sends its client: ``(bytes, chunked, close)`` (pure).

    :param rhead: the upstream's :class:`~l5d.http.client.ResponseHead` (not changed).
    :param framing: how the upstream frames the body (``FRAMING_*``).
    :param client_11: the client spoke HTTP/1.1. :param keep_alive: it allows keep-alive.
    :param request_done: the whole request body was read (else the connection closes).
    :param clear: ``clearContext``: no ``l5d-*`` headers go downstream.
    :param success: how the service's classifier judged the response (``l5d-success-class``;
        ``None``: a 5xx is a failure).
    :returns: the head, whether the body is re-chunked, whether the connection closes after.
    """
    status = rhead.status
    close = not keep_alive
    chunked = False
    status_line = _STATUS_LINES.get((status, rhead.reason))
    if status_line is None:
        status_line = b"HTTP/1.1 %d %s\r\n" % (status, rhead.reason or b"")
        if len(_STATUS_LINES) < 512:
            _STATUS_LINES[(status, rhead.reason)] = status_line
    lines = rhead.lines.copy()
    lines[0] = status_line
    via = None
    special = rhead.special
    if special:
        connection = None
        for kind, name, value in special:
            if kind == L5D:
                if not clear and name.lower() != b"l5d-success-class":  # l5d writes its own
                    lines += (name, b": ", value, b"\r\n")
            elif kind == VIA:
                via = value if via is None else via + b", " + value
            elif kind == CONNECTION:
                connection = value if connection is None else connection + b"," + value
        if connection is not None and connection.lower() not in _PLAIN_CONNECTION:
            # rare: the upstream's Connection names other headers; drop those too
            listed = connection_tokens([(b"connection", connection)])
            lines[:] = [lines[i + j] for i in range(1, len(lines), 4)
                        if lines[i].lower() not in listed for j in range(4)]
            lines.insert(0, status_line)
    lines += (b"Via: ", b"1.1 linkerd" if via is None else via + b", 1.1 linkerd", b"\r\n")
    if not clear:
        if success is None:
            success = status < 500
        lines.append(_SUCCESS_CLASS_1 if success else _SUCCESS_CLASS_0)
    content_length = rhead.content_length
    if framing == FRAMING_LENGTH:
        lines += (b"Content-Length: ", content_length, b"\r\n")
    elif framing == FRAMING_NONE:
        if content_length is not None and status != 204 and not 100 <= status < 200:
            lines += (b"Content-Length: ", content_length, b"\r\n")
    elif client_11:  # chunked or close-delimited upstream: chunk it downstream
        chunked = True
        lines.append(b"Transfer-Encoding: chunked\r\n")
    else:  # HTTP/1.0 client: the end of the body is the end of the connection
        close = True
    if not request_done:
        close = True  # we will not read the rest of this request's body
    if close:
        lines.append(b"Connection: close\r\n\r\n")
    elif not client_11:
        lines.append(b"Connection: keep-alive\r\n\r\n")
    else:
        lines.append(b"\r\n")
    return b"".join(lines), chunked, close
