"""l5d.telemetry.access_file: appending, logrotate moving the file, and Linkerd's roll policies.

Real files under tmp_path; the wall clock (roll times, rolled names) and the monotonic one
(when the path is checked again) are injected.
"""

from __future__ import annotations

import calendar
import os
from pathlib import Path

import pytest

from l5d.config.access_log import AccessLogConfig, RollPolicy
from l5d.telemetry.access_file import AccessLogFile, next_roll, rolled_name


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


class Clocks:
    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 100.0

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def open_file(path: Path, clocks: Clocks, policy: str = "never", **kw) -> AccessLogFile:
    f = AccessLogFile(AccessLogConfig(str(path), RollPolicy.read(policy), **kw),
                      wall=lambda: clocks.wall, now=lambda: clocks.mono)
    f.open()
    return f


def lines(*ns: int) -> list[str]:
    return [f"line {n}\n" for n in ns]


class AppendTests:
    def test_makes_the_directory_and_appends(self, tmp_path: Path) -> None:
        """Missing directories are made; lines are appended in order."""
        path = tmp_path / "a" / "b" / "access.log"
        f = open_file(path, Clocks(at(2024, 1, 1)))
        f.write(lines(1, 2))
        f.write(lines(3))
        f.close()
        assert path.read_text() == "line 1\nline 2\nline 3\n"

    def test_append_true_keeps_what_the_file_held(self, tmp_path: Path) -> None:
        """httpAccessLogAppend: true (the default) keeps the old lines."""
        path = tmp_path / "access.log"
        path.write_text("old\n")
        f = open_file(path, Clocks(at(2024, 1, 1)))
        f.write(lines(1))
        assert path.read_text() == "old\nline 1\n"

    def test_append_false_empties_it_once_at_start(self, tmp_path: Path) -> None:
        """httpAccessLogAppend: false empties the file when l5d opens it, and never after
        (a reopen after a move does not empty what logrotate left)."""
        path = tmp_path / "access.log"
        path.write_text("old\n")
        clocks = Clocks(at(2024, 1, 1))
        f = open_file(path, clocks, append=False)
        f.write(lines(1))
        assert path.read_text() == "line 1\n"
        f.write(lines(2), reopen=True)
        assert path.read_text() == "line 1\nline 2\n"

    def test_a_path_that_cannot_be_opened_raises(self, tmp_path: Path) -> None:
        """A directory where the file should be is an OSError at open (l5d does not start)."""
        (tmp_path / "access.log").mkdir()
        with pytest.raises(OSError):
            open_file(tmp_path / "access.log", Clocks(at(2024, 1, 1)))


class MovedTests:
    """logrotate's create (rename) and copytruncate, and rm, under a running writer."""

    def test_renamed_file_is_reopened_at_the_next_check_nothing_lost(self, tmp_path: Path) -> None:
        """After a rename, lines go on into the renamed file until the path is checked
        (at most check_interval_s later), then into a new file at the path; every line is in
        exactly one of the two."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1))
        f = open_file(path, clocks)
        f.write(lines(1))
        os.rename(path, tmp_path / "access.log.1")
        f.write(lines(2))  # within the check interval: still the open (renamed) file
        clocks.advance(1.0)
        f.write(lines(3, 4))
        clocks.advance(0.2)
        f.write(lines(5))
        f.close()
        assert (tmp_path / "access.log.1").read_text() == "line 1\nline 2\n"
        assert path.read_text() == "line 3\nline 4\nline 5\n"
        assert f.reopened == 1

    def test_logrotate_create_makes_the_new_file_first(self, tmp_path: Path) -> None:
        """logrotate's create: rename, then a new empty file at the path; l5d switches to it."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1))
        f = open_file(path, clocks)
        f.write(lines(1))
        os.rename(path, tmp_path / "access.log.1")
        path.write_text("")
        clocks.advance(1.0)
        f.write(lines(2))
        assert path.read_text() == "line 2\n"
        assert (tmp_path / "access.log.1").read_text() == "line 1\n"

    def test_deleted_file_is_made_again(self, tmp_path: Path) -> None:
        """rm access.log: the next check makes it again."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1))
        f = open_file(path, clocks)
        f.write(lines(1))
        path.unlink()
        clocks.advance(1.5)
        f.write(lines(2))
        assert path.read_text() == "line 2\n"

    def test_copytruncate_leaves_no_hole(self, tmp_path: Path) -> None:
        """copytruncate empties the file in place: the next line is at its start (O_APPEND),
        not after a hole of NULs where the old end was."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1))
        f = open_file(path, clocks)
        f.write(lines(1, 2, 3))
        (tmp_path / "access.log.1").write_bytes(path.read_bytes())
        os.truncate(path, 0)
        f.write(lines(4))
        assert path.read_bytes() == b"line 4\n"
        clocks.advance(1.0)
        f.write(lines(5))
        assert path.read_bytes() == b"line 4\nline 5\n" and f.reopened == 0
        assert f.size == len(b"line 4\nline 5\n")

    def test_sighup_reopens_at_once(self, tmp_path: Path) -> None:
        """write(reopen=True) (SIGHUP) reopens before writing, whatever the check interval."""
        path = tmp_path / "access.log"
        f = open_file(path, Clocks(at(2024, 1, 1)), "sighup")
        f.write(lines(1))
        os.rename(path, tmp_path / "old.log")
        f.write(lines(2), reopen=True)
        assert path.read_text() == "line 2\n"


