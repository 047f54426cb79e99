"""admin_ui.dashboard_model: the registry -> the dashboard document (pure, table-driven)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from admin_ui.dashboard_model import CLIENT_FIELDS, SERVICE_FIELDS, RouterInfo, dashboard
from l5d.telemetry.stats import Stats

CLIENT = "$/inet/127.0.0.1/8080"


def registry() -> Stats:
    """Two routers; rt/a has a server, a client (with a per-service view) and a service."""
    s = Stats()
    for name, value in [
        (("rt", "a", "server", "127.0.0.1/4140", "requests"), 10),
        (("rt", "a", "server", "127.0.0.1/4140", "success"), 8),
        (("rt", "a", "server", "127.0.0.1/4140", "failures"), 2),
        (("rt", "a", "client", CLIENT, "requests"), 9),
        (("rt", "a", "client", CLIENT, "success"), 8),
        (("rt", "a", "client", CLIENT, "retries", "requeues"), 1),
        (("rt", "a", "client", CLIENT, "service", "svc/x", "requests"), 99),
        (("rt", "a", "service", "svc/x", "requests"), 10),
        (("rt", "a", "service", "svc/x", "success"), 8),
        (("rt", "a", "service", "svc/x", "retries", "total"), 3),
        (("rt", "a", "service", "svc/x", "retries", "budget_exhausted"), 1),
        (("rt", "b", "server", "127.0.0.1/4141", "requests"), 5),
    ]:
        s.counter(*name).incr(value)
    s.gauge("rt", "a", "server", "127.0.0.1/4140", "connections").set(3)
    s.gauge("rt", "a", "client", CLIENT, "connections").set(2)
    s.gauge("rt", "a", "client", CLIENT, "loadbalancer", "available").set(1)
    s.gauge("rt", "a", "client", CLIENT, "loadbalancer", "size").set(2)
    s.statuses("rt", "a", "server", "127.0.0.1/4140")[200] = 8
    lat = s.stat("rt", "a", "server", "127.0.0.1/4140", "request_latency_ms")
    for v in (1, 2, 3, 4):
        lat.add(v)
    s.snapshot()
    return s


def doc(stats: Stats) -> dict:
    return dashboard(stats.counters(), stats.gauges(), ((n, h.last) for n, h in stats.stats()),
                     [RouterInfo("a", 0.2), RouterInfo("b", 0.5)], t=12.5)


def row(fields, values) -> dict:
    return dict(zip(fields, values))


class DashboardModelTests(SynchronousTestCase):
    """What each router, client and service row carries."""

    def test_router_totals(self) -> None:
        """A router's totals come from its servers; retries are the services' retries plus
        the clients' requeues; its latency is its servers'."""
        a = doc(registry())["routers"][0]
        self.assertEqual(
            {"label": "a", "percent_can_retry": 0.2, "requests": 10, "success": 8,
             "failures": 2, "pending": 0, "connections": 3, "client_connections": 2,
             "retries": 4, "budget_exhausted": 1, "p50": 2.0, "p95": 4.0, "p99": 4.0},
            {k: v for k, v in a.items() if k not in ("clients", "services")})

    def test_client_row(self) -> None:
        """A client row names its columns in client_fields; its per-service views and
        status tables are left out; a histogram with an empty window reads None."""
        d = doc(registry())
        self.assertEqual(list(CLIENT_FIELDS), d["client_fields"])
        [client] = d["routers"][0]["clients"]
        self.assertEqual(
            {"id": CLIENT, "requests": 9, "success": 8, "failures": 0, "connections": 2,
             "pending": 0, "available": 1, "size": 2, "requeues": 1, "p50": None,
             "p95": None, "p99": None}, row(CLIENT_FIELDS, client))

    def test_service_row(self) -> None:
        """A service row: its totals, retries and budget exhaustions."""
        [service] = doc(registry())["routers"][0]["services"]
        self.assertEqual(
            {"id": "svc/x", "requests": 10, "success": 8, "failures": 0, "pending": 0,
             "retries": 3, "budget_exhausted": 1, "p50": None, "p95": None, "p99": None},
            row(SERVICE_FIELDS, service))

    def test_routers_in_order_and_apart(self) -> None:
        """Each router reads only its own metrics, in the order given; t is passed through."""
        d = doc(registry())
        self.assertEqual(12.5, d["t"])
        b = d["routers"][1]
        self.assertEqual(("b", 5, [], [], 0.5),
                         (b["label"], b["requests"], b["clients"], b["services"],
                          b["percent_can_retry"]))

    def test_empty_registry(self) -> None:
        """No metrics yet: zeros, no rows, latencies None."""
        a = doc(Stats())["routers"][0]
        self.assertEqual((0, [], [], None), (a["requests"], a["clients"], a["services"],
                                             a["p99"]))

    def test_slowest_server(self) -> None:
        """With two servers, each percentile is the larger of the two."""
        s = Stats()
        for server, values in (("s1", (1, 1, 1, 100)), ("s2", (50, 50, 50, 50))):
            h = s.stat("rt", "a", "server", server, "request_latency_ms")
            for v in values:
                h.add(v)
        s.snapshot()
        a = doc(s)["routers"][0]
        self.assertEqual((50.0, 100.0, 100.0), (a["p50"], a["p95"], a["p99"]))
