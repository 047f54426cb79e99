"""The registry in InfluxDB's line protocol, as Linkerd's io.l5d.influxdb writes it.

The cases follow Linkerd's ``InfluxDbTelemeterTest`` (the same registries give the same
lines); l5d's histograms read in milliseconds, so their fields are floats.
"""

from __future__ import annotations

import random

import pytest

from l5d.config import parse_config
from l5d.config.telemeters import InfluxDbConfig
from l5d.telemetry.influxdb import InfluxDbTelemeter, render
from l5d.telemetry.stats import Stats
from l5d.telemetry.telemeter import PageArgs, TelemetryContext, build_telemeter


class LinkerdCasesTests:
    """Linkerd's expected lines."""

    def test_counter(self) -> None:
        """A counter is a field of the measurement its scope names."""
        stats = Stats()
        c = stats.scope("foo", "bar").counter("bas")
        c.incr()
        assert render(stats) == "foo:bar,host=none bas=1\n"
        c.incr()
        assert render(stats) == "foo:bar,host=none bas=2\n"

    def test_counters_with_no_scope_go_to_root(self) -> None:
        """Metrics at the top are fields of ``root``, sorted."""
        stats = Stats()
        stats.counter("def").incr(2)
        stats.counter("abc").incr()
        assert render(stats) == "root,host=none abc=1,def=2\n"

    def test_gauge(self) -> None:
        """A gauge is a float field."""
        stats = Stats()
        stats.scope("foo", "bar").gauge("bas").set(1.0)
        stats.function_gauge(lambda: 2.0, "bas")
        assert render(stats) == "foo:bar,host=none bas=1.0\nroot,host=none bas=2.0\n"

    def test_stat_reads_the_last_snapshot(self) -> None:
        """A histogram gives Linkerd's eleven fields from its last window."""
        stats = Stats()
        stat = stats.scope("foo", "bar").stat("bas")
        stat.add(1)
        assert render(stats) == "foo:bar,host=none bas_count=0\n"  # nothing snapshotted
        stats.snapshot()
        assert render(stats) == (
            "foo:bar,host=none bas_avg=1.0,bas_count=1,bas_max=1.0,bas_min=1.0,bas_p50=1.0,"
            "bas_p90=1.0,bas_p95=1.0,bas_p99=1.0,bas_p999=1.0,bas_p9999=1.0,bas_sum=1.0\n")
        stat.add(2)
        stats.snapshot()
        assert render(stats) == (
            "foo:bar,host=none bas_avg=2.0,bas_count=1,bas_max=2.0,bas_min=2.0,bas_p50=2.0,"
            "bas_p90=2.0,bas_p95=2.0,bas_p99=2.0,bas_p999=2.0,bas_p9999=2.0,bas_sum=2.0\n")

    def test_service_client_and_server_scopes_are_tags(self) -> None:
        """rt, service, client and server become tags, sorted by key with host."""
        stats = Stats()
        stats.scope("rt", "incoming", "service", "svc/foo").counter("requests").incr()
        stats.scope("rt", "incoming", "client", "#/bar").counter("requests").incr()
        stats.scope("rt", "incoming", "client", "#/bar", "service", "svc/foo") \
            .counter("requests").incr()
        stats.scope("rt", "incoming", "server", "127.0.0.1/4141").counter("requests").incr()
        assert render(stats).splitlines() == [
            "rt:client,client=#/bar,host=none,rt=incoming requests=1",
            "rt:client:service,client=#/bar,host=none,rt=incoming,service=svc/foo requests=1",
            "rt:server,host=none,rt=incoming,server=127.0.0.1/4141 requests=1",
            "rt:service,host=none,rt=incoming,service=svc/foo requests=1",
        ]


