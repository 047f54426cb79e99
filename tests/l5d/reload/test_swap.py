"""l5d.reload.swap: a reload applied to a started Linker over a MemoryReactorClock."""

from __future__ import annotations

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from dtab import Dtab
from l5d.config import parse_config
from l5d.linker import Env, build
from l5d.reload.swap import DRAIN_POLL_S, Refused, Reloaded
from tests.helpers.server_harness import MemoryTransport

BASE = """\
admin: {ip: 127.0.0.1, port: 9990}
routers:
- protocol: http
  dtab: /svc=>/$/inet/127.0.0.1/8080
  servers: [{ip: 127.0.0.1, port: 4140}]
"""
WITH_CLIENT = BASE + "  client: {requestAttemptTimeoutMs: 500}\n"


class _Reactor(MemoryReactorClock):
    """Port 4666 is taken."""

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port == 4666:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        return super().listenTCP(port, factory, backlog, interface)


class _Started(SynchronousTestCase):
    """A linker on ``CONFIG``, started over a MemoryReactorClock (stopped after)."""

    CONFIG = BASE

    def setUp(self) -> None:
        self.reactor = _Reactor()
        self.linker = build(parse_config(self.CONFIG), Env(), self.reactor,
                            now=self.reactor.seconds, wall=self.reactor.seconds)
        self.successResultOf(self.linker.start(Factory()))

    def tearDown(self) -> None:
        d = self.linker.stop()
        self.reactor.advance(10)
        self.successResultOf(d)


class SwapTests(_Started):

    def _ports(self) -> list[int]:
        return [port for port, *_ in self.reactor.tcpServers]

    def test_a_dtab_change_keeps_the_router_and_its_socket(self) -> None:
        router, factory = self.linker.routers[0], self.linker._servers[0].factory
        outcome = self.linker.reload(parse_config(BASE.replace("8080", "9090")))
        assert isinstance(outcome, Reloaded) and outcome.plan.changes == ("rt/http: dtab",)
        assert self.linker.routers[0] is router and self.linker._servers[0].factory is factory
        assert router.base_dtab() == Dtab.read("/svc=>/$/inet/127.0.0.1/9090")
        assert self._ports() == [4140, 9990]  # nothing bound again

    def test_a_client_change_rebuilds_the_router_on_the_same_socket(self) -> None:
        old_router, old_srv = self.linker.routers[0], self.linker._servers[0]
        conn = old_srv.factory.buildProtocol(None)
        conn.makeConnection(MemoryTransport())
        old_router.in_flight.add("an exchange")
        outcome = self.linker.reload(parse_config(WITH_CLIENT))
        assert isinstance(outcome, Reloaded) and outcome.plan.routers_rebuilt == ("http",)
        new_router, new_srv = self.linker.routers[0], self.linker._servers[0]
        assert new_router is not old_router
        assert new_router.client_config != old_router.client_config
        # the socket and the open connection stay; its next request goes to the new router
        assert new_srv.factory is old_srv.factory and new_srv.port is old_srv.port
        assert conn._new_exchange is new_srv.factory._new_exchange
        assert self._ports() == [4140, 9990]
        # the old router waits for its request in flight, then closes
        assert old_router._sweeper is not None and len(self.linker.retired) == 1
        self.reactor.advance(DRAIN_POLL_S)
        assert old_router._sweeper is not None
        old_router.in_flight.clear()
        self.reactor.advance(DRAIN_POLL_S)
        assert old_router._sweeper is None and self.linker.retired == []
        assert new_router._sweeper is not None
        conn.connectionLost(None)

    def test_ports_added_and_removed(self) -> None:
        two = BASE.replace("[{ip: 127.0.0.1, port: 4140}]",
                           "[{ip: 127.0.0.1, port: 4140}, {ip: 127.0.0.1, port: 4142}]")
        outcome = self.linker.reload(parse_config(two))
        assert isinstance(outcome, Reloaded)
        assert [lst.port.getHost().port for lst in outcome.listeners] == [4142]
        assert sorted(self._ports()) == [4140, 4142, 9990]
        assert sorted(lst.name for lst in self.linker.listeners) == ["admin", "http", "http"]
        removed = self.linker._servers[0]
        stopped = []
        removed.port.stopListening = lambda: stopped.append(True)
        outcome = self.linker.reload(parse_config(BASE.replace("4140", "4142")))
        assert outcome.plan.servers_unbound == (("127.0.0.1", 4140),)
        assert stopped == [True]
        assert [lst.port.getHost().port for lst in self.linker.listeners] == [4142, 9990]

    def test_a_port_that_cannot_be_bound_refuses_the_reload(self) -> None:
        router = self.linker.routers[0]
        bad = BASE.replace("[{ip: 127.0.0.1, port: 4140}]",
                           "[{ip: 127.0.0.1, port: 4140}, {ip: 127.0.0.1, port: 4666}]")
        outcome = self.linker.reload(parse_config(bad.replace("8080", "9090")))
        assert isinstance(outcome, Refused)
        assert outcome.errors[0].startswith("rt/http: cannot listen on 127.0.0.1:4666")
        assert self.linker.routers == [router] and self.linker.config == parse_config(BASE)
        assert router.base_dtab() == Dtab.read("/svc=>/$/inet/127.0.0.1/8080")

    def test_a_build_error_refuses_the_reload_and_changes_nothing(self) -> None:
        """An unresolvable io.l5d.specificHost fails at build: refused, nothing touched."""
        bad = WITH_CLIENT.replace("8080", "9090") + (
            "  interpreter: {transformers: [{kind: io.l5d.specificHost, host: nowhere}]}\n")
        router = self.linker.routers[0]
        outcome = self.linker.reload(parse_config(bad))
        assert isinstance(outcome, Refused)
        assert "cannot resolve host 'nowhere'" in outcome.errors[0], outcome.errors
        assert "routers[0].interpreter.transformers[0]" in outcome.errors[0]
        assert self.linker.routers == [router] and self.linker.retired == []
        assert router.base_dtab() == Dtab.read("/svc=>/$/inet/127.0.0.1/8080")

    def test_admin_change_is_refused(self) -> None:
        outcome = self.linker.reload(parse_config(BASE.replace("9990", "9991")))
        assert isinstance(outcome, Refused) and "admin.port" in outcome.errors[0]

    def test_a_saved_dtab_edit_survives(self) -> None:
        store = self.linker.dtab_store
        self.successResultOf(store.write("http", "/svc=>/$/inet/127.0.0.1/7070", "config",
                                         "test"))
        self.linker.reload(parse_config(WITH_CLIENT.replace("8080", "9090")))
        assert self.linker.routers[0].base_dtab() == Dtab.read("/svc=>/$/inet/127.0.0.1/7070")
        assert store.current("http").version != "config"

    def test_stop_finishes_what_a_reload_retired(self) -> None:
        old_router = self.linker.routers[0]
        old_router.in_flight.add("an exchange")
        self.linker.reload(parse_config(WITH_CLIENT))
        d = self.linker.stop()
        self.reactor.advance(10)
        self.successResultOf(d)
        assert old_router._sweeper is None and self.linker.retired == []

    def test_stats_carry_over_a_rebuild(self) -> None:
        stats = self.linker.stats
        counter = stats.counter("rt", "http", "server", "127.0.0.1/4140", "requests")
        self.linker.reload(parse_config(WITH_CLIENT))
        assert self.linker.stats is stats
        assert stats.counter("rt", "http", "server", "127.0.0.1/4140", "requests") is counter

    def test_rebuilt_routers_know_the_running_linkers_own_ports(self) -> None:
        """The loop guard: a router built by a reload asks the running linker (whose
        listeners are the real ones) which addresses are its own."""
        self.linker.reload(parse_config(WITH_CLIENT))
        router = self.linker.routers[0]
        assert router.is_own_address("127.0.0.1", 4140) == "http"
        assert router.is_own_address("127.0.0.1", 9990) == "admin"
        assert router.is_own_address("127.0.0.1", 8080) is None