class RollTests:
    """httpAccessLogRollPolicy and httpAccessLogRotateCount, as util-logging's FileHandler."""

    @pytest.mark.parametrize("policy, opened, due", [
        ("never", at(2024, 1, 1, 10, 30), None),
        ("sighup", at(2024, 1, 1, 10, 30), None),
        ("100.megabytes", at(2024, 1, 1, 10, 30), None),
        ("hourly", at(2024, 1, 1, 10, 30), at(2024, 1, 1, 11)),
        ("hourly", at(2024, 1, 1, 23, 0), at(2024, 1, 2, 0)),
        ("daily", at(2024, 1, 1, 10, 30), at(2024, 1, 2)),
        ("daily", at(2024, 2, 28, 0, 0), at(2024, 2, 29)),
        # 2024-01-01 is a Monday; Java's 1 is Sunday, 2 Monday
        ("weekly(1)", at(2024, 1, 1, 10), at(2024, 1, 7)),
        ("weekly(2)", at(2024, 1, 1, 10), at(2024, 1, 8)),
        ("weekly(3)", at(2024, 1, 1, 10), at(2024, 1, 2)),
        ("weekly(7)", at(2024, 1, 6, 23, 59), at(2024, 1, 13)),
    ])
    def test_next_roll(self, policy: str, opened: float, due: float | None) -> None:
        """The next hour, the next midnight, the next midnight starting day n (UTC)."""
        assert next_roll(RollPolicy.read(policy), opened) == due

    @pytest.mark.parametrize("path, policy, name", [
        ("logs/access.log", "hourly", "logs/access-20240101-10.log"),
        ("logs/access.log", "daily", "logs/access-20240101.log"),
        ("logs/access.log", "weekly(1)", "logs/access-20240101.log"),
        ("logs/access.log", "1.megabyte", "logs/access-20240101-103005.log"),
        ("logs/access", "daily", "logs/access-20240101"),
        ("logs.d/access", "daily", "logs.d/access-20240101"),
        (".access", "daily", ".access-20240101"),
    ])
    def test_rolled_name(self, path: str, policy: str, name: str) -> None:
        """<stem>-<time of opening><ext>, util-logging's layout per policy."""
        assert rolled_name(path, RollPolicy.read(policy), at(2024, 1, 1, 10, 30, 5)) == name

    def test_hourly_rolls_at_the_first_write_after_the_hour(self, tmp_path: Path) -> None:
        """The file opened at 10:30 becomes access-20240101-10.log at the first write after
        11:00; the new file has the lines after it."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1, 10, 30))
        f = open_file(path, clocks, "hourly")
        f.write(lines(1))
        clocks.advance(29 * 60 + 59)
        f.write(lines(2))
        clocks.advance(2)
        f.write(lines(3))
        assert (tmp_path / "access-20240101-10.log").read_text() == "line 1\nline 2\n"
        assert path.read_text() == "line 3\n" and f.rolled == 1

    def test_size_rolls_before_the_line_that_would_pass_it(self, tmp_path: Path) -> None:
        """100.bytes and 40-byte lines: two lines per file; a same-second name gets -1, -2."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1, 10, 30, 5))
        f = open_file(path, clocks, "100.bytes")
        line = ["x" * 39 + "\n"]
        for _ in range(7):
            f.write(line)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["access-20240101-103005-1.log", "access-20240101-103005-2.log",
                         "access-20240101-103005.log", "access.log"]
        assert all(p.stat().st_size == 80 for p in tmp_path.iterdir() if p.name != "access.log")
        assert path.stat().st_size == 40
        assert [Path(p).name for p in f.rolled_files()] == [
            "access-20240101-103005.log", "access-20240101-103005-1.log",
            "access-20240101-103005-2.log"]

    def test_a_line_longer_than_the_size_is_written_not_looped_on(self, tmp_path: Path) -> None:
        """A line past the size goes alone into a file (no empty file is rolled for it)."""
        path = tmp_path / "access.log"
        f = open_file(path, Clocks(at(2024, 1, 1)), "10.bytes")
        f.write(["y" * 30 + "\n", "z\n"])
        assert path.read_text() == "z\n"
        assert [Path(p).read_text() for p in f.rolled_files()] == ["y" * 30 + "\n"]

    def test_rotate_count_keeps_the_newest(self, tmp_path: Path) -> None:
        """httpAccessLogRotateCount: 2 deletes all but the two newest rolled files; other files
        that only share the stem are left alone."""
        path = tmp_path / "access.log"
        (tmp_path / "access-other.log").write_text("not ours\n")
        (tmp_path / "access2.log").write_text("not ours\n")
        clocks = Clocks(at(2024, 1, 1, 10, 30))
        f = open_file(path, clocks, "hourly", rotate_count=2)
        for hour in range(5):
            f.write(lines(hour))
            clocks.advance(3600)
        f.write(lines(5))
        rolled = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("access-2"))
        assert rolled == ["access-20240101-13.log", "access-20240101-14.log"]
        assert (tmp_path / "access-other.log").exists() and (tmp_path / "access2.log").exists()
        assert (tmp_path / "access-20240101-14.log").read_text() == "line 4\n"

    def test_rotate_count_minus_one_keeps_everything(self, tmp_path: Path) -> None:
        """The default keeps every rolled file."""
        clocks = Clocks(at(2024, 1, 1, 10, 30))
        f = open_file(tmp_path / "access.log", clocks, "hourly")
        for hour in range(4):
            f.write(lines(hour))
            clocks.advance(3600)
        f.write(lines(9))
        assert len(f.rolled_files()) == 4


