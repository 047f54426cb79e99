"""io.l5d.statsd from a real l5d to a real statsd daemon (etsy's, npm ``statsd``), and to a
port where nothing listens, seen by a passive capture (tcpdump on loopback, as the Sysdig
agent's kernel capture would see it).

Traffic is the known mix of test_metrics_export: 5 GETs answered 200, 2 POSTs answered
500, 1 GET answered 500 then, retried, 200, and 1 GET to an unroutable name (502).
"""

from __future__ import annotations

import random
import re

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from l5d.config.telemeters import StatsdConfig
from l5d.telemetry.stats import Stats
from l5d.telemetry.statsd import StatsdTelemeter
from l5d.telemetry.statsd_model import metric_name
from l5d.telemetry.telemeter import TelemetryContext
from tests.helpers.capture import LoopbackCapture
from tests.helpers.l5d_process import L5d, config_text, wait_for
from tests.helpers.resilience import Scripted
from tests.helpers.statsd_daemon import StatsdDaemon, free_port
from tests.integration.test_metrics_export import READ5XX, send_mix

SVC = ("rt", "http", "service", "svc/x")
#: the request counters compared one by one (every scope, every status seen)
REQUEST_LEAVES = re.compile(r"/(requests|success|failures|failures/.+|status/.+|retries/total)$")


def l5d_to(backend_port: int, statsd_port: int, **keys) -> L5d:
    telemeter = {"kind": "io.l5d.statsd", "experimental": True, "port": statsd_port,
                 "gaugeIntervalMs": 100, **keys}
    config = config_text(
        f"/svc/x=>/$/inet/127.0.0.1/{backend_port}",
        router=f"service: {{responseClassifier: {{kind: {READ5XX}}}}}") + (
        "telemetry:\n- " + "{" + ", ".join(f"{k}: {v}" for k, v in telemeter.items()) + "}\n")
    return L5d(config=config)


