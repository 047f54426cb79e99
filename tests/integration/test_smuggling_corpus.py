"""A generated smuggling corpus against a real l5d and a recording origin (hypothesis).

Each example is one connection: a first request whose framing headers are mutated
(``Content-Length``, ``Transfer-Encoding``, ``Connection``, ``Upgrade``, ``Expect``,
``Host``: case, whitespace, duplicates, list forms, obs-fold, control bytes, a body
that disagrees with its framing or hides a whole request), then a well-formed request
pipelined after it. The client half-closes and reads until l5d closes.

What must hold, whatever the bytes:

* l5d answers or closes within a bound (no exchange outlives its timeouts);
* every request the origin parsed (with h11, a parser independent of l5d's llhttp)
  was framed by l5d (it carries ``l5d-reqid``), and h11 refused none of l5d's bytes;
* the origin saw exactly the requests l5d answered from it, in order, each equal in
  method, target and body (byte for byte) to what h11 reads from the client's bytes;
  so l5d never forwarded a request h11 would not read the same way;
* a refusal is l5d's own (``l5d-err``), and nothing is answered after it.

The examples are derandomized (the same corpus in every CI run) and bounded; set
``L5D_CORPUS_EXAMPLES`` to run more, with a fresh random seed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.l5d_process import L5d
from tests.helpers.raw_http import RawClient
from tests.helpers.recording_origin import RecordingOrigin

EXAMPLES = int(os.environ.get("L5D_CORPUS_EXAMPLES", "0")) or 300
DERANDOMIZE = "L5D_CORPUS_EXAMPLES" not in os.environ
#: how long l5d may take to answer or close one example (its timeouts are 1 s here)
BOUND_S = 6.0
SECOND = b"GET /second HTTP/1.1\r\nHost: svc\r\n\r\n"
SMUGGLE = b"GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n"
CONTROL = [b"\x00", b"\x0b", b"\x7f", b"\x85", b"\xa0", b"\r", b"\n"]


@pytest.fixture(scope="module")
def routed():
    server = "headerTimeoutMs: 1000\nbodyIdleTimeMs: 1000\n"
    with RecordingOrigin() as origin, L5d(config=_config(origin.port, server)) as l5d:
        yield l5d, origin


def _config(port: int, server: str) -> str:
    from tests.helpers.l5d_process import config_text
    return config_text(f"/svc=>/$/inet/127.0.0.1/{port}", server=server)


CONNECTION = [b"content-length", b"Content-Length", b"close, content-length", b"host",
              b"transfer-encoding", b"upgrade", b"Upgrade, content-length", b"keep-alive",
              b"close", b"x-a, te", b"keep-alive, host, transfer-encoding"]
UPGRADE = [b"websocket", b"h2c", b"foo/1"]
EXPECT = [b"100-continue", b"100-Continue", b"nothing"]
MUTATIONS = ["case", "space-before-value", "space-after-value", "duplicate", "list",
             "obs-fold", "control", "length-off", "space-before-colon", "tab-separator",
             "drop-host", "second-host"]


@st.composite
def first_requests(draw) -> bytes:
    """A well-formed request with up to two mutations of its framing headers; its body may
    hide a whole request."""
    method = draw(st.sampled_from([b"POST", b"GET", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]))
    version = draw(st.sampled_from([b"1.1", b"1.1", b"1.1", b"1.0"]))
    body = draw(st.sampled_from([SMUGGLE, b"hello", b"", b"0\r\n\r\n", b"x" * 40]))
    chunked = version == b"1.1" and draw(st.integers(0, 2)) == 0
    fields: list[list[bytes]] = [[b"Host", b"svc"]]
    if chunked:
        fields.append([b"Transfer-Encoding", b"chunked"])
    else:
        fields.append([b"Content-Length", b"%d" % len(body)])
    if draw(st.integers(0, 2)):
        fields.append([b"Connection", draw(st.sampled_from(CONNECTION))])
    if not draw(st.integers(0, 2)):
        fields.append([b"Upgrade", draw(st.sampled_from(UPGRADE))])
    if not draw(st.integers(0, 3)):
        fields.append([b"Expect", draw(st.sampled_from(EXPECT))])
    fields = [list(f) for f in draw(st.permutations(fields))]
    seps = [b": "] * len(fields)
    folded = -1
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        i = draw(st.integers(0, len(fields) - 1))
        name, value = fields[i]
        if mutation == "case":
            fields[i][0] = draw(st.sampled_from([name.lower(), name.upper()]))
        elif mutation == "space-before-value":
            fields[i][1] = draw(st.sampled_from([b" ", b"\t"])) + value
        elif mutation == "space-after-value":
            fields[i][1] = value + draw(st.sampled_from([b" ", b"\t"]))
        elif mutation == "duplicate":
            fields.append([name, draw(st.sampled_from([value, b"5", b"chunked"]))])
            seps.append(b": ")
        elif mutation == "list":
            fields[i][1] = draw(st.sampled_from([value + b", " + value, b"," + value,
                                                 value + b",", b"gzip, " + value]))
        elif mutation == "obs-fold":
            folded = i
        elif mutation == "control":
            at = draw(st.integers(0, len(value)))
            fields[i][1] = value[:at] + draw(st.sampled_from(CONTROL)) + value[at:]
        elif mutation == "length-off":
            for f in fields:
                if f[0].lower() == b"content-length":
                    f[1] = draw(st.sampled_from([b"0" + f[1], f[1] + b"3", b"0", b"",
                                                 b"+" + f[1]]))
        elif mutation == "space-before-colon":
            seps[i] = b" : "
        elif mutation == "tab-separator":
            seps[i] = b":\t"
        elif mutation == "drop-host" and name.lower() == b"host":
            fields[i][0] = b"X-Was-Host"
        elif mutation == "second-host":
            fields.append([b"Host", draw(st.sampled_from([b"svc", b"other"]))])
            seps.append(b": ")
    lines = [method + b" /first HTTP/" + version]
    for i, (name, value) in enumerate(fields):
        lines.append(name + seps[i] + value + (b"\r\n folded" if i == folded else b""))
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if chunked:
        ext = draw(st.sampled_from([b"", b";a=b"]))
        n = len(body)
        return head + (b"%x%s\r\n%s\r\n" % (n, ext, body) if n else b"") + b"0\r\n\r\n"
    return head + body


_TE_LINE = re.compile(rb"(?im)^(transfer-encoding:[ \t]*)([^\r\n]*)")


def _without_empty_elements(data: bytes) -> bytes:
    """The client's bytes with empty list elements dropped from Transfer-Encoding in the
    first head: RFC 9110 5.6.1 makes recipients accept them (``,chunked`` is chunked),
    h11 refuses them; the oracle reads what the RFC means."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data

    def clean(m: re.Match) -> bytes:
        elements = [e.strip(b" \t") for e in m.group(2).split(b",")]
        return m.group(1) + b", ".join(e for e in elements if e)

    return _TE_LINE.sub(clean, data[:end]) + data[end:]


