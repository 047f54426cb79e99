"""Binding at request time, in process on the real reactor: pending namers, timeouts, changes.

The router is built directly (HttpRouter + HttpServerFactory on 127.0.0.1 port 0)
with a FakeNamer, so a test can hold a name Pending or change its answer while
requests are in flight. Clients are raw sockets driven from a thread.
"""

from __future__ import annotations

import random
import time

import pytest
import pytest_twisted
from twisted.internet import reactor, threads

from dtab import PENDING, Address, Dtab, Interpreter, Ok, Path
from l5d.http.fasttcp import listen_tcp
from l5d.http.router import HttpRouter, ServerParams
from l5d.http.server import HttpServerFactory, ServerLimits
from l5d.router.identifier import header_token
from l5d.telemetry.stats import Stats
from tests.helpers.backends import EchoBackend, raw_request
from tests.helpers.fake_namer import FakeNamer


def _start_router(namer: FakeNamer, binding_timeout_s: float):
    router = HttpRouter(
        label="http", reactor=reactor, now=time.monotonic, rng=random.Random(7),
        dtab=lambda: Dtab.read("/svc=>/#/fake"), interpreter=Interpreter([(namer.prefix, namer)]),
        identifier=header_token(Path.read("/svc")), stats=Stats(), binding_timeout_s=binding_timeout_s)
    factory = HttpServerFactory(router.exchange_factory(ServerParams("127.0.0.1", 0)), reactor,
                                ServerLimits())
    port = listen_tcp(reactor, 0, factory, interface="127.0.0.1")
    router.start()
    return router, port


def _get(port: int, host: str) -> bytes:
    return raw_request(port, b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode(),
                       timeout_s=10)


class BindingTimeoutTests:
    """A name that stays Pending gets Linkerd's binding-timeout 502; one that resolves in time is served."""

    @pytest_twisted.inlineCallbacks
    def test_pending_name_times_out_with_a_502(self):
        """Pending past bindingTimeoutMs: 502 'Exceeded 200.milliseconds binding timeout ...'."""
        namer = FakeNamer("/#/fake", rule=lambda n, p: PENDING)
        router, port = _start_router(namer, 0.2)
        try:
            out = yield threads.deferToThread(_get, port.getHost().port, "web")
        finally:
            router.stop()
            yield port.stopListening()
        assert out.startswith(b"HTTP/1.1 502 "), out
        assert b"Exceeded 200.milliseconds binding timeout while resolving name: /svc/web" in out

    @pytest_twisted.inlineCallbacks
    def test_name_that_resolves_while_waiting_is_served(self):
        """The request waits on a Pending name and goes through once the namer answers."""
        backend = EchoBackend()
        namer = FakeNamer("/#/fake", rule=lambda n, p: PENDING)
        router, port = _start_router(namer, 10.0)
        reactor.callLater(0.3, namer.answer, "/web",
                          Ok(namer.bound("/web", "/", Address("127.0.0.1", backend.port))))
        try:
            out = yield threads.deferToThread(_get, port.getHost().port, "web")
        finally:
            router.stop()
            yield port.stopListening()
            backend.close()
        assert out.startswith(b"HTTP/1.1 200 "), out
        assert len(backend.requests) == 1

    @pytest_twisted.inlineCallbacks
    def test_routing_follows_a_namer_change(self):
        """After the namer's answer changes, new requests go to the new address."""
        one, two = EchoBackend(), EchoBackend()
        namer = FakeNamer("/#/fake")
        namer.answer("/web", Ok(namer.bound("/web", "/", Address("127.0.0.1", one.port))))
        router, port = _start_router(namer, 1.0)
        try:
            first = yield threads.deferToThread(_get, port.getHost().port, "web")
            namer.answer("/web", Ok(namer.bound("/web", "/", Address("127.0.0.1", two.port))))
            second = yield threads.deferToThread(_get, port.getHost().port, "web")
        finally:
            router.stop()
            yield port.stopListening()
            one.close()
            two.close()
        assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
        assert (len(one.requests), len(two.requests)) == (1, 1)
