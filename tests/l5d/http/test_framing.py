"""l5d.http.framing: the checks llhttp leaves to us and the status of each rejection (tables)."""

from __future__ import annotations

import pytest

from l5d.http.framing import (
    MAX_FIXED_BODY, AbsoluteForm, Reject, awaits_request_line, check_request, parser_error_status,
    read_content_length, request_line, scan_request, split_absolute, transfer_coding, valid_host,
)

HOST = (b"Host", b"svc")

# (case, version, target, headers, expected Reject or None)
CHECK_REQUEST = [
    ("plain GET", "1.1", b"/", [HOST], None),
    ("HTTP/1.0 without Host", "1.0", b"/", [], None),
    ("absolute-form", "1.1", b"http://svc/x", [HOST], None),
    ("asterisk-form", "1.1", b"*", [HOST], None),
    ("chunked", "1.1", b"/", [HOST, (b"Transfer-Encoding", b"chunked")], None),
    ("chunked any case with OWS", "1.1", b"/", [HOST, (b"Transfer-Encoding", b" ChUnKeD ")], None),
    ("content-length with OWS", "1.1", b"/", [HOST, (b"Content-Length", b"5 ")], None),
    ("content-length at the limit", "1.1", b"/",
     [HOST, (b"Content-Length", b"%d" % MAX_FIXED_BODY)], None),
    ("HTTP/2.0", "2.0", b"/", [HOST], Reject(505, "HTTP/2.0 is not supported over HTTP/1.x")),
    ("HTTP/3.0", "3.0", b"/", [HOST], Reject(505, "HTTP/3.0 is not supported over HTTP/1.x")),
    ("HTTP/0.9", "0.9", b"/", [], Reject(400, "unsupported HTTP version 0.9")),
    ("no version", "", b"/", [], Reject(400, "unsupported HTTP version 0.9")),
    ("relative target", "1.1", b"x/y", [HOST], Reject(400, "malformed request-target")),
    ("empty target", "1.1", b"", [HOST], Reject(400, "malformed request-target")),
    ("missing Host on 1.1", "1.1", b"/", [], Reject(400, "missing Host header")),
    ("two Hosts", "1.1", b"/", [HOST, HOST], Reject(400, "duplicate Host headers")),
    ("Host with a space", "1.1", b"/", [(b"Host", b"a b")], Reject(400, "malformed Host header")),
    ("Host with userinfo", "1.1", b"/", [(b"Host", b"u@svc")],
     Reject(400, "malformed Host header")),
    ("TE on HTTP/1.0", "1.0", b"/", [(b"Transfer-Encoding", b"chunked")],
     Reject(400, "Transfer-Encoding is not allowed in HTTP/1.0")),
    ("TE gzip, chunked", "1.1", b"/", [HOST, (b"Transfer-Encoding", b"gzip, chunked")],
     Reject(501, "transfer codings other than chunked are not supported")),
    ("TE gzip then chunked in two fields", "1.1", b"/",
     [HOST, (b"Transfer-Encoding", b"gzip"), (b"Transfer-Encoding", b"chunked")],
     Reject(501, "transfer codings other than chunked are not supported")),
    ("TE ,chunked", "1.1", b"/", [HOST, (b"Transfer-Encoding", b",chunked")], None),
    ("TE identity", "1.1", b"/", [HOST, (b"Transfer-Encoding", b"identity")],
     Reject(400, "the final transfer coding is not chunked")),
    ("TE chunked twice in two fields", "1.1", b"/",
     [HOST, (b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"chunked")],
     Reject(400, "chunked is applied more than once")),
    ("HTTP/1.2 is 1.x", "1.2", b"/", [HOST], None),
    ("HTTP/1.2 needs Host", "1.2", b"/", [], Reject(400, "missing Host header")),
    ("CL +5", "1.1", b"/", [HOST, (b"Content-Length", b"+5")],
     Reject(400, "malformed Content-Length")),
    ("CL 0x5", "1.1", b"/", [HOST, (b"Content-Length", b"0x5")],
     Reject(400, "malformed Content-Length")),
    ("CL over the limit", "1.1", b"/", [HOST, (b"Content-Length", b"%d" % (MAX_FIXED_BODY + 1))],
     Reject(413, f"request body of {MAX_FIXED_BODY + 1} bytes is over the limit "
                 f"of {MAX_FIXED_BODY}")),
    ("Transfer_Encoding", "1.1", b"/", [HOST, (b"Transfer_Encoding", b"chunked")],
     Reject(400, "header name 'Transfer_Encoding' is not allowed")),
    ("content_length", "1.1", b"/", [HOST, (b"content_length", b"5")],
     Reject(400, "header name 'content_length' is not allowed")),
    ("other underscores are fine", "1.1", b"/", [HOST, (b"X_Custom", b"1")], None),
]


