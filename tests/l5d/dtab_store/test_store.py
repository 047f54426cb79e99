"""DtabStore and the backends' laws, with fakes for time and the log (no sockets)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from dtab import Dtab
from l5d.dtab_store.fs import FsBackend
from l5d.dtab_store.memory import InMemoryBackend
from l5d.dtab_store.model import (
    CONFIG_VERSION, Conflict, Invalid, Refused, Versioned, Written, parse_dtab_text,
)
from l5d.dtab_store.store import DtabStore

CONFIG = Dtab.read("/svc=>/#/io.l5d.fs")


class Wall:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        self.t += 1
        return self.t


def result(d: defer.Deferred) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred did not fire"
    return out[0]


@pytest.fixture(params=["memory", "fs"])
def backend(request: Any, tmp_path: Path) -> Any:
    if request.param == "memory":
        return InMemoryBackend(Wall(), history_size=3)
    return FsBackend(tmp_path / "dtabs", Wall(), history_size=3)


def make_store(backend: Any, caplog: Any = None) -> DtabStore:
    store = DtabStore(backend, {"http": CONFIG, "other": Dtab()}, Wall(),
                      logging.getLogger("test.dtab_store"))
    assert result(store.start()) is None
    return store


class StoreTests:
    """DtabStore's behaviour, over each backend."""

    def test_config_dtab_until_something_is_saved(self, backend: Any) -> None:
        store = make_store(backend)
        assert store.current("http") == Versioned(CONFIG, CONFIG_VERSION)
        assert store.source("http") == "config"
        assert store.dtab_for("http")() is CONFIG
        assert store.history("http") == []

    def test_accepted_write_takes_effect_through_dtab_for(self, backend: Any) -> None:
        store = make_store(backend)
        read = store.dtab_for("http")
        written = result(store.write("http", "/svc => /$/inet/127.0.0.1/8081", "config",
                                     "token@127.0.0.1"))
        assert isinstance(written, Written)
        assert written.current.version == "1"
        assert read() == Dtab.read("/svc=>/$/inet/127.0.0.1/8081")
        assert read() is store.current("http").dtab  # one reference: the cache re-binds
        assert store.source("http") == "store"
        change = written.change
        assert (change.previous_version, change.previous, change.who) == (
            None, None, "token@127.0.0.1")
        assert change.dtab == "/svc=>/$/inet/127.0.0.1/8081;\n"
        assert store.history("http") == [change]

    def test_stale_version_is_a_conflict_and_changes_nothing(self, backend: Any) -> None:
        store = make_store(backend)
        result(store.write("http", "/svc=>/a", "config", "a"))
        stale = result(store.write("http", "/svc=>/b", "config", "b"))
        assert stale == Conflict(store.current("http"))
        assert store.current("http").dtab == Dtab.read("/svc=>/a")
        assert len(store.history("http")) == 1

    def test_unparsable_text_is_invalid_with_the_position(self, backend: Any) -> None:
        store = make_store(backend)
        bad = result(store.write("http", "/svc=>/a;\n/b=>{", "config", "a"))
        assert isinstance(bad, Invalid)
        assert (bad.offset, bad.line, bad.column) == (14, 2, 5)
        assert "expected" in bad.message
        assert store.current("http") == Versioned(CONFIG, CONFIG_VERSION)

    def test_versions_count_up_and_history_is_newest_first_and_bounded(
            self, backend: Any) -> None:
        store = make_store(backend)
        version = "config"
        for i in range(5):
            w = result(store.write("http", f"/svc=>/v{i}", version, "w"))
            assert w.current.version == str(i + 1)
            version = w.current.version
        history = store.history("http")
        assert [c.version for c in history] == ["5", "4", "3"]  # historySize 3
        assert history[0].previous == "/svc=>/v3;\n" and history[0].previous_version == "4"
        assert [c.at for c in history] == sorted([c.at for c in history], reverse=True)

    def test_rollback_is_a_write_of_an_old_text(self, backend: Any) -> None:
        store = make_store(backend)
        one = result(store.write("http", "/svc=>/a", "config", "w"))
        two = result(store.write("http", "/svc=>/b", one.current.version, "w"))
        back = result(store.write("http", one.change.dtab, two.current.version, "w"))
        assert isinstance(back, Written) and back.current.version == "3"
        assert store.current("http").dtab == Dtab.read("/svc=>/a")

    def test_routers_are_independent(self, backend: Any) -> None:
        store = make_store(backend)
        result(store.write("http", "/svc=>/a", "config", "w"))
        assert store.current("other") == Versioned(Dtab(), CONFIG_VERSION)
        with pytest.raises(KeyError):
            store.current("nope")

    def test_observers_and_the_change_log(self, backend: Any, caplog: Any) -> None:
        store = make_store(backend)
        seen: list[tuple[str, str]] = []
        store.observe(lambda router, v: seen.append((router, v.version)))
        with caplog.at_level(logging.INFO, logger="test.dtab_store"):
            result(store.write("http", "/svc=>/a", "config", "session:ann@10.0.0.9"))
        assert seen == [("http", "1")]
        [line] = [r.getMessage() for r in caplog.records]
        assert "rt/http: dtab version 1 by session:ann@10.0.0.9 at " in line
        assert "(was version config): old: /svc=>/#/io.l5d.fs new: /svc=>/a" in line

    def test_changes_other_nodes_made_are_taken_and_logged(self, caplog: Any) -> None:
        """A shared backend reports a change this node did not make: it applies and is
        logged with the change's who."""
        backend = InMemoryBackend(Wall())
        store = make_store(backend)
        with caplog.at_level(logging.INFO, logger="test.dtab_store"):
            # another node's write, seen by this node's backend (no DtabStore.write here)
            result(backend.write("http", "/svc=>/elsewhere;\n", None, "token@10.0.0.2"))
        assert store.current("http").dtab == Dtab.read("/svc=>/elsewhere")
        assert "by token@10.0.0.2" in caplog.records[-1].getMessage()


