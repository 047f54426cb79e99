"""io.l5d.fs: file parsing (pure) and the polling namer on a Clock."""

from __future__ import annotations

import logging
import os
from pathlib import Path as FsPath

import pytest
from twisted.internet.task import Clock

from dtab import NEG, PENDING, Address, AddrBound, BoundName, Dtab, Interpreter, Leaf, Ok, Path
from dtab.bind import Namer
from l5d.namers.fs import FsNamer
from l5d.namers.fs_model import parse_endpoints

PREFIX = Path.read("/#/io.l5d.fs")


class ParseEndpointsTests:
    """`host port` per line, comments and blank lines ignored, bad lines reported."""

    @pytest.mark.parametrize("text, addrs, errors", [
        ("127.0.0.1 7777\n", {("127.0.0.1", 7777)}, 0),
        ("# services\n\n127.0.0.1 80  # web\n10.0.0.2\t8080\n", {("127.0.0.1", 80), ("10.0.0.2", 8080)}, 0),
        ("host\n", set(), 1),
        ("host 80 extra\n", set(), 1),
        ("host +80\n", set(), 1),
        ("host 0\n", set(), 1),
        ("host 65536\n", set(), 1),
        ("h 1\nbad line here\nh 2\n", {("h", 1), ("h", 2)}, 1),
        ("", set(), 0),
    ])
    def test_lines(self, text: str, addrs: set, errors: int) -> None:
        """Each case: the addresses read and how many lines were refused."""
        parsed = parse_endpoints(text)
        assert {(a.host, a.port) for a in parsed.addr.addresses} == addrs
        assert len(parsed.errors) == errors

    @pytest.mark.parametrize("text, weights, errors", [
        ("h 1 * 0.5\nh 2 * 3\nh 3 * 1.0\nh 4\n", {1: 0.5, 2: 3.0, 3: None, 4: None}, 0),
        ("h 1 * 1e2\nh 2 * .25\n", {1: 100.0, 2: 0.25}, 0),
        ("h 1 * x\nh 2 *\nh 3 * -1\nh 4 * nan\nh 5 * inf\nh 6 + 2\n", {}, 6),
    ])
    def test_weights(self, text: str, weights: dict, errors: int) -> None:
        """Linkerd's ``host port * weight``: the weight is Finagle's address metadata."""
        parsed = parse_endpoints(text)
        assert {a.port: a.meta_dict().get("endpoint_addr_weight")
                for a in parsed.addr.addresses} == weights
        assert len(parsed.errors) == errors


class FsNamerTests:
    """The namer answers from its snapshot and follows the directory."""

    def _namer(self, tmp_path: FsPath) -> tuple[FsNamer, Clock]:
        clock = Clock()
        return FsNamer(clock, str(tmp_path), PREFIX, poll_interval_s=1.0), clock

    def test_is_a_namer(self, tmp_path: FsPath) -> None:
        """It satisfies the dtab.Namer protocol the interpreter relies on."""
        namer, _ = self._namer(tmp_path)
        assert isinstance(namer, Namer)

    def test_pending_until_started_then_bound_with_residual(self, tmp_path: FsPath) -> None:
        """Before the first read the answer is PENDING, not NEG; then a bound leaf."""
        (tmp_path / "hello").write_text("127.0.0.1 7777\n")
        namer, _ = self._namer(tmp_path)
        assert namer.lookup(Path.read("/hello")) is PENDING
        namer.start()
        state = namer.lookup(Path.read("/hello/a/b"))
        expected = BoundName(Path.read("/#/io.l5d.fs/hello"), Path.read("/a/b"),
                             AddrBound.of(Address("127.0.0.1", 7777)))
        assert state == Ok(Leaf(expected))
        namer.stop()

    def test_missing_service_is_neg(self, tmp_path: FsPath) -> None:
        """A name with no file is NEG, so dtab fallback applies."""
        namer, _ = self._namer(tmp_path)
        namer.start()
        assert namer.lookup(Path.read("/nope")) == Ok(NEG)
        assert namer.lookup(Path()) == Ok(NEG)
        namer.stop()

    def test_changes_are_picked_up_on_the_next_poll(self, tmp_path: FsPath) -> None:
        """Editing, adding and removing files bumps the generation one poll later, not before."""
        svc = tmp_path / "hello"
        svc.write_text("127.0.0.1 7777\n")
        namer, clock = self._namer(tmp_path)
        namer.start()
        gen = namer.generation
        svc.write_text("127.0.0.1 7777\n127.0.0.2 7777\n")
        os.utime(svc, ns=(1, 10**18))  # a different mtime even on coarse filesystems
        clock.advance(0.999)
        assert namer.generation == gen
        clock.advance(0.001)
        assert namer.generation == gen + 1
        leaf = namer.lookup(Path.read("/hello")).value
        assert {a.host for a in leaf.value.addr.addresses} == {"127.0.0.1", "127.0.0.2"}
        svc.unlink()
        clock.advance(1.0)
        assert namer.generation == gen + 2 and namer.lookup(Path.read("/hello")) == Ok(NEG)
        namer.stop()

    def test_unchanged_poll_keeps_the_same_addr_object(self, tmp_path: FsPath) -> None:
        """A poll that finds nothing new changes nothing (clients keep their pools)."""
        (tmp_path / "hello").write_text("127.0.0.1 7777\n")
        namer, clock = self._namer(tmp_path)
        namer.start()
        before = namer.lookup(Path.read("/hello")).value.value.addr
        clock.advance(5.0)
        assert namer.lookup(Path.read("/hello")).value.value.addr is before
        namer.stop()

    def test_interpreter_binding_follows_the_file(self, tmp_path: FsPath) -> None:
        """Through the interpreter and a dtab, a rebind after a change sees the new address."""
        svc = tmp_path / "web"
        svc.write_text("127.0.0.1 1\n")
        namer, clock = self._namer(tmp_path)
        namer.start()
        interp = Interpreter([(PREFIX, namer)])
        dtab = Dtab.read("/svc=>/#/io.l5d.fs")
        first = interp.bind(dtab, Path.read("/svc/web")).value.value.addr
        svc.write_text("127.0.0.1 2\n")
        os.utime(svc, ns=(1, 2 * 10**18))
        clock.advance(1.0)
        second = interp.bind(dtab, Path.read("/svc/web")).value.value.addr
        assert [a.port for a in first.addresses] == [1] and [a.port for a in second.addresses] == [2]
        namer.stop()


