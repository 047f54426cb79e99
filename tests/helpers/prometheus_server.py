"""A real Prometheus server (Debian's ``prometheus`` package, installed by ``make test``)
that scrapes an l5d's admin server every second, for integration tests.

The ``prometheus_server`` fixture (registered in ``tests/integration/conftest.py``) gives
``start(admin_port) -> url``; :func:`query` runs a PromQL query against it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse

import pytest
import requests

from tests.helpers.l5d_process import wait_for
from tests.helpers.processes import terminate

TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus_server(tmp_path):
    """Start a real Prometheus (scrape every second) once the target is known."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus (Debian package) is installed by make test"
    procs: list[subprocess.Popen] = []

    def start(admin_port: int) -> str:
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "l5d", "metrics_path": "/admin/metrics/prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{admin_port}"]}]}]}))
        proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: ready(url), 30), (tmp_path / "prometheus.log").read_text()
        return url

    yield start
    for proc in procs:
        terminate(proc)


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def query(url: str, promql: str) -> list[dict]:
    rsp = requests.get(url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
                       timeout=TIMEOUT_S).json()
    assert rsp["status"] == "success", rsp
    return rsp["data"]["result"]