def counters_of(tree: dict, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
    """The counters of /admin/metrics.json?tree=1 by scope tuple."""
    out = {}
    for key, node in tree.items():
        if key == "counter":
            out[path] = node
        elif isinstance(node, dict):
            out.update(counters_of(node, path + (key,)))
    return out


def test_the_daemon_counts_what_l5d_served_and_holds_every_latency() -> None:
    """The mix three times, each flushed before the next: the daemon's counters (summed
    over its flushes) for the server, service and client equal l5d's own; its timers hold
    one latency per request, each within 0.4 % of what l5d recorded; it rejected no line."""
    requests = "linkerd.rt.http.service.svc.x.requests"
    with StatsdDaemon() as sd, Scripted() as b:
        with l5d_to(b.port, sd.port) as l5d:
            for rounds in (1, 2, 3):
                assert send_mix(l5d) == {200: 6, 500: 2, 502: 1}
                assert wait_for(lambda: sd.counter(requests) >= 8 * rounds, 30)
                assert sd.counter(requests) == 8 * rounds
            m = l5d.metrics()  # histograms: everything so far (the first read)
            tree = _get_tree(l5d)
            assert l5d.stop() == 0  # SIGTERM: the last flush goes out before l5d exits
        sd.wait_flushed()
        got = sd.counters()
        timers = {name: [v for f in sd.flushes() for v in f["timers"].get(name, [])]
                  for f in sd.flushes() for name in f["timers"]}
        budget = sd.gauge("linkerd.rt.http.service.svc.x.retries.budget")
        log = sd.log()
    ours = {name: v for name, v in counters_of(tree).items()
            if name[0] == "rt" and REQUEST_LEAVES.search("/" + "/".join(name))}
    assert len(ours) >= 25  # requests, success, failures, statuses at three scopes
    assert {name: got.get(metric_name(name, "linkerd"), 0) for name in ours} == ours
    assert got.get("statsd.bad_lines_seen", 0) == 0, log

    svc = "linkerd.rt.http.service.svc.x."
    client = f"linkerd.rt.http.client._.inet.127_0_0_1.{b.port}."
    [server] = {k[:-len("requests")] for k in got
                if k.startswith("linkerd.rt.http.server.") and k.endswith(".requests")}
    assert (got[svc + "requests"], got[svc + "success"], got[svc + "failures"]) == (24, 18, 6)
    assert got[svc + "retries.total"] == 3
    assert (got[client + "requests"], got[client + "status.500"]) == (27, 9)
    assert (got[server + "requests"], got[server + "status.502"]) == (27, 3)

    for timer, admin in ((svc, "rt/http/service/svc/x/"),
                         (client, f"rt/http/client/$/inet/127.0.0.1/{b.port}/")):
        values = timers[timer + "request_latency_ms"]
        assert len(values) == m[admin + "request_latency_ms.count"]
        assert sum(values) == pytest.approx(m[admin + "request_latency_ms.sum"], rel=0.004)
        assert max(values) == pytest.approx(m[admin + "request_latency_ms.max"], rel=0.004)
    assert len(timers[svc + "request_latency_ms"]) == 24
    assert len(timers[client + "request_latency_ms"]) == 27
    assert sorted(timers[svc + "retries.per_request"]) == [0] * 21 + [1] * 3
    assert budget is not None
    assert m["statsd/send_errors"] == 0


def test_sampled_timers_are_counted_by_the_daemon() -> None:
    """sampleRate 0.5: the daemon gets about half the latencies, each marked |@0.5, and
    counts each twice; the counters are exact all the same."""
    with StatsdDaemon() as sd, Scripted() as b:
        with l5d_to(b.port, sd.port, sampleRate=0.5) as l5d:
            for _ in range(5):
                send_mix(l5d)
            assert l5d.stop() == 0
        sd.wait_flushed()
        name = "linkerd.rt.http.service.svc.x.request_latency_ms"
        kept = len(sd.timer(name))
        assert 0 < kept < 40  # of 40
        assert sd.timer_count(name) == 2 * kept
        assert sd.counter("linkerd.rt.http.service.svc.x.requests") == 40


def test_a_port_where_nothing_listens_raises_nothing_and_a_capture_sees_it_all(
        tmp_path) -> None:
    """l5d sends to a UDP port with no listener (the kernel answers ICMP port unreachable):
    no send error, l5d serves on; tcpdump on lo sees every datagram, and what they carry
    adds up to what l5d served."""
    port = free_port()
    with LoopbackCapture(f"(udp and dst port {port}) or icmp", tmp_path) as cap, \
            Scripted() as b:
        with l5d_to(b.port, port) as l5d:
            for _ in range(3):
                assert send_mix(l5d) == {200: 6, 500: 2, 502: 1}
            assert wait_for(lambda: l5d.metrics()["statsd/sent_datagrams"] >= 5, 30)
            m = l5d.metrics()
            assert l5d.stop() == 0
            output = l5d.output()
        assert wait_for(lambda: _seen(cap, port) >= m["statsd/sent_datagrams"], 30)
    packets = cap.packets()
    datagrams = [p.payload for p in packets if p.proto == 17 and p.dport == port]
    assert m["statsd/send_errors"] == 0
    assert "Traceback" not in output and "io.l5d.statsd" not in output, output  # no warning
    assert any(p.proto == 1 and (p.icmp_type, p.icmp_code) == (3, 3) for p in packets), \
        "the kernel answered port unreachable"
    counters: dict[str, float] = {}
    timers: dict[str, int] = {}
    for datagram in datagrams:
        for line in datagram.decode("ascii").split("\n"):
            name, _, rest = line.partition(":")
            value, kind = rest.split("|")[:2]
            if kind == "c":
                counters[name] = counters.get(name, 0) + float(value)
            elif kind == "ms":
                timers[name] = timers.get(name, 0) + 1
    svc = "linkerd.rt.http.service.svc.x."
    assert (counters[svc + "requests"], counters[svc + "failures"]) == (24, 6)
    assert timers[svc + "request_latency_ms"] == 24


def _seen(cap: LoopbackCapture, port: int) -> int:
    try:
        return sum(1 for p in cap.packets() if p.proto == 17 and p.dport == port)
    except (FileNotFoundError, ValueError):
        return 0


@pytest_twisted.inlineCallbacks
def test_in_process_sends_to_nobody_without_errors():
    """On the real reactor, several flushes to a port where nothing listens: every
    datagram is handed to the kernel, no error comes back, stop() fires."""
    stats = Stats()
    cfg = StatsdConfig(port=free_port(), gauge_interval_s=0.01)
    t = StatsdTelemeter(cfg, TelemetryContext(reactor, stats, lambda: stats, reactor.seconds,
                                              reactor.seconds, random.Random(1)))
    t.start()
    try:
        for i in range(5):
            stats.counter("rt", "http", "service", "svc/x", "requests").incr()
            yield task.deferLater(reactor, 0.02, lambda: None)
    finally:
        yield t.stop()
    assert stats.counter("statsd", "send_errors").value == 0
    assert stats.counter("statsd", "sent_datagrams").value >= 3


def _get_tree(l5d: L5d) -> dict:
    import json
    import urllib.request
    with urllib.request.urlopen(
            f"http://127.0.0.1:{l5d.admin_port}/admin/metrics.json?tree=1", timeout=10) as rsp:
        return json.loads(rsp.read())
