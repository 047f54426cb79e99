"""Every examples/*.yaml parses and builds (Linkerd's ExamplesTest pattern), and
examples/prometheus-alerts.yml passes Prometheus' ``promtool check rules`` and ``promtool
test rules``.

A file whose first line is ``# notest`` is skipped (for deliberately partial
snippets). The fs namer's example directory is checked too: each file there is
``host port`` per line.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactor

from l5d.config import FsNamerConfig, parse_config
from l5d.linker import Env, build

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.yaml")
    if not p.read_text(encoding="utf-8").startswith("# notest")
)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


class ExamplesTests:
    """The shipped examples stay valid."""

    def test_there_are_examples(self) -> None:
        """Guard against a glob that finds nothing."""
        assert any(p.name == "local.yaml" for p in EXAMPLES)

    @pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
    def test_parses_and_builds(self, path: Path) -> None:
        """parse_config + build (every cross-check), no sockets opened."""
        config = parse_config(path.read_text(encoding="utf-8"), _rel(path))
        reactor = MemoryReactor()
        build(config, Env(), reactor)
        assert reactor.tcpServers == []

    @pytest.mark.parametrize("path", EXAMPLES, ids=_rel)
    def test_fs_namer_directories_exist(self, path: Path) -> None:
        """Every io.l5d.fs rootDir (relative to the repository root) is a directory."""
        config = parse_config(path.read_text(encoding="utf-8"), _rel(path))
        for namer in config.namers:
            if isinstance(namer, FsNamerConfig):
                assert (ROOT / namer.root_dir).is_dir(), namer.root_dir

    def test_local_example_routes_to_the_fs_namer(self) -> None:
        """local.yaml: admin 127.0.0.1:9990, router http on 4140, /svc => /#/io.l5d.fs."""
        config = parse_config((ROOT / "examples/local.yaml").read_text(encoding="utf-8"))
        assert (config.admin.ip, config.admin.port) == ("127.0.0.1", 9990)
        [router] = config.routers
        assert router.label == "http" and router.dtab.show() == "/svc=>/#/io.l5d.fs"
        assert [(s.ip, s.port) for s in router.servers] == [("127.0.0.1", 4140)]
        assert config.namers[0].dtab_prefix.show() == "/#/io.l5d.fs"

    @pytest.mark.parametrize(
        "path", sorted((ROOT / "examples/disco").iterdir()), ids=_rel
    )
    def test_disco_files_are_host_port_lines(self, path: Path) -> None:
        """Each non-comment line of a disco file is ``<ip> <port>``."""
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith("#")]
        assert lines
        for line in lines:
            host, port = line.split()[:2]
            ipaddress.ip_address(host)
            assert 0 < int(port) < 65536


# -- examples/prometheus-alerts.yml: Prometheus' own checker and rule unit tests ----------

ALERTS = ROOT / "examples/prometheus-alerts.yml"
#: labels of the series as a Prometheus scraping one l5d would store them
L5D = 'job="l5d",instance="10.0.0.1:9990",rt="outgoing"'
HELLO = f'{L5D},service="svc/hello"'
WORLD = f'{L5D},service="svc/world"'
CLIENT_A = f'{L5D},client="#/io.l5d.k8s/default/http/a"'
CLIENT_B = f'{L5D},client="#/io.l5d.k8s/default/http/b"'


def _promtool() -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by scripts/sysdeps.sh"
    return promtool


def _alert(labels: dict[str, str], severity: str, summary: str,
           description: str) -> dict[str, object]:
    return {"exp_labels": {**labels, "severity": severity},
            "exp_annotations": {"summary": summary, "description": description}}


