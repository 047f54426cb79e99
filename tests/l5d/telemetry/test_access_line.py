"""l5d.telemetry.access_line: Linkerd's access-log layout plus l5d's fields, escaped."""

from __future__ import annotations

import calendar
import re

import pytest

from l5d.telemetry.access_line import MAX_ERROR_CHARS, LineFormat, escape_quoted, escape_token
from l5d.telemetry.record import RequestRecord

# Wed, 06 Jan 2016 21:21:26 GMT: the instant of Linkerd's AccessLoggerTest
LINKERD_T = 1452115286.0

#: a line's fields: CLF then l5d's (quoted fields may hold escaped quotes)
LINE = re.compile(
    r'(?P<host>\S+) (?P<ip>\S+) - - \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\S+) (?P<bytes>\S+) "(?P<referer>(?:[^"\\]|\\.)*)" '
    r'"(?P<agent>(?:[^"\\]|\\.)*)" (?P<router>\S+) (?P<service>\S+) (?P<client>\S+) '
    r'(?P<endpoint>\S+) (?P<ms>\S+) (?P<retries>\S+) (?P<reqid>\S+) '
    r'"(?P<error>(?:[^"\\]|\\.)*)"\n\Z')


def record(**over) -> RequestRecord:
    fields = dict(router="http", started=LINKERD_T - 0.25, duration_us=250_000, method="GET",
                  uri="/foo?bar=bah", version="1.1", host="monkeys", source="10.1.2.3:5555",
                  status=200, ok=True)
    fields.update(over)
    return RequestRecord(**fields)


class LineTests:
    """Whole lines."""

    def test_linkerds_example_then_l5ds_fields(self) -> None:
        """Linkerd's AccessLoggerTest line (HEAD, 402), in UTC, with l5d's fields after it;
        the time is when the response ended (started + duration)."""
        r = record(method="HEAD", status=402, ok=False, response_bytes=304374,
                   source="0.0.0.0:1")
        assert LineFormat()(r) == (
            'monkeys 0.0.0.0 - - [06/01/2016:21:21:26 UTC] "HEAD /foo?bar=bah HTTP/1.1" 402 '
            '304374 "-" "-" http - - - 250.000 0 - "-"\n')

    def test_a_routed_request_with_every_field(self) -> None:
        """service, client, endpoint, duration (3 decimals), retries and l5d-reqid (16 hex
        digits) follow the CLF part; Referer and User-Agent are quoted."""
        r = record(service="/svc/hello", client="/#/io.l5d.fs/hello",
                   endpoint="10.0.0.7:8080", retries=2, duration_us=1234,
                   started=LINKERD_T, trace_id=0xABC, response_bytes=12,
                   user_agent="curl/8.1", referer="http://x/")
        m = LINE.match(LineFormat()(r))
        assert m is not None
        assert m.groupdict() == {
            "host": "monkeys", "ip": "10.1.2.3", "time": "06/01/2016:21:21:26 UTC",
            "request": "GET /foo?bar=bah HTTP/1.1", "status": "200", "bytes": "12",
            "referer": "http://x/", "agent": "curl/8.1", "router": "http",
            "service": "/svc/hello", "client": "/#/io.l5d.fs/hello",
            "endpoint": "10.0.0.7:8080", "ms": "1.234", "retries": "2",
            "reqid": "0000000000000abc", "error": "-"}

    def test_a_cut_request_has_no_status(self) -> None:
        """status -1 (the client went away first) is written as -."""
        m = LINE.match(LineFormat()(record(status=-1, ok=False)))
        assert m is not None and m["status"] == "-"

    def test_an_unrouted_request_without_host(self) -> None:
        """Empty host, service, client, endpoint are -; l5d's error is folded to one line."""
        r = record(host="", status=502, ok=False, service="/svc/x", error=(
            "Unable to route request!\n\nservice name: /svc/x\nresolutions considered:\n"
            "  /#/io.l5d.fs/x\n"))
        m = LINE.match(LineFormat()(r))
        assert m is not None
        assert (m["host"], m["client"], m["endpoint"]) == ("-", "-", "-")
        assert m["error"] == ("Unable to route request! service name: /svc/x resolutions "
                              "considered: /#/io.l5d.fs/x")

    def test_a_long_error_is_cut(self) -> None:
        """The error field holds at most MAX_ERROR_CHARS characters."""
        m = LINE.match(LineFormat()(record(error="x" * 5000)))
        assert m is not None and len(m["error"]) == MAX_ERROR_CHARS
        assert m["error"].endswith("...")

    def test_ipv6_client(self) -> None:
        """The port is cut from an IPv6 peer too."""
        m = LINE.match(LineFormat()(record(source="::1:40000")))
        assert m is not None and m["ip"] == "::1"

    def test_http_1_0(self) -> None:
        """The version is the request's."""
        m = LINE.match(LineFormat()(record(version="1.0")))
        assert m is not None and m["request"] == "GET /foo?bar=bah HTTP/1.0"


