"""io.l5d.influxdb from a real l5d, ingested by a real InfluxDB 1.x server.

A known mix of traffic goes through l5d (the one of ``test_metrics_export``: 6 answered
200, 2 answered 500, one retried, one unroutable). ``/admin/metrics/influxdb`` is then
POSTed, as Telegraf would forward it, to ``/write`` of an ``influxd`` (Debian's
``influxdb`` package, installed by ``scripts/sysdeps.sh``) on loopback, which must accept
every line; InfluxQL queries then read back the totals, tags and field types.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.processes import terminate
from tests.helpers.resilience import Scripted, free_port
from tests.integration.test_metrics_export import READ5XX, send_mix

TIMEOUT_S = 20


def l5d_for(port: int) -> L5d:
    return L5d(config=config_text(
        f"/svc/x=>/$/inet/127.0.0.1/{port}",
        router=f"service: {{responseClassifier: {{kind: {READ5XX}}}}}") + (
        "telemetry:\n- kind: io.l5d.influxdb\n"))


class Influxd:
    """An ``influxd`` on 127.0.0.1 with its data under ``root``; :meth:`query` runs
    InfluxQL against database ``l5d``."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("influxd")
        assert binary, "influxd (Debian package influxdb) is installed by scripts/sysdeps.sh"
        self.url = f"http://127.0.0.1:{free_port()}"
        host_port = self.url.removeprefix("http://")
        conf = root / "influxdb.conf"
        conf.write_text(f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "{host_port}"
  log-enabled = false
[continuous_queries]
  enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[subscriber]
  enabled = false
""")
        self.log = root / "influxd.log"
        self.proc = subprocess.Popen([binary, "run", "-config", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        assert wait_for(self._ready, 30), self.log.read_text()
        self.query("CREATE DATABASE l5d")

    def _ready(self) -> bool:
        try:
            return requests.get(self.url + "/ping", timeout=2).status_code == 204
        except requests.RequestException:
            return False

    def write(self, body: bytes) -> requests.Response:
        return requests.post(self.url + "/write", params={"db": "l5d"}, data=body,
                             timeout=TIMEOUT_S)

    def query(self, q: str) -> list[dict]:
        rsp = requests.post(self.url + "/query", data={"db": "l5d", "q": q}, timeout=TIMEOUT_S)
        assert rsp.status_code == 200, rsp.text
        [result] = rsp.json()["results"]
        assert "error" not in result, result
        return result.get("series", [])

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture
def influxd(tmp_path):
    server = Influxd(tmp_path)
    yield server
    server.stop()


def row(series: list[dict]) -> dict:
    """The one row of a one-series answer, by column."""
    [s] = series
    [values] = s["values"]
    return dict(zip(s["columns"], values))


def test_a_real_influxdb_ingests_every_line_and_answers_the_totals(influxd: Influxd) -> None:
    with Scripted() as b, l5d_for(b.port) as l5d:
        assert send_mix(l5d) == {200: 6, 500: 2, 502: 1}
        rsp = requests.get(f"http://127.0.0.1:{l5d.admin_port}/admin/metrics/influxdb",
                           timeout=TIMEOUT_S)
        assert rsp.status_code == 200
        assert rsp.headers["content-type"] == "text/plain; charset=utf-8"
        body = rsp.content
        admin_host = f"127.0.0.1:{l5d.admin_port}"

    lines = body.decode("utf-8").splitlines()
    assert len(lines) > 10 and "" not in lines
    written = influxd.write(body)
    assert written.status_code == 204, written.text  # every point accepted (else 400)
    # each line is one series: all of them are there
    series = influxd.query("SHOW SERIES")
    assert len(series[0]["values"]) == len(lines)

    svc = row(influxd.query(
        "SELECT requests, success, failures, request_latency_ms_count, host FROM "
        "\"rt:service\" WHERE rt = 'http' AND service = 'svc/x'"))
    assert (svc["requests"], svc["success"], svc["failures"]) == (8, 6, 2)
    assert svc["request_latency_ms_count"] == 8
    assert svc["host"] == admin_host
    retries = row(influxd.query(
        "SELECT total FROM \"rt:service:retries\" WHERE service = 'svc/x'"))
    assert retries["total"] == 1
    client = row(influxd.query(
        f"SELECT \"200\", \"500\", \"5XX\" FROM \"rt:client:status\" "
        f"WHERE client = '$/inet/127.0.0.1/{b.port}'"))
    assert (client["200"], client["500"], client["5XX"]) == (6, 3, 3)
    server = row(influxd.query(
        "SELECT \"2XX\", \"5XX\", \"502\" FROM \"rt:server:status\" WHERE rt = 'http'"))
    assert (server["2XX"], server["5XX"], server["502"]) == (6, 3, 1)
    # every field a float (Linkerd's choice: no integer suffix, so no type conflicts)
    types = {t for s in influxd.query("SHOW FIELD KEYS") for _, t in s["values"]}
    assert types == {"float"}