INGRESS = BASE + ("  identifier: {kind: io.l5d.ingress, namespace: a, host: 127.0.0.1, "
                  "port: 8001}\n")


class IngressFeedTests(_Started):
    """A reload keeps the io.l5d.ingress watches its routers use, and lets go of the
    others (unpinned: they expire when idle, and a control stops sending them)."""

    CONFIG = INGRESS

    def _pinned(self) -> dict[str, bool]:
        [watches] = self.linker.k8s.by_access.values()
        return {key[0].rsplit("/", 2)[-2]: e.pinned for key, e in watches._entries.items()}

    def test_kept_changed_and_dropped_identifiers(self) -> None:
        [key_a] = self.linker.ingress_feeds
        assert self._pinned() == {"a": True}
        # a dtab change keeps the router, and so its feed
        assert isinstance(self.linker.reload(parse_config(INGRESS.replace("8080", "9090"))),
                          Reloaded)
        assert list(self.linker.ingress_feeds) == [key_a]
        # another namespace: the new watch, and the old one let go
        outcome = self.linker.reload(parse_config(INGRESS.replace("namespace: a",
                                                                  "namespace: b")))
        assert isinstance(outcome, Reloaded)
        [key_b] = self.linker.ingress_feeds
        assert key_b != key_a
        self.linker.ingress_feeds[key_b]()  # (a control starts it at once; here a request)
        assert self._pinned() == {"a": False, "b": True}
        # no io.l5d.ingress identifier left: no feed, nothing pinned
        assert isinstance(self.linker.reload(parse_config(BASE)), Reloaded)
        assert self.linker.ingress_feeds == {} and self._pinned() == {"a": False, "b": False}