class L5dTests:
    """What l5d's registry adds: statuses, failure kinds, host, escaping, odd values."""

    def test_statuses_and_failure_kinds_are_fields_of_their_own_measurement(self) -> None:
        """status/<code> and failures/<kind> are measurements ``...:status`` and
        ``...:failures`` (no ``exception`` tag: that is Prometheus')."""
        stats = Stats()
        client = stats.scope("rt", "http", "client", "$/inet/127.0.0.1/8080")
        client.counter("failures").incr(3)
        client.counter("failures", "connect").incr(2)
        table = client.statuses()
        table[200] = 4
        table[503] = 1
        tags = "client=$/inet/127.0.0.1/8080,host=h:9990,rt=http"
        assert render(stats, "h:9990").splitlines() == [
            f"rt:client,{tags} failures=3",
            f"rt:client:failures,{tags} connect=2",
            f"rt:client:status,{tags} 200=4,2XX=4,503=1,5XX=1",
        ]

    @pytest.mark.parametrize("value, text", [
        ("svc/a b", "svc/a\\ b"), ("a,b=c", "a\\,b\\=c"), ("a\\x20", "a\\x20"),
        ("ends\\", "ends_"), ("a\\,b", "a_\\,b"), ("two\nlines", "two\\ lines"),
    ])
    def test_tag_values_are_escaped(self, value: str, text: str) -> None:
        """Commas, equals signs and spaces escaped; what 1.x cannot read made readable."""
        stats = Stats()
        stats.counter("rt", "http", "service", value, "requests").incr()
        assert render(stats) == f"rt:service,host=none,rt=http,service={text} requests=1\n"

    def test_field_keys_are_escaped_and_measurements_sanitized(self) -> None:
        """A field key keeps its name, escaped; a measurement has only [a-zA-Z0-9:_]."""
        stats = Stats()
        stats.counter("#", "io.l5d.k8s", "watch errors").incr()
        assert render(stats) == "_:io_l5d_k8s,host=none watch\\ errors=1\n"

    def test_nan_and_infinite_gauges_are_left_out(self) -> None:
        """The protocol has no NaN or infinity; a line with no field left is not written."""
        stats = Stats()
        stats.gauge("a", "nan").set(float("nan"))
        stats.gauge("a", "inf").set(float("inf"))
        stats.gauge("b", "only").set(float("-inf"))
        stats.gauge("a", "ok").set(0.5)
        assert render(stats) == "a,host=none ok=0.5\n"

    def test_empty_registry_is_empty(self) -> None:
        assert render(Stats()) == ""


class TelemeterTests:
    """The config and the page."""

    def test_config_has_no_keys(self) -> None:
        """``kind: io.l5d.influxdb`` and nothing else, as Linkerd's."""
        cfg = parse_config("telemetry:\n- kind: io.l5d.influxdb\nrouters: [{protocol: http, "
                           "dtab: '/svc=>/$/inet/127.0.0.1/1', servers: [{}]}]\n").telemetry[0]
        assert cfg == InfluxDbConfig() and cfg.to_json() == {"kind": "io.l5d.influxdb"}

    def test_page_tags_the_host_the_request_named(self) -> None:
        """/admin/metrics/influxdb reads the registry and tags it with the Host header."""
        stats = Stats()
        stats.counter("rt", "http", "requests").incr(7)
        reads = []

        def read() -> Stats:
            reads.append(1)
            return stats

        ctx = TelemetryContext(None, stats, read, lambda: 0.0, lambda: 0.0, random.Random(1))
        t = build_telemeter(InfluxDbConfig(), ctx)
        assert isinstance(t, InfluxDbTelemeter) and t.record is None
        status, ctype, body = t.pages["/admin/metrics/influxdb"](
            PageArgs({}, host="10.0.0.5:9990"))
        assert (status, ctype) == (200, b"text/plain; charset=utf-8")
        assert body == b"rt,host=10.0.0.5:9990,rt=http requests=7\n"
        assert reads == [1]
        assert t.pages["/admin/metrics/influxdb"](PageArgs())[2] == \
            b"rt,host=none,rt=http requests=7\n"
