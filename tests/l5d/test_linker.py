"""l5d.linker: build (checks, no sockets) and start/stop over a MemoryReactor."""

from __future__ import annotations

import pytest
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from l5d.config import (
    AdminConfig,
    ConflictingLabels,
    ConflictingPorts,
    LinkerConfig,
    NoRoutersSpecified,
    RouterConfig,
    ServerConfig,
    parse_config,
)
from l5d.linker import Env, Linker, build

CONFIG = parse_config(
    "admin: {ip: 127.0.0.1, port: 9991}\nrouters: [{protocol: http, servers: [{}]}]\n"
)


class FailingReactor(MemoryReactorClock):
    """A MemoryReactor whose listenTCP fails like a port already in use."""

    def listenTCP(self, port, factory, backlog=50, interface=""):
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))


class EnvTests:
    """Env is plain optional data."""

    def test_defaults_are_unset(self) -> None:
        """Every field defaults to None."""
        assert Env() == Env(pod_ip=None, node_name=None, namespace=None)


class BuildTests:
    """build() runs the whole-config checks and opens nothing."""

    def test_build_opens_no_sockets(self) -> None:
        """Building leaves the reactor untouched."""
        reactor = MemoryReactor()
        linker = build(CONFIG, Env(pod_ip="10.0.0.7"), reactor)
        assert isinstance(linker, Linker) and reactor.tcpServers == []
        assert linker.config is CONFIG and linker.env.pod_ip == "10.0.0.7"

    def test_conflicting_ports_in_code(self) -> None:
        """A config made in code gets the same cross-checks (no line to report)."""
        config = LinkerConfig(
            admin=AdminConfig(port=4140),
            routers=(RouterConfig(protocol="http", servers=(ServerConfig(),)),),
        )
        with pytest.raises(ConflictingPorts) as info:
            build(config, Env(), MemoryReactor())
        assert str(info.value) == (
            "<config>: routers[0].servers[0].port: server conflict on 127.0.0.1:4140 "
            "(also used by admin)"
        )

    def test_conflicting_labels_in_code(self) -> None:
        """Two routers labelled http are rejected."""
        router = RouterConfig(protocol="http", servers=(ServerConfig(port=0),))
        with pytest.raises(ConflictingLabels):
            build(LinkerConfig(routers=(router, router)), Env(), MemoryReactor())

    def test_no_routers_in_code(self) -> None:
        """An empty router list is rejected."""
        with pytest.raises(NoRoutersSpecified):
            build(LinkerConfig(routers=()), Env(), MemoryReactor())

    def test_port_zero_never_conflicts(self) -> None:
        """Two servers on port 0 are fine: the OS picks two ports."""
        router = RouterConfig(
            protocol="http", servers=(ServerConfig(port=0), ServerConfig(port=0))
        )
        build(LinkerConfig(admin=AdminConfig(port=0), routers=(router,)), Env(), MemoryReactor())


class StartStopTests(SynchronousTestCase):
    """start() listens on the admin address; stop() closes it."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.linker = build(CONFIG, Env(), self.reactor)
        self.factory = Factory()

    def test_start_listens_on_the_router_servers_and_the_admin_address(self) -> None:
        """The router's server (default 127.0.0.1:4140) and the admin, with the given factory."""
        listeners = self.successResultOf(self.linker.start(self.factory))
        [router, admin] = self.reactor.tcpServers
        self.assertEqual((4140, "127.0.0.1"), (router[0], router[3]))
        self.assertEqual((9991, self.factory, 50, "127.0.0.1"), admin)
        self.assertEqual(["http", "admin"], [lst.name for lst in listeners])
        self.assertEqual(tuple(listeners), self.linker.listeners)

    def test_listener_url_uses_the_bound_port(self) -> None:
        """The URL shows the address the port reports (the real one with port 0)."""
        [_, listener] = self.successResultOf(self.linker.start(self.factory))
        self.assertEqual("http://0.0.0.0:9991/", listener.url)

    def test_start_twice_is_a_mistake(self) -> None:
        """A second start() raises RuntimeError."""
        self.linker.start(self.factory)
        with pytest.raises(RuntimeError):
            self.linker.start(self.factory)

    def test_stop_closes_the_listeners(self) -> None:
        """stop() fires once every port stopped and forgets them."""
        self.successResultOf(self.linker.start(self.factory))
        self.assertIsNone(self.successResultOf(self.linker.stop()))
        self.assertEqual((), self.linker.listeners)

    def test_stop_is_idempotent(self) -> None:
        """Stopping twice, or before starting, is fine."""
        self.successResultOf(self.linker.stop())
        self.successResultOf(self.linker.stop())

    def test_start_after_stop_is_a_mistake(self) -> None:
        """A stopped linker cannot be restarted."""
        self.linker.stop()
        with pytest.raises(RuntimeError):
            self.linker.start(self.factory)

    def test_listen_failure_fails_the_deferred(self) -> None:
        """A port in use fails start() with CannotListenError and leaves nothing open."""
        linker = build(CONFIG, Env(), FailingReactor())
        failure = self.failureResultOf(linker.start(self.factory), CannotListenError)
        self.assertIn("Address already in use", failure.getErrorMessage())
        self.assertEqual((), linker.listeners)