def h11_requests(data: bytes) -> dict[str, tuple[str, bytes]]:
    """What h11 reads from the client's bytes, by target: complete requests, up to the first
    error (an HTTP/1.0 keep-alive request, which h11 does not do, starts a new reader)."""
    out: dict[str, tuple[str, bytes]] = {}
    data = _without_empty_elements(data)
    while True:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        conn.receive_data(b"")
        current: list = []
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    return out
                if event is h11.PAUSED:
                    # pretend the response went out, as a keep-alive server would
                    conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                    conn.send(h11.EndOfMessage())
                    if conn.their_state is h11.MUST_CLOSE:  # HTTP/1.0: read on afresh
                        data = bytes(conn.trailing_data[0])
                        if not data:
                            return out
                        break
                    conn.start_next_cycle()
                    continue
                if isinstance(event, h11.Request):
                    current = [event.target.decode("latin-1"), event.method.decode("latin-1"), b""]
                elif isinstance(event, h11.Data):
                    current[2] += event.data
                elif isinstance(event, h11.EndOfMessage):
                    out[current[0]] = (current[1], current[2])
                    if conn.their_state is h11.MUST_CLOSE:  # HTTP/1.0: read on afresh
                        data = bytes(conn.trailing_data[0])
                        if not data:
                            return out
                        break
        except (h11.RemoteProtocolError, h11.LocalProtocolError):
            return out


def read_all(l5d: L5d, data: bytes) -> tuple[list, bool]:
    """Send ``data``, half-close, read final responses until l5d closes the connection;
    returns them and whether it closed within :data:`BOUND_S`."""
    out = []
    deadline = time.monotonic() + BOUND_S
    with RawClient(l5d.port, timeout_s=BOUND_S) as c:
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out, False
            try:
                rsp = c.read_response(left)
            except TimeoutError:
                return out, False
            if rsp.status and not 100 <= rsp.status < 200:
                out.append(rsp)
            if not rsp.complete:
                return out, True  # the connection ended


class SmugglingCorpusTests:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(first_requests())
    def test_origin_sees_exactly_what_l5d_framed(self, routed, first: bytes) -> None:
        """See the module docstring: no smuggling, no hang, bodies byte for byte."""
        l5d, origin = routed
        data = first + SECOND
        mark = origin.mark()
        responses, in_time = read_all(l5d, data)
        assert in_time, ("no answer or close in time", data, responses)
        time.sleep(0.02)  # the origin's thread records what it parsed
        seen = origin.since(mark)
        assert origin.smuggled(mark) == [], (data, seen)
        assert origin.errors == [], (data, origin.errors)
        answered = []
        for rsp in responses:
            assert rsp.complete, (data, rsp)
            if rsp.header("l5d-err") is None:
                assert rsp.status == 200, (data, rsp)
                answered.append(json.loads(rsp.body))
        assert [(r.target, r.header("l5d-reqid")) for r in seen] == [
            (a["target"], a["reqid"]) for a in answered], (data, seen, answered)
        expected = h11_requests(data)
        for got in seen:
            assert got.target in expected, ("forwarded what h11 does not read", data, got)
            assert (got.method, got.body) == expected[got.target], (data, got, expected)