def _rule_tests() -> dict[str, object]:
    """A promtool unit test: one minute per sample, twenty minutes of series in which
    svc/hello, client a and client b are in trouble and svc/world is healthy."""
    series = [
        # svc/hello: 10 requests/s, 90 % succeed, p99 800 ms, its retry budget refuses
        (f"rt:service:requests{{{HELLO}}}", "0+600x20"),
        (f"rt:service:success{{{HELLO}}}", "0+540x20"),
        (f'rt:service:request_latency_ms{{{HELLO},quantile="0.99"}}', "800x20"),
        (f"rt:service:retries:budget_exhausted{{{HELLO}}}", "0+6x20"),
        # svc/world: all well
        (f"rt:service:requests{{{WORLD}}}", "0+600x20"),
        (f"rt:service:success{{{WORLD}}}", "0+600x20"),
        (f'rt:service:request_latency_ms{{{WORLD},quantile="0.99"}}', "20x20"),
        (f"rt:service:retries:budget_exhausted{{{WORLD}}}", "0x20"),
        # client a: 1 of 4 endpoints available, connections failing, requeues refused
        (f"rt:client:loadbalancer:available{{{CLIENT_A}}}", "1x20"),
        (f"rt:client:loadbalancer:size{{{CLIENT_A}}}", "4x20"),
        (f'rt:client:failures{{{CLIENT_A},exception="connect"}}', "0+30x20"),
        (f"rt:client:failures{{{CLIENT_A}}}", "0+30x20"),
        (f"rt:client:retries:budget_exhausted{{{CLIENT_A}}}", "0+12x20"),
        # client b: no endpoint left, nothing else
        (f"rt:client:loadbalancer:available{{{CLIENT_B}}}", "0x20"),
        (f"rt:client:loadbalancer:size{{{CLIENT_B}}}", "2x20"),
        (f'rt:client:failures{{{CLIENT_B},exception="connect"}}', "0x20"),
        (f"rt:client:retries:budget_exhausted{{{CLIENT_B}}}", "0x20"),
    ]
    hello = {"rt": "outgoing", "service": "svc/hello"}
    base = {"job": "l5d", "instance": "10.0.0.1:9990", "rt": "outgoing"}
    a = {**base, "client": "#/io.l5d.k8s/default/http/a"}
    b = {**base, "client": "#/io.l5d.k8s/default/http/b"}
    ca, cb = a["client"], b["client"]
    at = "10.0.0.1:9990"
    expected = {
        "L5dServiceSuccessRateLow": [_alert(
            hello, "critical", "svc/hello (router outgoing): success rate 90%",
            "Under 95% of the requests to svc/hello succeeded (response classifier's "
            "verdict), over all l5d instances, for 5 minutes.")],
        "L5dServiceLatencyHigh": [_alert(
            hello, "warning", "svc/hello (router outgoing): p99 latency 800 ms",
            "The 99th percentile of request latency to svc/hello (worst l5d instance, last "
            "snapshot window) has been above 500 ms for 5 minutes.")],
        "L5dEndpointsUnavailable": [
            _alert(a, "warning", f"{ca} on {at}: 25% of its endpoints available",
                   f"Fewer than half of the endpoints of {ca} (router outgoing) are available "
                   "to the load balancer (failure accrual or connection failures marked the "
                   "others)."),
            _alert(b, "warning", f"{cb} on {at}: 0% of its endpoints available",
                   f"Fewer than half of the endpoints of {cb} (router outgoing) are available "
                   "to the load balancer (failure accrual or connection failures marked the "
                   "others)."),
        ],
        "L5dNoEndpointsAvailable": [_alert(
            b, "critical", f"{cb} on {at}: no endpoint available",
            f"Requests to {cb} (router outgoing) cannot be sent anywhere: it has no available "
            "endpoint.")],
        "L5dRetryBudgetExhausted": [_alert(
            hello, "warning", "svc/hello (router outgoing): retry budget exhausted 100m times/s",
            "Retries of svc/hello are being refused by its retry budget: failures reach the "
            "clients un-retried.")],
        "L5dRequeueBudgetExhausted": [_alert(
            a, "warning", f"{ca} on {at}: requeue budget exhausted 200m times/s",
            f"Connection failures to {ca} (router outgoing) are no longer requeued: its "
            "requeue budget is spent.")],
        "L5dConnectFailures": [_alert(
            {**a, "exception": "connect"}, "warning", f"{ca} on {at}: 500m connection failures/s",
            f"l5d on {at} keeps failing to connect to endpoints of {ca} (router outgoing).")],
    }
    # at 10 minutes every alert has fired; at 30 seconds (before any `for`) none has
    alerts = [{"eval_time": "10m", "alertname": name, "exp_alerts": exp}
              for name, exp in expected.items()]
    alerts += [{"eval_time": "30s", "alertname": name, "exp_alerts": []} for name in expected]
    quiet = [(name.replace(HELLO, WORLD).replace(CLIENT_A, CLIENT_B), values)
             for name, values in series if WORLD in name or CLIENT_B in name]
    return {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m",
             "input_series": [{"series": s, "values": v} for s, v in series],
             "alert_rule_test": alerts},
            # a healthy l5d (svc/world only, client b given its endpoints back): silence
            {"interval": "1m",
             "input_series": [{"series": s, "values": v} for s, v in quiet
                              if "loadbalancer" not in s]
             + [{"series": f"rt:client:loadbalancer:available{{{CLIENT_B}}}", "values": "2x20"},
                {"series": f"rt:client:loadbalancer:size{{{CLIENT_B}}}", "values": "2x20"}],
             "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": []}
                                 for name in expected]},
        ],
    }


class AlertRulesTests:
    """examples/prometheus-alerts.yml: valid rules, each alert fires when it should, and
    docs/telemetry.md shows the same text."""

    def test_promtool_check_rules(self) -> None:
        """Prometheus' own checker accepts the file: 7 rules."""
        out = subprocess.run([_promtool(), "check", "rules", str(ALERTS)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "SUCCESS: 7 rules found" in out.stdout

    def test_promtool_test_rules_fires_each_alert(self, tmp_path: Path) -> None:
        """Series with a failing service, a slow one, missing endpoints, refused retries
        and requeues and connection failures fire each alert, with its labels and text,
        after its ``for``; healthy series fire none."""
        cases = tmp_path / "alerts_test.yml"
        cases.write_text(json.dumps(_rule_tests(), indent=1), encoding="utf-8")
        out = subprocess.run([_promtool(), "test", "rules", str(cases)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "SUCCESS" in out.stdout

    def test_docs_scrape_config_loads_the_rules(self, tmp_path: Path) -> None:
        """docs/telemetry.md's scrape config, next to the rules file, passes ``promtool
        check config`` with the 7 rules loaded."""
        doc = (ROOT / "docs/telemetry.md").read_text(encoding="utf-8")
        section = doc.split("\nA scrape config, with the alerting rules", 1)[1]
        block = section.split("```yaml\n", 1)[1].split("```\n", 1)[0]
        assert "prometheus-alerts.yml" in block
        (tmp_path / "prometheus.yml").write_text(block, encoding="utf-8")
        shutil.copy(ALERTS, tmp_path / "prometheus-alerts.yml")
        out = subprocess.run([_promtool(), "check", "config", "prometheus.yml"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "SUCCESS: 7 rules found" in out.stdout

    def test_docs_show_the_same_rules(self) -> None:
        """The ``yaml`` block of docs/telemetry.md's "Alerts" section is this file."""
        doc = (ROOT / "docs/telemetry.md").read_text(encoding="utf-8")
        section = doc.split("\n## Alerts\n", 1)[1]
        block = section.split("```yaml\n", 1)[1].split("```\n", 1)[0]
        assert block == ALERTS.read_text(encoding="utf-8")
