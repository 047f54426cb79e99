"""Every exporter reports the same totals for the same traffic (issue 11's "done when").

One real l5d with io.l5d.prometheus, io.l5d.statsd and io.l5d.influxdb; a known mix
through it (5 GETs answered 200, 2 POSTs answered 500, 1 GET answered 500 then, retried,
200, and 1 GET to an unroutable name, 502). Then, for every request counter at the server,
the service and the client: what /admin/metrics.json says, what a real statsd daemon
received (summed over its flushes), what a real Prometheus server answers to a PromQL
query after scraping l5d, and what /admin/metrics/influxdb says, are one and the same.
"""

from __future__ import annotations

import pytest
import requests

from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.resilience import Scripted
from tests.helpers.prometheus_server import query as _query
from tests.helpers.statsd_daemon import StatsdDaemon
from tests.integration.test_metrics_export import READ5XX, TIMEOUT_S, send_mix

#: (scope kind, leaf): the counters compared, with the totals the mix must give
EXPECTED = {
    ("server", "requests"): 9, ("server", "success"): 6, ("server", "failures"): 3,
    ("server", "status/200"): 6, ("server", "status/500"): 2, ("server", "status/502"): 1,
    ("server", "status/5XX"): 3,
    ("service", "requests"): 8, ("service", "success"): 6, ("service", "failures"): 2,
    ("service", "status/200"): 6, ("service", "status/500"): 2,
    ("service", "retries/total"): 1,
    ("client", "requests"): 9, ("client", "success"): 6, ("client", "failures"): 3,
    ("client", "status/200"): 6, ("client", "status/500"): 3,
}


def l5d_with_every_exporter(backend_port: int, statsd_port: int, workers: int = 1) -> L5d:
    config = config_text(
        f"/svc/x=>/$/inet/127.0.0.1/{backend_port}", workers=workers,
        router=f"service: {{responseClassifier: {{kind: {READ5XX}}}}}") + (
        "telemetry:\n"
        "- kind: io.l5d.prometheus\n"
        "- kind: io.l5d.influxdb\n"
        f"- {{kind: io.l5d.statsd, port: {statsd_port}, gaugeIntervalMs: 100}}\n")
    return L5d(config=config)


def influx_fields(text: str) -> dict[tuple[str, frozenset], dict[str, float]]:
    """Line protocol -> {(measurement, tags): fields} (l5d's ids need no unescaping)."""
    out = {}
    for line in text.splitlines():
        series, fields = line.split(" ", 1)
        measurement, *tags = series.split(",")
        out[(measurement, frozenset(tags))] = {
            k: float(v) for k, v in (f.split("=", 1) for f in fields.split(","))}
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_json_statsd_prometheus_and_influxdb_agree(prometheus_server, workers) -> None:
    """With two workers (docs/workers.md) the control merges their stats: the same totals."""
    with StatsdDaemon() as sd, Scripted() as b:
        with l5d_with_every_exporter(b.port, sd.port, workers) as l5d:
            url = prometheus_server(l5d.admin_port)
            assert wait_for(lambda: [r["value"][1] for r in _query(url, 'up{job="l5d"}')]
                            == ["1"], 30)
            assert send_mix(l5d) == {200: 6, 500: 2, 502: 1}
            flat = l5d.metrics()
            server = next(k for k in flat if k.startswith("rt/http/server/")).split("/")[3:5]
            ids = {"server": "/".join(server), "service": "svc/x",
                   "client": f"$/inet/127.0.0.1/{b.port}"}

            def promql(kind: str, leaf: str) -> str:
                # exception="": the total, not failures/<kind> (Linkerd's exception label)
                return (f'rt:{kind}:{leaf.replace("/", ":")}'
                        f'{{rt="http",{kind}="{ids[kind]}",exception=""}}')

            # every exporter has caught up: the daemon's and Prometheus' totals are in
            svc_requests = "linkerd.rt.http.service.svc.x.requests"
            assert wait_for(lambda: sd.counter(svc_requests) == 8, 30), sd.log()
            assert wait_for(lambda: [r["value"][1] for r in _query(
                url, promql("service", "requests"))] == ["8"], 30)
            assert wait_for(lambda: [r["value"][1] for r in _query(
                url, promql("client", "requests"))] == ["9"], 30)
            influx = influx_fields(requests.get(
                f"http://127.0.0.1:{l5d.admin_port}/admin/metrics/influxdb",
                timeout=TIMEOUT_S).text)
            got_prom = {}
            for kind, leaf in EXPECTED:
                result = _query(url, promql(kind, leaf))
                assert len(result) <= 1, result
                got_prom[kind, leaf] = float(result[0]["value"][1]) if result else None
        sd.wait_flushed()
        statsd = sd.counters()

    def statsd_name(kind: str, leaf: str) -> str:
        ident = ids[kind].replace("$", "_").replace(".", "_").replace("/", ".")
        return f"linkerd.rt.http.{kind}.{ident}.{leaf.replace('/', '.')}"

    def influx_value(kind: str, leaf: str) -> float | None:
        scope, _, field = leaf.rpartition("/")
        measurement = f"rt:{kind}" + (f":{scope}" if scope else "")
        for (m, tags), fields in influx.items():
            if m == measurement and f"{kind}={ids[kind]}" in tags:
                return fields.get(field)
        return None

    from_json = {k: flat.get(f"rt/http/{k[0]}/{ids[k[0]]}/{k[1]}") for k in EXPECTED}
    from_statsd = {k: statsd.get(statsd_name(*k)) for k in EXPECTED}
    from_influx = {k: influx_value(*k) for k in EXPECTED}
    assert from_json == EXPECTED
    assert from_statsd == EXPECTED
    assert got_prom == EXPECTED
    assert from_influx == EXPECTED