class FsNamerLogTests:
    """What goes wrong is a warning, at most one line per problem per 10 s (caplog, Clock)."""

    def _lines(self, caplog) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "l5d.namers.fs"]

    def test_bad_lines_are_one_warning_per_change_of_the_file(self, tmp_path: FsPath,
                                                              caplog) -> None:
        """A file with bad lines: one warning naming the file, how many lines were skipped,
        how many addresses are used, and the first bad lines; polling it again says nothing
        until it changes."""
        caplog.set_level(logging.INFO)
        bad = "127.0.0.1 80\n" + "".join(f"bad{i}\n" for i in range(5))
        (tmp_path / "web").write_text(bad)
        clock = Clock()
        namer = FsNamer(clock, str(tmp_path), PREFIX, poll_interval_s=1.0)
        namer.start()
        clock.advance(5)
        path = tmp_path / "web"
        assert self._lines(caplog) == [
            f"io.l5d.fs: {path}: 5 bad lines skipped, 1 addresses used: line 2: expected "
            "'host port' or 'host port * weight', got 'bad0'; line 3: expected 'host port' or "
            "'host port * weight', got 'bad1'; line 4: expected 'host port' or 'host port * "
            "weight', got 'bad2'; and 2 more"]
        assert caplog.records[0].levelname == "WARNING"
        path.write_text("127.0.0.1 80\nstill bad\n")
        os.utime(path, ns=(1, 10**18))
        clock.advance(11)
        assert len(self._lines(caplog)) == 2 and "1 bad lines" in self._lines(caplog)[1]
        namer.stop()

    def test_a_missing_root_dir_is_said_every_10_s_not_every_poll(self, tmp_path: FsPath,
                                                                  caplog) -> None:
        """rootDir that cannot be listed (even at start, with nothing bound yet): one line,
        then one per 10 s carrying how many polls failed meanwhile."""
        caplog.set_level(logging.INFO)
        clock = Clock()
        namer = FsNamer(clock, str(tmp_path / "nope"), PREFIX, poll_interval_s=1.0)
        namer.start()
        clock.pump([1.0] * 10)
        lines = self._lines(caplog)
        assert len(lines) == 2
        assert lines[0].startswith(f"io.l5d.fs: cannot list rootDir {tmp_path / 'nope'}: ")
        assert lines[0].endswith("(no service can be bound through it)")
        assert lines[1].endswith("(9 more suppressed)")
        namer.stop()

    def test_an_unreadable_file_keeps_its_last_addresses_and_says_so(self, tmp_path: FsPath,
                                                                    caplog) -> None:
        """A file that turns unreadable (here: not UTF-8) is warned about; its last
        addresses stay bound."""
        caplog.set_level(logging.INFO)
        path = tmp_path / "web"
        path.write_text("127.0.0.1 80\n")
        clock = Clock()
        namer = FsNamer(clock, str(tmp_path), PREFIX, poll_interval_s=1.0)
        namer.start()
        path.write_bytes(b"\xff\xfe bad\n")
        os.utime(path, ns=(1, 10**18))
        clock.advance(1)
        [line] = self._lines(caplog)
        assert line.startswith(f"io.l5d.fs: cannot read {path}: ")
        assert line.endswith("(its last addresses are kept)")
        assert isinstance(namer.lookup(Path.read("/web")).value, Leaf)
        namer.stop()
