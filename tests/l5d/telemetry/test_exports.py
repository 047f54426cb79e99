"""The registry as /admin/metrics.json (flat, tree, subtree) and as Prometheus text."""

from __future__ import annotations

import pytest

from l5d.telemetry.flat import flat_metrics, resolve, tree_metrics
from l5d.telemetry.prometheus import render
from l5d.telemetry.stats import Stats

SVC = ("rt", "http", "service", "svc/hello")
CLIENT = ("rt", "http", "client", "$/inet/127.0.0.1/8080")
SERVER = ("rt", "http", "server", "127.0.0.1/4140")


def registry() -> Stats:
    stats = Stats()
    stats.counter(*SVC, "requests").value = 3
    stats.counter(*CLIENT, "failures", "connect").value = 1
    stats.gauge(*CLIENT, "loadbalancer", "size").value = 2.0
    table = stats.statuses(*SERVER)
    table[200] = 2
    table[204] = 1
    table[503] = 4
    h = stats.stat(*SVC, "request_latency_ms", scale=1000)
    for us in (1000, 2000, 3000):
        h.add(us)
    stats.stat(*SVC, "retries", "per_request")  # never recorded: count 0
    return stats


class FlatTests:
    def test_names_statuses_and_histogram_fields_as_linkerd(self) -> None:
        stats = registry()
        stats.snapshot()
        m = flat_metrics(stats)
        assert m["rt/http/service/svc/hello/requests"] == 3
        assert m["rt/http/server/127.0.0.1/4140/status/200"] == 2
        assert m["rt/http/server/127.0.0.1/4140/status/2XX"] == 3
        assert m["rt/http/server/127.0.0.1/4140/status/5XX"] == 4
        lat = "rt/http/service/svc/hello/request_latency_ms"
        assert (m[lat + ".count"], m[lat + ".sum"], m[lat + ".avg"]) == (3, 6.0, 2.0)
        # read back from their buckets: within 0.4 % (exact below 0.256 ms)
        assert (m[lat + ".min"], m[lat + ".p50"], m[lat + ".max"]) == pytest.approx(
            (1.0, 2.0, 3.0), rel=0.004)
        per = "rt/http/service/svc/hello/retries/per_request"
        assert m[per + ".count"] == 0 and per + ".max" not in m  # Linkerd: count only

    def test_histograms_read_the_last_snapshot(self) -> None:
        stats = registry()
        lat = "rt/http/service/svc/hello/request_latency_ms.count"
        assert flat_metrics(stats)[lat] == 0  # nothing snapshotted yet
        stats.snapshot()
        assert flat_metrics(stats)[lat] == 3
        stats.snapshot()
        assert flat_metrics(stats)[lat] == 0

    def test_subtree_by_q_with_scopes_that_hold_slashes(self) -> None:
        stats = registry()
        under = resolve(stats, "rt/http/service/svc/hello")
        assert under == SVC
        assert flat_metrics(stats, under)["requests"] == 3
        assert resolve(stats, "rt/http/server/127.0.0.1/4140/status") == SERVER + ("status",)
        assert resolve(stats, "rt/http") == ("rt", "http")
        assert resolve(stats, "/rt/http/") == ("rt", "http")
        assert resolve(stats, "rt/nope") is None
        assert resolve(stats, "rt/http/service/svc") is None  # not a node of its own

    def test_tree_puts_values_under_their_kind(self) -> None:
        stats = registry()
        stats.snapshot()
        tree = tree_metrics(stats)
        svc = tree["rt"]["http"]["service"]["svc/hello"]
        assert svc["requests"] == {"counter": 3}
        assert svc["request_latency_ms"]["stat.count"] == 3
        assert svc["request_latency_ms"]["stat.p99"] == pytest.approx(3.0, rel=0.004)
        client = tree["rt"]["http"]["client"]["$/inet/127.0.0.1/8080"]
        assert client["loadbalancer"]["size"] == {"gauge": 2.0}
        assert tree_metrics(stats, SERVER)["status"]["200"] == {"counter": 2}

    def test_expired_scopes_take_their_statuses_and_histograms(self) -> None:
        stats = registry()
        stats.remove_prefix(*SERVER)
        stats.remove_prefix(*SVC)
        m = flat_metrics(stats)
        assert not [k for k in m if "server" in k or "service" in k]


class PrometheusTests:
    def test_linkerd_names_and_labels(self) -> None:
        stats = registry()
        stats.snapshot()
        text = render(stats)
        assert 'rt:service:requests{rt="http",service="svc/hello"} 3\n' in text
        assert ('rt:client:failures{rt="http",client="$/inet/127.0.0.1/8080",'
                'exception="connect"} 1\n') in text
        assert 'rt:server:status:2XX{rt="http",server="127.0.0.1/4140"} 3\n' in text
        assert "# TYPE rt:service:requests counter\n" in text
        assert "# TYPE rt:client:loadbalancer:size gauge\n" in text

    def test_histograms_are_summaries_with_running_count_and_sum(self) -> None:
        stats = registry()
        stats.snapshot()
        h = stats.stat(*SVC, "request_latency_ms", scale=1000)
        h.add(4000)  # in the open window: counted in _count/_sum, not in the quantiles
        text = render(stats)
        lab = 'rt="http",service="svc/hello"'
        assert "# TYPE rt:service:request_latency_ms summary\n" in text
        samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                       if not line.startswith("#"))
        q = f"rt:service:request_latency_ms{{{lab},quantile="
        assert float(samples[q + '"0.5"}']) == pytest.approx(2.0, rel=0.004)
        assert float(samples[q + '"1"}']) == pytest.approx(3.0, rel=0.004)
        assert f"rt:service:request_latency_ms_count{{{lab}}} 4\n" in text
        assert f"rt:service:request_latency_ms_sum{{{lab}}} 10.0\n" in text
        assert f"rt:service:request_latency_ms_avg{{{lab}}} 2.0\n" in text
        assert "per_request" not in text  # nothing recorded: nothing written

    def test_one_help_and_type_per_family_and_samples_together(self) -> None:
        stats = Stats()
        for svc in ("svc/a", "svc/b"):
            stats.counter("rt", "http", "service", svc, "requests").value = 1
            stats.counter("rt", "http", "service", svc, "success").value = 1
        lines = render(stats).splitlines()
        assert lines.count("# TYPE rt:service:requests counter") == 1
        i = lines.index("# TYPE rt:service:requests counter")
        assert [ln.split("{")[0] for ln in lines[i + 1:i + 3]] == ["rt:service:requests"] * 2

    def test_label_values_are_escaped_and_prefix_applied(self) -> None:
        stats = Stats()
        stats.counter("rt", "http", "service", 'a"b\\c\nd', "requests").value = 1
        stats.counter("jvm", "uptime").value = 5
        text = render(stats, prefix="linkerd_")
        assert 'linkerd_rt:service:requests{rt="http",service="a\\"b\\\\c\\nd"} 1' in text
        assert "linkerd_jvm:uptime 5\n" in text
