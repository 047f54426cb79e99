"""A router's access log: ``httpAccessLog`` and its roll keys (pure).

Linkerd's four HTTP router keys, with Linkerd's defaults::

    httpAccessLog: logs/access.log      # no default: no access log
    httpAccessLogRollPolicy: daily      # never
    httpAccessLogAppend: true           # true
    httpAccessLogRotateCount: 7         # -1 (keep every rolled file)

The roll policy is written as twitter util-logging's ``Policy.parse`` reads it:
``never``, ``hourly``, ``daily``, ``weekly(n)`` (``n`` a Java day of the week, 1 = Sunday
... 7 = Saturday), ``sighup``, or a size ``<n>.<unit>`` (``100.megabytes``, ``1.gigabyte``;
units ``byte``, ``kilobyte``, ``megabyte``, ``gigabyte``, ``terabyte``, ``petabyte``,
``exabyte``, with or without a final ``s``, powers of 1024). Anything else is refused,
naming the key.
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AccessLogConfig",
    "DEFAULT_ROLL_POLICY",
    "RollKind",
    "RollPolicy",
    "read_access_log",
]

DEFAULT_APPEND = True
DEFAULT_ROTATE_COUNT = -1

_UNITS = {"byte": 1, "kilobyte": 1 << 10, "megabyte": 1 << 20, "gigabyte": 1 << 30,
          "terabyte": 1 << 40, "petabyte": 1 << 50, "exabyte": 1 << 60}
_SIZE = re.compile(r"([0-9]{1,15})\.([a-z]+?)s?\Z")
_WEEKLY = re.compile(r"weekly\(([1-7])\)\Z")
_JAVA_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


class RollKind(enum.Enum):
    """When the file is rolled (util-logging's ``Policy`` cases)."""

    NEVER = "never"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    SIGHUP = "sighup"
    SIZE = "size"


@dataclass(frozen=True, slots=True)
class RollPolicy:
    """``httpAccessLogRollPolicy``: ``RollPolicy.read("100.megabytes")``.

    :param weekday: for ``WEEKLY``, the Java day of the week (1 = Sunday ... 7 = Saturday).
    :param max_bytes: for ``SIZE``, the size a file may reach before it is rolled.
    """

    kind: RollKind = RollKind.NEVER
    weekday: int = 0
    max_bytes: int = 0

    def __post_init__(self) -> None:
        if self.kind is RollKind.WEEKLY:
            if not 1 <= self.weekday <= 7:
                raise ValueError(f"weekday: expected 1 (Sunday) to 7 (Saturday), "
                                 f"got {self.weekday!r}")
        elif self.weekday:
            raise ValueError(f"weekday: only for weekly, got {self.weekday!r}")
        if self.kind is RollKind.SIZE:
            if self.max_bytes <= 0:
                raise ValueError(f"max_bytes: expected a size > 0, got {self.max_bytes!r}")
        elif self.max_bytes:
            raise ValueError(f"max_bytes: only for a size policy, got {self.max_bytes!r}")

    @classmethod
    def read(cls, text: str) -> "RollPolicy":
        """Linkerd's syntax, case-insensitive.

        :raises ValueError: naming what is accepted.
        """
        lower = text.strip().lower()
        for kind in (RollKind.NEVER, RollKind.HOURLY, RollKind.DAILY, RollKind.SIGHUP):
            if lower == kind.value:
                return cls(kind)
        m = _WEEKLY.match(lower)
        if m:
            return cls(RollKind.WEEKLY, weekday=int(m.group(1)))
        m = _SIZE.match(lower)
        if m and m.group(2) in _UNITS:
            size = int(m.group(1)) * _UNITS[m.group(2)]
            if size > 0:
                return cls(RollKind.SIZE, max_bytes=size)
            raise ValueError(f"expected a size > 0, got {text!r}")
        raise ValueError(
            f"unknown roll policy {text!r} (expected never, hourly, daily, weekly(n) with n "
            f"1 = Sunday to 7 = Saturday, sighup, or a size such as 100.megabytes)")

    def show(self) -> str:
        """The policy in Linkerd's syntax (a size in its largest exact unit)."""
        if self.kind is RollKind.WEEKLY:
            return f"weekly({self.weekday})"
        if self.kind is RollKind.SIZE:
            for unit, size in sorted(_UNITS.items(), key=lambda u: -u[1]):
                if self.max_bytes % size == 0:
                    n = self.max_bytes // size
                    return f"{n}.{unit}" + ("s" if n != 1 else "")
        return self.kind.value

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"RollPolicy.read({self.show()!r})"

    @property
    def weekday_name(self) -> str:
        """``Sunday`` ... ``Saturday`` for a weekly policy."""
        return _JAVA_DAYS[self.weekday - 1] if self.kind is RollKind.WEEKLY else ""


DEFAULT_ROLL_POLICY = RollPolicy()


@dataclass(frozen=True, slots=True)
class AccessLogConfig:
    """A router's access log file.

    :param path: ``httpAccessLog``: the file (relative paths are relative to l5d's working
        directory; missing directories are made at start).
    :param roll_policy: ``httpAccessLogRollPolicy``.
    :param append: ``httpAccessLogAppend``: keep what the file holds at start (else it is
        emptied once, at start).
    :param rotate_count: ``httpAccessLogRotateCount``: rolled files kept (-1: all).
    """

    path: str
    roll_policy: RollPolicy = DEFAULT_ROLL_POLICY
    append: bool = DEFAULT_APPEND
    rotate_count: int = DEFAULT_ROTATE_COUNT

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path or "\0" in self.path:
            raise ValueError(f"path: expected a file name, got {self.path!r}")
        if self.path.endswith("/"):
            raise ValueError(f"path: expected a file name, got the directory {self.path!r}")
        if not isinstance(self.roll_policy, RollPolicy):
            raise ValueError(f"roll_policy: expected a RollPolicy, got {self.roll_policy!r}")
        if isinstance(self.rotate_count, bool) or not isinstance(self.rotate_count, int) \
                or self.rotate_count < -1:
            raise ValueError(f"rotate_count: expected -1 (keep all) or a count >= 0, "
                             f"got {self.rotate_count!r}")

    @property
    def normalized_path(self) -> str:
        """The path with ``.`` and ``x/..`` folded (two routers may not share one file)."""
        return posixpath.normpath(self.path)

    def to_json(self) -> dict[str, Any]:
        """The router keys, as Linkerd spells them."""
        return {
            "httpAccessLog": self.path,
            "httpAccessLogRollPolicy": self.roll_policy.show(),
            "httpAccessLogAppend": self.append,
            "httpAccessLogRotateCount": self.rotate_count,
        }


#: the router keys read by :func:`read_access_log`
KEYS = ("httpAccessLog", "httpAccessLogRollPolicy", "httpAccessLogAppend",
        "httpAccessLogRotateCount")


def read_access_log(f: Any) -> AccessLogConfig | None:
    """The access log of the router whose :class:`~l5d.config._fields.Fields` is ``f``, or
    ``None`` without ``httpAccessLog``. The roll keys are checked either way."""
    path = f.string("httpAccessLog", None)
    policy_text = f.string("httpAccessLogRollPolicy", None)
    policy = DEFAULT_ROLL_POLICY
    if policy_text is not None:
        try:
            policy = RollPolicy.read(policy_text)
        except ValueError as err:
            raise f.error(str(err), "httpAccessLogRollPolicy") from None
    append = f.boolean("httpAccessLogAppend", DEFAULT_APPEND)
    rotate_count = f.integer("httpAccessLogRotateCount", DEFAULT_ROTATE_COUNT, minimum=-1)
    if path is None:
        return None
    try:
        return AccessLogConfig(path, policy, append, rotate_count)
    except ValueError as err:
        raise f.error(str(err).removeprefix("path: "), "httpAccessLog") from None
