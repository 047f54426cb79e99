"""io.l5d.recentRequests: its config, the sampled ring and its two pages (pure, seeded rng)."""

from __future__ import annotations

import json
import random

import pytest

from l5d.config import ConfigError, parse_config
from l5d.config.telemeters import RecentRequestsConfig
from l5d.telemetry.record import RequestRecord
from l5d.telemetry.recent_requests import (
    RecentRequests,
    RecentRequestsTelemeter,
    request_json,
    requests_html,
)
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import PageArgs, TelemetryContext, build_telemeter


def rec(n: int, router: str = "http", **kw) -> RequestRecord:
    """The ``n``-th request: ``/r<n>``, started at ``1700000000 + n`` seconds."""
    fields = dict(router=router, started=1_700_000_000.0 + n, duration_us=1500 + n,
                  method="GET", uri=f"/r{n}", version="1.1", host="hello",
                  source=f"127.0.0.1:{40000 + n}", status=200, ok=True,
                  service="/svc/hello", client="/$/inet/127.0.0.1/8080",
                  endpoint="127.0.0.1:8080")
    fields.update(kw)
    return RequestRecord(**fields)


ROUTERS = "routers: [{protocol: http, dtab: '/svc=>/$/inet/127.0.0.1/1', servers: [{}]}]\n"


def ctx(seed: int = 7) -> TelemetryContext:
    stats = Stats()
    return TelemetryContext(reactor=None, stats=stats, read_metrics=lambda: stats,
                            now=lambda: 0.0, wall=lambda: 0.0, rng=random.Random(seed))


def telemeter(sample_rate: float = 1.0, capacity: int = 10, seed: int = 7):
    return build_telemeter(RecentRequestsConfig(sample_rate, capacity), ctx(seed))


def page(t, path: str, **args: str) -> tuple[int, bytes, bytes]:
    return t.pages[path](PageArgs(args))


class RecentRequestsConfigTests:
    """Linkerd's keys: sampleRate required, 0 to 1; capacity 10 by default."""

    def test_parse_defaults_and_json(self) -> None:
        """capacity defaults to 10; to_json gives Linkerd's keys back."""
        cfg = parse_config("telemetry:\n- kind: io.l5d.recentRequests\n  sampleRate: 0.25\n"
                           + ROUTERS).telemetry[0]
        assert cfg == RecentRequestsConfig(0.25, 10)
        assert cfg.to_json() == {"kind": "io.l5d.recentRequests", "sampleRate": 0.25,
                                 "capacity": 10}

    @pytest.mark.parametrize("keys, message", [
        ("", 'telemetry[0]: missing required key "sampleRate"'),
        ("  sampleRate: 1.5\n", "telemetry[0].sampleRate: expected a number <= 1, got 1.5"),
        ("  sampleRate: -0.1\n", "telemetry[0].sampleRate: expected a number >= 0, got -0.1"),
        ("  sampleRate: 1\n  capacity: -1\n",
         "telemetry[0].capacity: expected an integer >= 0, got -1"),
        ("  sampleRate: 1\n  size: 3\n", 'unknown key "size"'),
    ])
    def test_bad_keys(self, keys: str, message: str) -> None:
        """Out-of-range values and unknown keys name the key."""
        with pytest.raises(ConfigError) as info:
            parse_config(f"telemetry:\n- kind: io.l5d.recentRequests\n{keys}{ROUTERS}")
        assert message in str(info.value)

    def test_post_init(self) -> None:
        """Built directly, the same checks hold."""
        with pytest.raises(ValueError, match="sampleRate: expected a number from 0.0 to 1.0"):
            RecentRequestsConfig(2.0)
        with pytest.raises(ValueError, match="capacity: expected an integer >= 0"):
            RecentRequestsConfig(1.0, -3)


