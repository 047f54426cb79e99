"""Linkerd's ErrorResponder: router-generated error responses (pure).

Every error l5d generates is ``text/plain`` with the message as the body and
the same message, form-encoded, in ``l5d-err`` (Linkerd 1.x, reference 4.4).
``clearContext`` servers send neither the body nor ``l5d-*`` headers.
"""

from __future__ import annotations

from l5d.http.headers import encode_err

REASONS = {
    100: b"Continue", 200: b"OK", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
    405: b"Method Not Allowed", 408: b"Request Timeout", 413: b"Payload Too Large",
    414: b"URI Too Long", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error", 501: b"Not Implemented", 502: b"Bad Gateway",
    503: b"Service Unavailable", 504: b"Gateway Timeout", 505: b"HTTP Version Not Supported",
}

DEFAULT_MAX_ERR_BYTES = 5120 * 1024
DEFAULT_MAX_HEADER_BYTES = 8 * 1024


def error_response(status: int, message: str, close: bool, *, clear_context: bool = False,
                   retryable: bool = False, max_err_bytes: int = DEFAULT_MAX_ERR_BYTES,
                   max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES, head_only: bool = False,
                   retry_after_s: int | None = None, allow: bytes | None = None) -> bytes:
    """A complete HTTP/1.1 error response as bytes.

    :param close: add ``Connection: close`` (the connection will be closed after it).
    :param retryable: add ``l5d-retryable: true`` (the request provably never reached a server).
    :param head_only: the request was HEAD: send the head only.
    :param retry_after_s: add ``Retry-After`` (overload answers, reliability B9).
    :param allow: add ``Allow`` (a 405 says which methods are forwarded, RFC 9110 15.5.6).
    """
    reason = REASONS.get(status, b"Error")
    body = b"" if clear_context else message.encode("utf-8", "replace")[:max_err_bytes]
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason),
             b"Content-Type: text/plain\r\n",
             b"Content-Length: %d\r\n" % len(body)]
    if not clear_context:
        lines.append(b"l5d-err: " + encode_err(message, max_header_bytes) + b"\r\n")
        if retryable:
            lines.append(b"l5d-retryable: true\r\n")
    if retry_after_s is not None:
        lines.append(b"Retry-After: %d\r\n" % retry_after_s)
    if allow is not None:
        lines.append(b"Allow: " + allow + b"\r\n")
    lines.append(b"Via: 1.1 linkerd\r\n")
    if close:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)