class RefusingBackend(InMemoryBackend):
    def write(self, *args: Any) -> defer.Deferred:
        return defer.fail(OSError("the disk is on fire"))


def test_a_failing_backend_write_is_refused() -> None:
    store = make_store(RefusingBackend(Wall()))
    out = result(store.write("http", "/svc=>/a", "config", "w"))
    assert out == Refused("the disk is on fire")
    assert store.current("http").version == CONFIG_VERSION


def test_parse_dtab_text_positions() -> None:
    assert parse_dtab_text("/a=>/b;\n# comment\n/c=>/d") == Dtab.read("/a=>/b;/c=>/d")
    bad = parse_dtab_text("/a=>/b\n/c=>/d")  # a newline does not end a dentry: ';' does
    assert isinstance(bad, Invalid) and (bad.line, bad.column, bad.offset) == (2, 1, 7)


class SharedVersionBackend(InMemoryBackend):
    """Like a ConfigMap: one version for every router, moved by any router's write, and
    only the router whose text changed is told."""

    def __init__(self) -> None:
        super().__init__(Wall())
        self.version = 0
        self.stored: dict[str, Dtab] = {}
        self.told: list[Any] = []

    def subscribe(self, callback: Any) -> None:
        self.told.append(callback)

    def read(self, router: str) -> Versioned | None:
        d = self.stored.get(router)
        return None if d is None else Versioned(d, str(self.version))

    def put(self, router: str, text: str | None) -> None:
        """Another node's write (``None``: the router's key removed)."""
        self.version += 1
        if text is None:
            self.stored.pop(router, None)
        else:
            self.stored[router] = Dtab.read(text)
        for callback in self.told:
            callback(router, self.read(router))


def test_a_version_shared_by_routers_is_read_from_the_backend() -> None:
    """Another router's write moves this router's version without changing its dtab: the
    store answers the backend's version (so a write naming it is not stale), and the dtab
    in force keeps its identity (no binding cache is dropped)."""
    backend = SharedVersionBackend()
    store = make_store(backend)
    backend.put("http", "/svc=>/a")
    in_force = store.dtab_for("http")()
    assert store.current("http") == Versioned(Dtab.read("/svc=>/a"), "1")
    backend.stored["other"] = Dtab.read("/x=>/y")  # the other router's key, silently
    backend.version += 1
    assert store.current("http").version == "2"
    assert store.current("http").dtab is in_force
    assert store.dtab_for("http")() is in_force


def test_a_removed_key_brings_the_config_dtab_back() -> None:
    """A backend telling ``None`` (a ConfigMap key removed): the config's dtab applies."""
    backend = SharedVersionBackend()
    store = make_store(backend)
    backend.put("http", "/svc=>/a")
    assert store.dtab_for("http")() == Dtab.read("/svc=>/a")
    backend.put("http", None)
    assert store.current("http") == Versioned(CONFIG, CONFIG_VERSION)
    assert store.dtab_for("http")() is CONFIG
    assert store.source("http") == "config"