class RingTests:
    """The sampled, bounded ring."""

    def test_ring_keeps_the_newest_capacity(self) -> None:
        """With 12 offered to a ring of 5, the last 5 are kept, newest first."""
        ring = RecentRequests(1.0, 5, random.Random(1))
        for n in range(12):
            ring.offer(rec(n))
        assert len(ring) == 5
        assert [r.uri for r in ring.newest()] == ["/r11", "/r10", "/r9", "/r8", "/r7"]

    def test_sample_rate_zero_keeps_nothing(self) -> None:
        """sampleRate 0: nothing is kept, and the telemeter takes no records at all."""
        ring = RecentRequests(0.0, 5, random.Random(1))
        for n in range(100):
            ring.offer(rec(n))
        assert len(ring) == 0
        assert telemeter(sample_rate=0.0).record is None

    def test_sample_rate_one_keeps_everything_without_drawing(self) -> None:
        """sampleRate 1: every record is kept and the rng is not used."""
        rng = random.Random(1)
        state = rng.getstate()
        ring = RecentRequests(1.0, 1000, rng)
        for n in range(100):
            ring.offer(rec(n))
        assert len(ring) == 100
        assert rng.getstate() == state

    def test_sampling_is_deterministic_with_a_seeded_rng(self) -> None:
        """The same seed keeps the same requests; about sampleRate of them over many."""
        def kept(seed: int) -> list[str]:
            ring = RecentRequests(0.3, 10_000, random.Random(seed))
            for n in range(10_000):
                ring.offer(rec(n))
            return [r.uri for r in ring.newest()]

        first = kept(42)
        assert first == kept(42)
        assert first != kept(43)
        assert 2700 < len(first) < 3300
        expected_rng = random.Random(42)
        assert first == [f"/r{n}" for n in range(10_000) if expected_rng.random() < 0.3][::-1]

    def test_newest_filters_by_router_then_limits(self) -> None:
        """router= keeps one router's; limit= the n newest of those."""
        ring = RecentRequests(1.0, 10, random.Random(1))
        for n in range(6):
            ring.offer(rec(n, router="in" if n % 2 else "out"))
        assert [r.uri for r in ring.newest("in")] == ["/r5", "/r3", "/r1"]
        assert [r.uri for r in ring.newest("in", 2)] == ["/r5", "/r3"]
        assert [r.uri for r in ring.newest(limit=0)] == []


class PagesTests:
    """/requests.json and /requests."""

    def test_json_fields_newest_first(self) -> None:
        """Each request with its time (UTC), names, endpoint, status and latency."""
        t = telemeter(capacity=3)
        for n in range(4):
            t.record(rec(n))
        t.record(rec(4, status=502, service="/svc/nowhere", client="", endpoint="",
                     error="No route to /svc/nowhere", ok=False))
        status, ctype, body = page(t, "/requests.json")
        assert (status, ctype) == (200, b"application/json")
        rows = json.loads(body)
        assert [r["uri"] for r in rows] == ["/r4", "/r3", "/r2"]
        assert rows[0] == {
            "time": "2023-11-14T22:13:24.000Z", "router": "http", "source": "127.0.0.1:40004",
            "method": "GET", "uri": "/r4", "host": "hello", "service": "/svc/nowhere",
            "client": "", "endpoint": "", "status": 502, "latency_ms": 1.504, "retries": 0,
            "error": "No route to /svc/nowhere"}
        assert rows[1]["client"] == "/$/inet/127.0.0.1/8080"
        assert rows[1]["endpoint"] == "127.0.0.1:8080"

    def test_json_router_and_limit(self) -> None:
        """?router= and ?limit= narrow the list; a bad limit is a 400 saying so."""
        t = telemeter()
        for n in range(6):
            t.record(rec(n, router="in" if n % 2 else "out"))
        _, _, body = page(t, "/requests.json", router="out", limit="2")
        assert [r["uri"] for r in json.loads(body)] == ["/r4", "/r2"]
        assert json.loads(page(t, "/requests.json", router="nope")[2]) == []
        status, _, body = page(t, "/requests.json", limit="x")
        assert (status, body) == (400, b"limit: expected an integer >= 0, got 'x'\n")
        assert page(t, "/requests", limit="-1")[0] == 400

    def test_html_table_escapes_every_cell(self) -> None:
        """/requests is an HTML table; what a client sent cannot inject markup."""
        t = telemeter()
        t.record(rec(1, uri="/<script>alert('x')</script>", host='a"b&c'))
        status, ctype, body = page(t, "/requests")
        assert (status, ctype) == (200, b"text/html; charset=utf-8")
        html = body.decode("utf-8")
        assert "<script>" not in html
        assert "/&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
        assert "a&quot;b&amp;c" in html
        assert html.count("<tr>") == 2  # the heading and one request
        assert "<th>Logical name</th>" in html and "<td>/svc/hello</td>" in html

    def test_html_of_nothing_is_an_empty_table(self) -> None:
        """No requests yet: the table has only its heading."""
        assert requests_html([]).count("<tr>") == 1

    def test_request_json_of_a_cut_request(self) -> None:
        """A request whose client went away has status -1 and keeps its names."""
        row = request_json(rec(1, status=-1, ok=False))
        assert (row["status"], row["service"]) == (-1, "/svc/hello")

    def test_kind_builds_the_telemeter(self) -> None:
        """build_telemeter finds the runtime of io.l5d.recentRequests."""
        assert isinstance(telemeter(), RecentRequestsTelemeter)
