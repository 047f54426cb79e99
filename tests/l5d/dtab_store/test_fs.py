"""io.l5d.fs: files survive a restart, writes are atomic replaces, history is files."""

from __future__ import annotations

import json
from pathlib import Path

from dtab import Dtab
from l5d.dtab_store.fs import FsBackend
from l5d.dtab_store.model import Refused, Written
from l5d.dtab_store.store import DtabStore
from tests.l5d.dtab_store.test_store import CONFIG, Wall, result


def started(directory: Path, history_size: int = 20) -> DtabStore:
    store = DtabStore(FsBackend(directory, Wall(), history_size), {"http": CONFIG}, Wall())
    assert result(store.start()) is None
    return store


def test_a_restarted_store_reads_the_saved_dtab_and_counts_on(tmp_path: Path) -> None:
    first = started(tmp_path)
    result(first.write("http", "/svc=>/a", "config", "w"))
    result(first.write("http", "/svc=>/b", "1", "w"))
    again = started(tmp_path)
    assert again.current("http").dtab == Dtab.read("/svc=>/b")
    assert again.current("http").version == "2"
    assert [c.version for c in again.history("http")] == ["2", "1"]
    w = result(again.write("http", "/svc=>/c", "2", "w"))
    assert isinstance(w, Written) and w.current.version == "3"


def test_files_are_json_changes_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    store = started(tmp_path)
    result(store.write("http", "/svc=>/a", "config", "token@127.0.0.1"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["http.history", "http.json"]
    doc = json.loads((tmp_path / "http.json").read_text())
    assert doc["version"] == "1" and doc["dtab"] == "/svc=>/a;\n"
    assert doc["who"] == "token@127.0.0.1" and doc["previous"] is None
    assert [p.name for p in (tmp_path / "http.history").iterdir()] == ["1.json"]


def test_versions_never_repeat_after_the_current_file_is_removed(tmp_path: Path) -> None:
    store = started(tmp_path)
    result(store.write("http", "/svc=>/a", "config", "w"))
    (tmp_path / "http.json").unlink()
    again = started(tmp_path)
    assert again.current("http").version == "config"
    w = result(again.write("http", "/svc=>/b", "config", "w"))
    assert w.current.version == "2"


def test_history_files_are_trimmed_to_history_size(tmp_path: Path) -> None:
    store = started(tmp_path, history_size=2)
    version = "config"
    for i in range(4):
        version = result(store.write("http", f"/svc=>/v{i}", version, "w")).current.version
    assert sorted(p.name for p in (tmp_path / "http.history").iterdir()) == ["3.json", "4.json"]


def test_a_saved_file_that_does_not_parse_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "http.json").write_text(json.dumps(
        {"router": "http", "version": "1", "dtab": "/svc=>{"}))
    store = DtabStore(FsBackend(tmp_path, Wall()), {"http": CONFIG}, Wall())
    failure = result(store.start())
    assert "http.json: the saved dtab does not parse" in failure.getErrorMessage()
    assert "line 1, column 7" in failure.getErrorMessage()


def test_a_write_that_cannot_reach_the_disk_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    """(A file where the history directory should be: the write fails as on a full or
    read-only disk, whoever runs the test.)"""
    store = started(tmp_path)
    (tmp_path / "http.history").write_text("in the way")
    out = result(store.write("http", "/svc=>/a", "config", "w"))
    assert isinstance(out, Refused) and out.reason.startswith(f"cannot write {tmp_path}")
    assert store.current("http").version == "config"
    assert not (tmp_path / "http.json").exists()
