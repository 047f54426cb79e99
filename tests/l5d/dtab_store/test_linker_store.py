"""The linker and its dtab store: the routers read it, it starts before any port opens and
stops with the linker (MemoryReactorClock, no sockets)."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from dtab import Dtab
from l5d.config import parse_config
from l5d.dtab_store.memory import InMemoryBackend
from l5d.dtab_store.store import DtabStore
from l5d.linker import Env, build

CONFIG = """\
admin: {port: 0}
%s
routers:
- protocol: http
  dtab: /svc => /$/inet/127.0.0.1/1
  servers: [{port: 0}]
"""


class SlowBackend(InMemoryBackend):
    """A backend whose start fires when the test says."""

    def __init__(self) -> None:
        super().__init__(lambda: 0.0)
        self.started: defer.Deferred[None] = defer.Deferred()
        self.stopped = False

    def start(self) -> defer.Deferred[None]:
        return self.started

    def stop(self) -> defer.Deferred[None]:
        self.stopped = True
        return defer.succeed(None)


class LinkerStoreTests(SynchronousTestCase):
    def linker(self, store_yaml: str = ""):
        self.reactor = MemoryReactorClock()
        return build(parse_config(CONFIG % store_yaml), Env(), self.reactor)

    def test_the_router_reads_its_dtab_through_the_store(self) -> None:
        linker = self.linker()
        self.assertEqual("io.l5d.inMemory", linker.dtab_store.kind)
        self.successResultOf(linker.dtab_store.write("http", "/svc=>/$/inet/127.0.0.1/2",
                                                     "config", "test"))
        self.assertEqual(Dtab.read("/svc=>/$/inet/127.0.0.1/2"), linker.routers[0].base_dtab())

    def test_ports_open_only_once_the_store_has_started(self) -> None:
        linker = self.linker()
        backend = SlowBackend()
        linker.dtab_store = DtabStore(backend, {"http": Dtab()})
        started = linker.start(Factory())
        self.assertNoResult(started)
        self.assertEqual([], self.reactor.tcpServers)
        backend.started.callback(None)
        self.assertEqual(2, len(self.successResultOf(started)))
        self.successResultOf(linker.stop())
        self.assertTrue(backend.stopped)

    def test_a_store_that_cannot_start_stops_the_start(self) -> None:
        linker = self.linker()
        backend = SlowBackend()
        linker.dtab_store = DtabStore(backend, {"http": Dtab()})
        started = linker.start(Factory())
        backend.started.errback(ValueError("saved dtab does not parse"))
        self.failureResultOf(started, ValueError)
        self.assertEqual([], self.reactor.tcpServers)

    def test_the_fs_kind_builds_a_store_in_its_directory(self) -> None:
        directory = Path(self.mktemp())
        linker = self.linker(f"dtabStore: {{kind: io.l5d.fs, dir: '{directory}'}}")
        self.assertEqual("io.l5d.fs", linker.dtab_store.kind)
        self.assertFalse(directory.exists())  # build reads and makes nothing
        self.successResultOf(linker.dtab_store.start())
        self.assertTrue(directory.is_dir())

    def test_the_configmap_kind_builds_a_backend_on_its_map(self) -> None:
        """io.l5d.k8s.configMap builds its backend (no I/O) on the ConfigMap it names."""
        linker = self.linker("dtabStore: {kind: io.l5d.k8s.configMap, host: 127.0.0.1, "
                             "port: 8001, namespace: mesh, name: routing}")
        backend = linker.dtab_store.backend
        self.assertEqual("io.l5d.k8s.configMap", linker.dtab_store.kind)
        self.assertEqual(("mesh", "routing"), (backend.namespace, backend.name))