class SeveralWritersTests:
    """``workers: N``: every worker appends to the same path, worker 0 alone rolls."""

    @staticmethod
    def writer(path: Path, clocks: Clocks, policy: str, *, rolls: bool,
               **kw) -> AccessLogFile:
        f = AccessLogFile(AccessLogConfig(str(path), RollPolicy.read(policy), **kw),
                          wall=lambda: clocks.wall, now=lambda: clocks.mono,
                          rolls=rolls, keep=True)
        f.open()
        return f

    def test_only_the_roller_rolls_the_others_follow_nothing_lost(self, tmp_path: Path) -> None:
        """Hourly: at the first write after the hour the roller renames the file and the
        other writer does not roll again (no second, near-empty rolled file); it follows the
        move at its next check, and every line is in exactly one file."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1, 10, 30))
        roller = self.writer(path, clocks, "hourly", rolls=True)
        other = self.writer(path, clocks, "hourly", rolls=False)
        roller.write(lines(1))
        other.write(lines(2))
        clocks.advance(30 * 60 - 0.5)  # 10:59:59.5
        other.write(lines(3))  # checks the path: unchanged
        clocks.advance(0.6)  # 11:00:00.1
        roller.write(lines(4))  # rolls first
        other.write(lines(5))  # not checked yet: into the rolled file, and no roll of its own
        clocks.advance(0.5)
        other.write(lines(6))  # checked: follows the move
        roller.write(lines(7))
        assert (other.rolled, roller.rolled) == (0, 1)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["access-20240101-10.log",
                                                              "access.log"]
        assert (tmp_path / "access-20240101-10.log").read_text() == (
            "line 1\nline 2\nline 3\nline 5\n")
        assert path.read_text() == "line 4\nline 6\nline 7\n"
        assert other.reopened == 1

    def test_a_size_policy_is_the_rollers_alone(self, tmp_path: Path) -> None:
        """100.bytes: the other writer never rolls, however much it writes; the roller reads
        the size the others wrote at its next check and rolls before its own next line."""
        path = tmp_path / "access.log"
        clocks = Clocks(at(2024, 1, 1, 10, 30, 5))
        roller = self.writer(path, clocks, "100.bytes", rolls=True)
        other = self.writer(path, clocks, "100.bytes", rolls=False)
        line = ["x" * 39 + "\n"]
        for _ in range(4):
            other.write(line)
        assert other.rolled == 0 and path.stat().st_size == 160
        clocks.advance(1.0)
        roller.write(line)
        assert roller.rolled == 1
        assert (tmp_path / "access-20240101-103005.log").stat().st_size == 160
        assert path.stat().st_size == 40

    def test_keep_never_empties_the_file(self, tmp_path: Path) -> None:
        """httpAccessLogAppend: false empties the file once, in the control; a worker that
        starts (or starts again after dying) keeps what is there."""
        path = tmp_path / "access.log"
        path.write_text("earlier worker's line\n")
        clocks = Clocks(at(2024, 1, 1))
        f = self.writer(path, clocks, "never", rolls=True, append=False)
        f.write(lines(1))
        assert path.read_text() == "earlier worker's line\nline 1\n"
