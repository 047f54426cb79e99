"""``socketOptions`` of a server, a client or the admin (pure).

Linkerd's keys and defaults (reference 1.10): ``noDelay`` true, ``reuseAddr``
true, ``reusePort`` false, ``readTimeoutMs`` / ``writeTimeoutMs`` unbounded,
``keepAlive`` false, ``backlog`` the OS default. What l5d does with each is in
``docs/compat.md``: a server's ``backlog``, ``keepAlive`` and ``reusePort`` are
applied to its listening socket; TCP_NODELAY is always on and listening sockets
always reuse their address (a config's ``noDelay: false`` and ``reuseAddr:
false`` are accepted and have no effect); the read and write timeouts have
l5d's own keys (``headerTimeoutMs``, ``bodyIdleTimeMs``, ``sendTimeoutMs``) and
are accepted here without effect, to keep Linkerd configs valid. On a client
and on the admin the block is checked and has no effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l5d.config._check import check_int, check_optional_seconds, require
from l5d.config._fields import Fields

__all__ = ["DEFAULT_BACKLOG", "SOCKET_OPTIONS_KEYS", "SocketOptionsConfig",
           "read_socket_options"]

#: what l5d listens with when ``backlog`` is left out (Twisted's listenTCP default is 50)
DEFAULT_BACKLOG = 511

SOCKET_OPTIONS_KEYS = ("noDelay", "reuseAddr", "reusePort", "readTimeoutMs", "writeTimeoutMs",
                       "keepAlive", "backlog")


@dataclass(frozen=True, slots=True)
class SocketOptionsConfig:
    """:param backlog: listen backlog (``None``: l5d's default, :data:`DEFAULT_BACKLOG`)."""

    no_delay: bool = True
    reuse_addr: bool = True
    reuse_port: bool = False
    read_timeout_s: float | None = None
    write_timeout_s: float | None = None
    keep_alive: bool = False
    backlog: int | None = None

    def __post_init__(self) -> None:
        for name in ("no_delay", "reuse_addr", "reuse_port", "keep_alive"):
            require(isinstance(getattr(self, name), bool), name, getattr(self, name), "a bool")
        check_optional_seconds("read_timeout_s", self.read_timeout_s)
        check_optional_seconds("write_timeout_s", self.write_timeout_s)
        if self.backlog is not None:
            check_int("backlog", self.backlog, minimum=1)

    @property
    def listen_backlog(self) -> int:
        return DEFAULT_BACKLOG if self.backlog is None else self.backlog

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"noDelay": self.no_delay, "reuseAddr": self.reuse_addr,
                               "reusePort": self.reuse_port, "keepAlive": self.keep_alive}
        if self.read_timeout_s is not None:
            out["readTimeoutMs"] = round(self.read_timeout_s * 1000)
        if self.write_timeout_s is not None:
            out["writeTimeoutMs"] = round(self.write_timeout_s * 1000)
        if self.backlog is not None:
            out["backlog"] = self.backlog
        return out


def _optional_ms(f: Fields, key: str) -> float | None:
    ms = f.integer(key, None, minimum=1)
    return None if ms is None else ms / 1000.0


def read_socket_options(f: Fields, key: str = "socketOptions") -> SocketOptionsConfig | None:
    """The ``socketOptions`` block of the object ``f``, or ``None`` when left out."""
    sub = f.mapping(key)
    if sub is None:
        return None
    sub.expect(*SOCKET_OPTIONS_KEYS)
    return SocketOptionsConfig(
        no_delay=sub.boolean("noDelay", True),
        reuse_addr=sub.boolean("reuseAddr", True),
        reuse_port=sub.boolean("reusePort", False),
        read_timeout_s=_optional_ms(sub, "readTimeoutMs"),
        write_timeout_s=_optional_ms(sub, "writeTimeoutMs"),
        keep_alive=sub.boolean("keepAlive", False),
        backlog=sub.integer("backlog", None, minimum=1),
    )
