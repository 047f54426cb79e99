"""l5d.http.errors.error_response: Linkerd's ErrorResponder on the wire (tables)."""

from __future__ import annotations

import httptools
import pytest

from l5d.http.errors import REASONS, error_response


def parse(data: bytes, head_only: bool = False) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers (lower-case names) and body, read back with llhttp."""
    got: dict = {"headers": {}, "body": b""}

    class P:
        def on_header(self, name, value):
            got["headers"][name.lower()] = value

        def on_body(self, body):
            got["body"] += body

    parser = httptools.HttpResponseParser(P())
    parser.feed_data(data)
    return parser.get_status_code(), got["headers"], got["body"]


CASES = [
    # (case, kwargs, status, expected headers (None = absent), body)
    ("plain 400", dict(status=400, message="Unknown destination", close=False), 400,
     {b"l5d-err": b"Unknown+destination", b"connection": None, b"l5d-retryable": None,
      b"content-type": b"text/plain", b"via": b"1.1 linkerd"}, b"Unknown destination"),
    ("close", dict(status=400, message="x", close=True), 400, {b"connection": b"close"}, b"x"),
    ("retryable 502", dict(status=502, message="no", close=False, retryable=True), 502,
     {b"l5d-retryable": b"true"}, b"no"),
    ("overload 503",
     dict(status=503, message="busy", close=False, retryable=True, retry_after_s=1), 503,
     {b"retry-after": b"1", b"l5d-retryable": b"true"}, b"busy"),
    ("clearContext",
     dict(status=502, message="secret dtab", close=False, clear_context=True, retryable=True),
     502, {b"l5d-err": None, b"l5d-retryable": None, b"content-length": b"0"}, b""),
    ("body truncated", dict(status=502, message="abcdef", close=False, max_err_bytes=3), 502,
     {b"content-length": b"3", b"l5d-err": b"abcdef"}, b"abc"),
    ("header truncated", dict(status=502, message="a b c d", close=False, max_header_bytes=3), 502,
     {b"l5d-err": b"a+b"}, b"a b c d"),
    ("newline encoded", dict(status=502, message="line1\nline2", close=False), 502,
     {b"l5d-err": b"line1%0Aline2"}, b"line1\nline2"),
    ("408", dict(status=408, message="slow", close=True), 408, {b"connection": b"close"}, b"slow"),
    ("505", dict(status=505, message="v", close=True), 505, {}, b"v"),
]


class ErrorResponseTests:
    """Each error: status, text/plain body, l5d-err, optional close, retryable, Retry-After."""

    @pytest.mark.parametrize("case,kwargs,status,headers,body", CASES, ids=[c[0] for c in CASES])
    def test_error_response(self, case, kwargs, status, headers, body) -> None:
        """The response reads back with the status, headers and body of the case."""
        got_status, got_headers, got_body = parse(error_response(**kwargs))
        assert got_status == status, case
        for name, value in headers.items():
            assert got_headers.get(name) == value, (case, name)
        assert got_body == body, case

    def test_head_only_keeps_the_content_length_and_sends_no_body(self) -> None:
        """For HEAD the head carries the body's length but the body is not sent."""
        full = error_response(404, "nope", close=False)
        head = error_response(404, "nope", close=False, head_only=True)
        assert full.startswith(head) and full[len(head):] == b"nope"
        assert b"Content-Length: 4\r\n" in head

    @pytest.mark.parametrize("status", sorted(REASONS))
    def test_every_status_has_its_reason_phrase(self, status: int) -> None:
        """The status line uses the registered reason phrase."""
        line = b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status])
        assert error_response(status, "m", close=True).startswith(line)