class CheckRequestTests:
    """check_request: one row per rule, in concrete syntax."""

    @pytest.mark.parametrize("case,version,target,headers,expected", CHECK_REQUEST,
                             ids=[row[0] for row in CHECK_REQUEST])
    def test_check_request(self, case, version, target, headers, expected) -> None:
        """Each request gets exactly the expected verdict."""
        assert check_request(version, target, headers) == expected, case

    def test_body_limit_is_a_parameter(self) -> None:
        """max_body moves the 413 boundary: equal passes, one more is refused."""
        headers = [HOST, (b"Content-Length", b"1024")]
        assert check_request("1.1", b"/", headers, max_body=1024) is None
        assert check_request("1.1", b"/", headers, max_body=1023).status == 413


PARSER_ERRORS = [
    ("CL+TE", "Transfer-Encoding can't be present with Content-Length", b"", 400),
    ("TE list", "Invalid `Transfer-Encoding` header value", b"", 400),
    ("TE coding", "Request has invalid `Transfer-Encoding`", b"", 400),
    ("empty TE", "Empty Transfer-Encoding", b"", 400),
    ("bad char in TE", "Invalid header value char",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", 400),
    ("CL overflow", "Content-Length overflow", b"", 413),
    ("unknown method token", "Invalid method encountered", b"FOO /p HTTP/1.1\r\n", 501),
    ("lower-case method token", "Invalid method encountered", b"get / HTTP/1.1\r\n", 501),
    ("unknown method after empty lines", "Invalid method encountered",
     b"\r\n\r\nFOO /p HTTP/1.1\r\n", 501),
    ("method not a token", "Invalid method encountered", b"G@T / HTTP/1.1\r\n", 400),
    ("unknown method, bad line", "Invalid method encountered", b"FOO  /p HTTP/1.1\r\n", 400),
    ("unknown method, no line end yet", "Invalid method encountered", b"FOO /p", 400),
    ("bad char elsewhere", "Invalid header value char",
     b"POST / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("folded TE", "Invalid header value char",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 400),
    ("HTTP/3.0", "Invalid HTTP version", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    ("HTTP/9.9 bare LF", "Invalid HTTP version", b"GET / HTTP/9.9\n", 505),
    ("HTTP/1.32", "Invalid HTTP version", b"GET / HTTP/1.32\r\n", 400),
    ("HTTP/30.0", "Invalid HTTP version", b"GET / HTTP/30.0\r\n", 400),
    ("h2 preface", "Pause on PRI/Upgrade", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("duplicate CL", "Duplicate Content-Length", b"", 400),
    ("chunk size", "Invalid character in chunk size", b"", 400),
]


class ParserErrorStatusTests:
    """parser_error_status: llhttp's message (and the raw head) -> status."""

    @pytest.mark.parametrize("case,message,raw,status", PARSER_ERRORS,
                             ids=[r[0] for r in PARSER_ERRORS])
    def test_status(self, case, message, raw, status) -> None:
        """Each llhttp error maps to the matrix status."""
        assert parser_error_status(message, raw) == status, case


class SmallGrammarTests:
    """Content-Length, chunked, Host, request line and absolute-form, on bytes."""

    @pytest.mark.parametrize("value,expected", [
        (b"0", 0), (b"5", 5), (b"007", 7), (b" 5\t", 5), (b"", None), (b" ", None), (b"+5", None),
        (b"-5", None), (b"5_0", None), (b"0x5", None), (b"5 5", None), ("\u0665".encode(), None),
        (b"5\xa0", None), (b"\xa05", None), (b"5,5", None),
    ])
    def test_read_content_length(self, value: bytes, expected) -> None:
        """Only ASCII digits with optional OWS, unlike int()."""
        assert read_content_length(value) == expected

    @pytest.mark.parametrize("values,expected", [
        ([b"chunked"], None), ([b"CHUNKED"], None), ([b"\tchunked "], None), ([b",chunked"], None),
        ([b" , ,chunked, "], None), ([b"", b"chunked"], None),
        ([b"chunked, chunked"], 400), ([b"chunked", b"chunked"], 400), ([b"identity"], 400),
        ([b"chunked, gzip"], 400), ([b"chunked", b"gzip"], 400), ([b""], 400), ([b" , "], 400),
        ([b"\x0bchunked"], 400), ([b"chunked\x85"], 400), ([b"chunked;x"], 400),
        ([b"chunked x"], 400),
        ([b"gzip, chunked"], 501), ([b"gzip", b"chunked"], 501), ([b"chunked;x=1"], 501),
        ([b'chunked; q="a b"'], 501),
    ])
    def test_transfer_coding(self, values: list[bytes], expected) -> None:
        """RFC 9112: the final coding must be chunked, once (400); others are not implemented
        (501); empty list elements do not count; nothing str.strip would remove is OWS."""
        verdict = transfer_coding(values)
        assert (verdict.status if verdict else None) == expected, verdict

    @pytest.mark.parametrize("raw,expected", [
        (b"F", True), (b"FOO", True), (b"FOO ", True), (b"FOO /p", True), (b"FOO /p H", True),
        (b"FOO /p HTTP/1.1", True), (b"FOO /p HTTP/1.1\r", True), (b"\r\nFOO", True),
        (b"FOO /p HTTP/1.1\r\n", False), (b"G@T", False), (b"FOO  ", False),
        (b"FOO /p HTTX", False), (b"FOO /p\n", False), (b"x" * 100, False),
    ])
    def test_awaits_request_line(self, raw: bytes, expected: bool) -> None:
        """A refused method keeps reading only while the bytes can still become a whole line."""
        assert awaits_request_line(raw, 64) is expected

    def test_content_length_is_not_forwarded_as_spelled(self) -> None:
        """Content-Length is parsed (``010`` is 10) and left out of the forwarded lines."""
        info = scan_request("1.1", b"/", [HOST, (b"Content-Length", b"010"), (b"X-A", b"b")])
        assert info.length == 10 and info.plain
        assert info.lines == [b"X-A", b": ", b"b", b"\r\n"]

    @pytest.mark.parametrize("value,expected", [
        (b"svc", True), (b"svc:4140", True), (b"10.0.0.1:80", True), (b"[::1]:80", True),
        (b"", True),
        (b"a b", False), (b"u@svc", False), (b"svc\t", False), (b"svc/x", False), (b"[::1", False),
    ])
    def test_valid_host(self, value: bytes, expected: bool) -> None:
        """reg-name/IP-literal with an optional port; no whitespace, userinfo or slashes."""
        assert valid_host(value) is expected

    def test_request_line_is_the_canonical_spelling(self) -> None:
        """Single spaces and CRLF: the only spelling the raw bytes may have."""
        assert request_line(b"GET", b"/x?y", "1.1") == b"GET /x?y HTTP/1.1\r\n"

    @pytest.mark.parametrize("target,expected", [
        (b"http://svc/x?q", AbsoluteForm(b"http", b"svc", b"/x?q")),
        (b"HTTP://svc:80", AbsoluteForm(b"http", b"svc:80", b"/")),
        (b"http://svc?q", AbsoluteForm(b"http", b"svc", b"/?q")),
        (b"http:///x", None),
        (b"http://", None),
        (b"http://u@svc/x", None),
        (b"/x", None),
        (b"1http://svc/", None),
    ])
    def test_split_absolute(self, target: bytes, expected) -> None:
        """Absolute-form splits into authority and origin-form; anything else is None."""
        assert split_absolute(target) == expected
