"""Configs shaped like linkerd-examples' policy configs pass ``l5d --validate`` (parse + build).

Each YAML below is written for this test with the same keys as a public Linkerd
config (linkerd-examples ``failure-accrual/linkerd.yml``, ``k8s-daemonset/k8s/
linkerd-latency.yml`` and ``k8s-daemonset/k8s/linkerd.yml``), ``telemetry`` sections
(``io.l5d.prometheus``, ``io.l5d.recentRequests``) included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path as FsPath

import pytest

from dtab import Path
from l5d.config import (
    Backoff,
    ConsecutiveFailuresConfig,
    NoneFailureAccrualConfig,
    ResponseClassifierConfig,
    SuccessRateConfig,
    parse_config,
)

ACCRUAL = """\
admin: {ip: 127.0.0.1, port: 9990}
namers:
- kind: io.l5d.fs
  rootDir: examples/disco
telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.recentRequests
  sampleRate: 0.25
routers:
- protocol: http
  label: spread
  dtab: /svc => /$/inet/127.1/5141 & /$/inet/127.1/5142 & /$/inet/127.1/5143;
  client:
    failureAccrual: {kind: none}
  servers: [{port: 5140}]
  service:
    responseClassifier: {kind: io.l5d.http.nonRetryable5XX}
- protocol: http
  label: disabled
  dtab: /svc => /#/io.l5d.fs/a;
  client:
    failureAccrual:
      kind: none
  servers: [{port: 5141}]
  service:
    responseClassifier: {kind: io.l5d.http.nonRetryable5XX}
- protocol: http
  label: consecutive
  dtab: /svc => /#/io.l5d.fs/b;
  client:
    failureAccrual:
      kind: io.l5d.consecutiveFailures
      failures: 5
      backoff: {kind: constant, ms: 10000}
  servers: [{port: 5142}]
  service:
    responseClassifier: {kind: io.l5d.http.nonRetryable5XX}
- protocol: http
  label: rate
  dtab: /svc => /#/io.l5d.fs/c;
  client:
    failureAccrual:
      kind: io.l5d.successRate
      successRate: 0.9
      requests: 20
      backoff:
        kind: constant
        ms: 10000
  servers: [{port: 5143}]
  service:
    responseClassifier:
      kind: io.l5d.http.nonRetryable5XX
usage: {orgId: l5d-tests}
"""

DAEMONSET_HEAD = """\
admin: {ip: 0.0.0.0, port: 9990}
namers:
- kind: io.l5d.k8s
  host: localhost
  port: 8001
telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.recentRequests
  sampleRate: 0.25
routers:
- protocol: http
  label: out
  dtab: |
    /srv => /#/io.l5d.k8s/default/http;
    /svc => /srv;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.daemonset
      namespace: default
      port: incoming
      service: l5d
  servers: [{port: 4140, ip: 0.0.0.0}]
"""

DAEMONSET_TAIL = """\
- protocol: http
  label: in
  dtab: /svc => /#/io.l5d.k8s/default/http;
  interpreter:
    kind: default
    transformers:
    - kind: io.l5d.k8s.localnode
  servers: [{port: 4141, ip: 0.0.0.0}]
"""

LATENCY = DAEMONSET_HEAD + """\
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/hello
      totalTimeoutMs: 600
    - prefix: /svc/world
      totalTimeoutMs: 100
""" + DAEMONSET_TAIL

CLASSIFIER = DAEMONSET_HEAD + """\
  service:
    responseClassifier:
      kind: io.l5d.http.retryableRead5XX
""" + DAEMONSET_TAIL

CONFIGS = {"failure-accrual": ACCRUAL, "daemonset-latency": LATENCY,
           "daemonset-classifier": CLASSIFIER}


def l5d_script() -> str:
    script = FsPath(sys.executable).parent / "l5d"
    assert script.exists(), "make test installs the package, console script included"
    return str(script)


class ValidateTests:
    """``l5d --validate`` (the installed console script) accepts each config."""

    @pytest.mark.parametrize("name", sorted(CONFIGS))
    def test_validates(self, name: str, tmp_path: FsPath) -> None:
        """Exit 0 and "CONFIG: ok", with the pod's environment the transformers need."""
        path = tmp_path / f"{name}.yaml"
        path.write_text(CONFIGS[name], encoding="utf-8")
        env = dict(os.environ, POD_IP="10.0.0.5", NODE_NAME="node-a")
        result = subprocess.run([l5d_script(), "--validate", str(path)], capture_output=True,
                                text=True, timeout=30, env=env)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{path}: ok\n", "")


class ResolvedTests:
    """What the data path will get from these configs."""

    def test_failure_accrual_per_router(self) -> None:
        """none, none, 5 consecutive (10 s constant), success rate 0.9 over 20 (10 s)."""
        routers = parse_config(ACCRUAL).routers
        got = [r.client.params_for(Path.read("/$/inet/127.1/5141")).failure_accrual
               for r in routers]
        assert got == [NoneFailureAccrualConfig(), NoneFailureAccrualConfig(),
                       ConsecutiveFailuresConfig(5, Backoff.constant(10.0)),
                       SuccessRateConfig(0.9, 20, Backoff.constant(10.0))]
        assert {r.service.params_for(Path.read("/svc/x")).response_classifier
                for r in routers} == {ResponseClassifierConfig("io.l5d.http.nonRetryable5XX")}

    def test_latency_timeouts(self) -> None:
        """The outgoing router's per-service total timeouts; the incoming router has none."""
        out, incoming = parse_config(LATENCY).routers
        assert [out.service.params_for(Path.read(n)).total_timeout_s
                for n in ("/svc/hello", "/svc/world", "/svc/other")] == [0.6, 0.1, None]
        assert incoming.service.params_for(Path.read("/svc/hello")).total_timeout_s is None

    def test_telemetry(self) -> None:
        """Prometheus and a quarter of the requests kept for /requests, as Linkerd's."""
        for config in CONFIGS.values():
            assert [t.to_json() for t in parse_config(config).telemetry] == [
                {"kind": "io.l5d.prometheus", "path": "/admin/metrics/prometheus",
                 "prefix": ""},
                {"kind": "io.l5d.recentRequests", "sampleRate": 0.25, "capacity": 10}]

    def test_classifier(self) -> None:
        """retryableRead5XX on the outgoing router, the default on the incoming one."""
        out, incoming = parse_config(CLASSIFIER).routers
        name = Path.read("/svc/hello")
        assert out.service.params_for(name).response_classifier.kind == \
            "io.l5d.http.retryableRead5XX"
        assert incoming.service.params_for(name).response_classifier.kind == \
            "io.l5d.http.nonRetryable5XX"