class EscapingTests:
    """Whatever a client sends, a line stays one line of printable ASCII with its fields."""

    @pytest.mark.parametrize("raw, escaped", [
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("tab\there", "tab\\x09here"),
        ("new\r\nline", "new\\x0d\\x0aline"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("caf\xc3\xa9", "caf\\xc3\\xa9"),  # UTF-8 bytes read as Latin-1: one escape per byte
        ("snow\u2603", "snow\\xe2\\x98\\x83"),  # a character past Latin-1: its UTF-8 bytes
        ("plain text", "plain text"),
    ])
    def test_quoted(self, raw: str, escaped: str) -> None:
        """Quotes and backslashes get a backslash; other bytes outside 0x20-0x7e, \\xHH."""
        assert escape_quoted(raw) == escaped

    @pytest.mark.parametrize("raw, escaped", [
        ("", "-"), ("a b", "a\\x20b"), ('a"b', 'a\\"b'), ("host:80", "host:80"),
    ])
    def test_token(self, raw: str, escaped: str) -> None:
        """Unquoted fields also escape spaces, and are - when empty."""
        assert escape_token(raw) == escaped

    def test_hostile_uri_user_agent_and_host_keep_the_line_parseable(self) -> None:
        """Quotes, newlines and spaces in the request cannot forge fields or lines."""
        r = record(uri='/a" 200 1 "x\r\nevil', user_agent='ua" "forged\n', host="a b",
                   referer="\x1b[31mred")
        line = LineFormat()(r)
        assert line.count("\n") == 1 and line.isascii() and line[:-1].isprintable()
        m = LINE.match(line)
        assert m is not None
        assert m["request"] == 'GET /a\\" 200 1 \\"x\\x0d\\x0aevil HTTP/1.1'
        assert m["agent"] == 'ua\\" \\"forged\\x0a'
        assert m["host"] == "a\\x20b" and m["referer"] == "\\x1b[31mred"
        assert m["router"] == "http" and m["status"] == "200"


class TimeTests:
    """[dd/MM/yyyy:HH:mm:ss UTC] of the response's end."""

    @pytest.mark.parametrize("when, text", [
        ((2016, 1, 6, 21, 21, 26), "06/01/2016:21:21:26 UTC"),
        ((1999, 12, 31, 23, 59, 59), "31/12/1999:23:59:59 UTC"),
        ((2024, 2, 29, 0, 0, 0), "29/02/2024:00:00:00 UTC"),
    ])
    def test_stamp(self, when: tuple, text: str) -> None:
        """Linkerd's numeric-month layout, always UTC, whatever the local zone."""
        assert LineFormat().stamp(calendar.timegm(when + (0, 0, 0))) == text

    def test_the_stamp_follows_the_second(self) -> None:
        """Records in one second share the text; the next second gets its own."""
        fmt = LineFormat()
        assert fmt.stamp(LINKERD_T + 0.2) == fmt.stamp(LINKERD_T + 0.9)
        assert fmt.stamp(LINKERD_T + 1.0) == "06/01/2016:21:21:27 UTC"
        assert fmt.stamp(LINKERD_T) == "06/01/2016:21:21:26 UTC"

    def test_the_end_of_the_request_is_what_counts(self) -> None:
        """A request started at :25.9 that took 0.2 s is stamped :26."""
        r = record(started=LINKERD_T - 0.1, duration_us=200_000)
        assert "[06/01/2016:21:21:26 UTC]" in LineFormat()(r)
