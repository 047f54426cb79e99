"""An ordinary exchange keeps its instance dict under CPython's 30 shared keys.

Past 30 names an instance dict stops sharing its key table and every exchange costs
thousands of machine instructions more (see :class:`l5d.http.proxy.Exchange`). A routed
GET answered 200 through a real router, server connection and pooled upstream
connection (in memory) must store fewer than 30 names, with retries and EWMA on.
"""

from __future__ import annotations

import random

from twisted.internet.testing import MemoryReactorClock, StringTransport

from dtab import Dtab, Interpreter, Path
from l5d.config import parse_config
from l5d.http import proxy
from l5d.http.limits import ServerLimits
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory
from l5d.router.identifier import header_token
from l5d.telemetry.stats import Stats

REQUEST = b"GET http://127.0.0.1:24080/a HTTP/1.1\r\nHost: 127.0.0.1:24080\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n"
            b"hello\n")
POLICY = """\
routers:
- protocol: http
  client: {loadBalancer: {kind: ewma}}
  service: {responseClassifier: {kind: io.l5d.http.retryableRead5XX}}
  servers: [{}]
"""
#: CPython 3.11's SHARED_KEYS_MAX_SIZE
SHARED_KEYS = 30


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def test_an_ordinary_exchange_stores_fewer_than_30_names(monkeypatch) -> None:
    made: list = []
    init = proxy.Exchange.__init__

    def remember(self, *args) -> None:
        init(self, *args)
        made.append(self)

    monkeypatch.setattr(proxy.Exchange, "__init__", remember)
    reactor = MemoryReactorClock()
    rcfg = parse_config(POLICY, "policy.yaml").routers[0]
    dtab = Dtab.read("/svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;")
    router = HttpRouter(label="http", reactor=reactor, now=reactor.seconds,
                        rng=random.Random(1), dtab=lambda: dtab, interpreter=Interpreter(),
                        identifier=header_token(Path.read("/svc")), stats=Stats(),
                        client_config=rcfg.client, service_config=rcfg.service)
    factory = HttpServerFactory(router.exchange_factory(ServerParams("127.0.0.1", 4140)),
                                reactor, ServerLimits())
    down, down_t = factory.buildProtocol(None), _Transport()
    down.makeConnection(down_t)
    down.dataReceived(REQUEST)
    up, up_t = reactor.tcpClients[-1][2].buildProtocol(None), _Transport()
    up.makeConnection(up_t)
    up.dataReceived(RESPONSE)
    for _ in range(3):  # the pooled connection and the route memo, as most requests go
        down.dataReceived(REQUEST)
        up.dataReceived(RESPONSE)
    assert down_t.value().count(b"hello\n") == 4
    for ex in made:
        assert ex.status == 200
        assert len(vars(ex)) < SHARED_KEYS, sorted(vars(ex))
