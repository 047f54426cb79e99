"""An expired or evicted service or client takes its metrics with it, and nothing else's.

Driven through a real router, server connection and pooled upstream connections in memory:
requests to hosts ``a`` and ``b`` (each its own service and client); with room for one
service, or one client, the second evicts the first.
"""

from __future__ import annotations

import random

from twisted.internet.testing import MemoryReactorClock, StringTransport

from dtab import Dtab, Interpreter, Path
from l5d.http.limits import ServerLimits
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory
from l5d.router.identifier import header_token
from l5d.telemetry.flat import flat_metrics
from l5d.telemetry.stats import Stats

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
DTAB = "/svc/a => /$/inet/127.0.0.1/7001; /svc/b => /$/inet/127.0.0.1/7002;"


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


class Harness:
    def __init__(self, **limits) -> None:
        self.reactor = MemoryReactorClock()
        self.stats = Stats()
        dtab = Dtab.read(DTAB)
        self.router = HttpRouter(label="http", reactor=self.reactor, now=self.reactor.seconds,
                                 rng=random.Random(1), dtab=lambda: dtab,
                                 interpreter=Interpreter(),
                                 identifier=header_token(Path.read("/svc")), stats=self.stats,
                                 **limits)
        factory = HttpServerFactory(self.router.exchange_factory(ServerParams("127.0.0.1", 1)),
                                    self.reactor, ServerLimits())
        self.down, self.down_t = factory.buildProtocol(None), _Transport()
        self.down.makeConnection(self.down_t)

    def get(self, host: str) -> None:
        dialled = len(self.reactor.tcpClients)
        self.down.dataReceived(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
        assert len(self.reactor.tcpClients) == dialled + 1  # each request here dials anew
        up = self.reactor.tcpClients[-1][2].buildProtocol(None)
        up.makeConnection(_Transport())
        up.dataReceived(RESPONSE)
        assert self.down_t.value().endswith(b"ok")
        self.down_t.clear()

    def names(self) -> set[str]:
        return set(flat_metrics(self.stats, ()))


A_SVC, B_SVC = "rt/http/service/svc/a/", "rt/http/service/svc/b/"
A_CLIENT, B_CLIENT = "rt/http/client/$/inet/127.0.0.1/7001/", "rt/http/client/$/inet/127.0.0.1/7002/"


def under(names: set[str], prefix: str) -> set[str]:
    return {n for n in names if n.startswith(prefix)}


def test_an_evicted_service_takes_its_metrics_and_its_clients_view_of_it() -> None:
    h = Harness(binding_cache_size=1)  # room for one service
    h.get("a")
    before = h.names()
    assert under(before, A_SVC) and under(before, A_CLIENT + "service/svc/a/")
    h.get("b")
    after = h.names()
    assert not under(after, A_SVC)
    assert not under(after, A_CLIENT + "service/")
    assert under(after, A_CLIENT)  # the client stays (it is not the service)
    assert under(after, B_SVC) and under(after, B_CLIENT + "service/svc/b/")
    assert after >= under(before, "rt/http/server/")


def test_an_evicted_client_takes_its_metrics_and_its_views() -> None:
    h = Harness(max_clients=1)  # room for one client
    h.get("a")
    h.get("b")
    after = h.names()
    assert not under(after, A_CLIENT)
    assert under(after, A_SVC)  # the service stays (it is not the client)
    assert under(after, B_CLIENT + "service/svc/b/") and under(after, B_SVC)
