"""l5d.dtab_store.configmap: the shell's sequencing on a Clock with an in-memory API (the
API's own behaviour is proven against a real kube-apiserver in
tests/integration/k8s/test_dtab_configmap.py)."""

from __future__ import annotations

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from dtab import Dtab
from l5d.dtab_store.backend import DtabBackend
from l5d.dtab_store.configmap import ConfigMapBackend
from l5d.dtab_store.model import Conflict, Refused, Versioned, Written
from tests.helpers.fake_k8s_api import FakeApi

ONE = "/svc=>/#/io.l5d.k8s/default/http"
TWO = "/svc=>/#/io.l5d.k8s/prod/http"
PATH = "/api/v1/namespaces/ns/configmaps/l5d-dtabs"
WALL = 1_700_000_000.0


def cm(rv: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": "l5d-dtabs", "namespace": "ns", "resourceVersion": rv}}


class ConfigMapBackendTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock, self.api, self.seen = Clock(), FakeApi(), []
        self.backend = ConfigMapBackend(self.clock, self.api, random.Random(7), lambda: WALL,
                                        namespace="ns", start_timeout_s=5.0)
        self.backend.subscribe(lambda router, v: self.seen.append((router, v)))

    def started(self, obj: dict | None) -> None:
        d = self.backend.start()
        [listing, get] = self.api.gets
        assert get.path == PATH and listing.params == {"fieldSelector": "metadata.name=l5d-dtabs"}
        get.answer(404, {"kind": "Status", "code": 404}) if obj is None else get.answer(200, obj)
        self.successResultOf(d)

    def test_is_a_dtab_backend(self) -> None:
        """It satisfies the DtabBackend protocol."""
        self.assertIsInstance(self.backend, DtabBackend)

    def test_start_with_no_map_stores_nothing(self) -> None:
        """A 404 fires start(); every router reads None; nobody is told."""
        self.started(None)
        assert self.backend.read("http") is None and self.seen == []

    def test_start_fires_after_the_timeout_when_the_api_is_silent(self) -> None:
        """The config's dtabs apply until the watch lists the map."""
        d = self.backend.start()
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)
        assert self.backend.read("http") is None
        self.api.gets[0].answer(200, {"metadata": {"resourceVersion": "5"},
                                      "items": [cm("5", {"http": ONE})]})
        assert self.backend.read("http") == Versioned(Dtab.read(ONE), "5")
        assert [r for r, _ in self.seen] == ["http"]

    def test_a_late_start_read_does_not_undo_the_watch(self) -> None:
        """When the watch's list answers first, the start read (maybe older) is ignored."""
        d = self.backend.start()
        listing, get = self.api.gets
        listing.answer(200, {"metadata": {"resourceVersion": "6"},
                             "items": [cm("6", {"http": ONE})]})
        get.answer(404, {})
        self.successResultOf(d)
        assert self.backend.read("http").version == "6"

    def test_create_then_the_watch_echo_is_no_second_change(self) -> None:
        """A write with no map POSTs; the answer is applied at once (one subscriber call);
        the same object from the watch changes nothing."""
        self.started(None)
        d = self.backend.write("http", ONE, None, "alice")
        [post] = self.api.sends
        assert (post.method, post.path) == ("POST", "/api/v1/namespaces/ns/configmaps")
        assert post.body["data"] == {"http": ONE}
        stored = dict(post.body, metadata=dict(post.body["metadata"], resourceVersion="7"))
        post.answer(201, stored)
        out = self.successResultOf(d)
        assert isinstance(out, Written) and out.current == Versioned(Dtab.read(ONE), "7")
        assert (out.change.who, out.change.at, out.change.previous) == ("alice", WALL, None)
        self.api.gets[0].answer(200, {"metadata": {"resourceVersion": "6"}, "items": []})
        self.api.watches[0].send({"type": "ADDED", "object": stored})
        assert len(self.seen) == 1 and self.backend.history("http") == [out.change]

    def test_a_version_newer_than_the_view_is_checked_with_a_fresh_read(self) -> None:
        """The view may lag the API: GET, then PUT at the expected version if it matches."""
        self.started(cm("5", {"http": ONE}))
        d = self.backend.write("http", TWO, "9", "alice")
        assert self.api.sends == []
        self.api.gets[-1].answer(200, cm("9", {"http": ONE, "grpc": ONE}))
        [put] = self.api.sends
        assert put.method == "PUT" and put.path == PATH
        assert put.body["metadata"]["resourceVersion"] == "9"
        assert put.body["data"] == {"http": TWO, "grpc": ONE}
        put.answer(200, cm("10", {"http": TWO, "grpc": ONE}))
        out = self.successResultOf(d)
        assert isinstance(out, Written) and out.change.previous_version == "9"

    def test_stale_version_after_a_fresh_read_is_a_conflict_without_a_write(self) -> None:
        self.started(cm("5", {"http": ONE}))
        d = self.backend.write("http", TWO, "4", "alice")
        self.api.gets[-1].answer(200, cm("8", {"http": TWO}))
        out = self.successResultOf(d)
        assert out == Conflict(Versioned(Dtab.read(TWO), "8")) and self.api.sends == []
        assert self.backend.read("http").version == "8"  # the fresh read is applied

    def test_409_from_the_api_is_a_conflict_with_the_state_read_afresh(self) -> None:
        self.started(cm("5", {"http": ONE}))
        d = self.backend.write("http", TWO, "5", "alice")
        self.api.sends[0].answer(409, {"kind": "Status", "reason": "Conflict", "code": 409})
        self.api.gets[-1].answer(200, cm("6", {"http": ONE}))
        out = self.successResultOf(d)
        assert out == Conflict(Versioned(Dtab.read(ONE), "6"))
        assert out.current.dtab is self.backend.read("http").dtab

    def test_forbidden_and_unreachable_are_refused_with_the_reason(self) -> None:
        self.started(cm("5", {"http": ONE}))
        d = self.backend.write("http", TWO, "5", "alice")
        self.api.sends[0].answer(403, {"kind": "Status", "code": 403, "message":
                                       'configmaps "l5d-dtabs" is forbidden: no'})
        out = self.successResultOf(d)
        assert out == Refused('Kubernetes API answered 403: configmaps "l5d-dtabs" is '
                              'forbidden: no')
        d = self.backend.write("http", TWO, "5", "alice")
        self.api.sends[1].fail("Connection was refused by other side")
        out = self.successResultOf(d)
        assert isinstance(out, Refused) and "unreachable (fake)" in out.reason, out
        d = self.backend.write("http", TWO, "6", "alice")  # the fresh read fails too
        self.api.gets[-1].fail()
        assert isinstance(self.successResultOf(d), Refused)
        assert self.backend.read("http").version == "5"

    def test_a_failing_subscriber_does_not_stop_the_others(self) -> None:
        def broken(router: str, v: object) -> None:
            raise RuntimeError("boom")

        self.backend._subscribers.insert(0, broken)
        self.started(cm("5", {"http": ONE}))
        assert [r for r, _ in self.seen] == ["http"]
        assert len(self.flushLoggedErrors(RuntimeError)) == 1

    def test_stop_ends_the_watch(self) -> None:
        self.started(None)
        self.api.gets[0].answer(200, {"metadata": {"resourceVersion": "6"}, "items": []})
        assert self.api.open_watches()
        self.successResultOf(self.backend.stop())
        assert not self.api.open_watches()
