"""Addresses and bound names: Finagle's ``Address``, ``Addr`` and ``Name.Bound`` (pure).

* :class:`Address` is one endpoint (host, port, metadata such as ``nodeName``).
  The host is kept as written (an IP literal or a DNS name); the shell resolves
  DNS names, never this package.
* ``Addr`` is the state of an address set: :class:`AddrBound` (possibly empty),
  :data:`ADDR_NEG` (no such name), :data:`ADDR_PENDING` (not known yet) or
  :class:`AddrFailed`.
* :class:`BoundName` is a leaf of a bound tree: the bound ``id`` (a path such as
  ``/$/inet/127.1/8080`` or ``/#/io.l5d.fs/hello``), the ``residual`` path left
  after the id, and the current ``addr``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Union as TypingUnion

from dtab.path import Path


@dataclass(frozen=True, slots=True)
class Address:
    """One endpoint. ``meta`` is a tuple of ``(key, value)`` pairs, sorted."""

    host: str
    port: int
    meta: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.host, str):
            raise ValueError(f"host: expected a string, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected an integer in 0..65535, got {self.port!r}")

    def show(self) -> str:
        """``host:port`` (IP literals normalised, IPv6 in brackets)."""
        ip = self.ip
        host = f"[{ip}]" if ":" in ip else ip
        return f"{host}:{self.port}"

    @property
    def ip(self) -> str:
        """The host normalised when it is an IPv4 literal in a short form (``127.1``)."""
        return normalize_ip(self.host)

    def meta_dict(self) -> dict[str, Any]:
        return dict(self.meta)

    def __str__(self) -> str:
        return self.show()


def normalize_ip(host: str) -> str:
    """``127.1`` -> ``127.0.0.1`` (as Java's InetAddress reads it); other hosts unchanged.

    Pure: uses ``inet_aton``/``inet_pton`` parsing only, no name lookup.
    """
    if host and all(c in "0123456789." for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return host
    if ":" in host:
        try:
            return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host))
        except OSError:
            return host
    return host


@dataclass(frozen=True, slots=True)
class AddrBound:
    """A known, possibly empty, set of addresses."""

    addresses: frozenset[Address] = field(default_factory=frozenset)
    meta: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.addresses, frozenset):
            raise ValueError("addresses: expected a frozenset")

    @classmethod
    def of(cls, *addresses: Address) -> "AddrBound":
        return cls(frozenset(addresses))


class _AddrSingleton:
    __slots__ = ()
    _name = "?"

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


class _AddrNeg(_AddrSingleton):
    __slots__ = ()
    _name = "ADDR_NEG"


class _AddrPending(_AddrSingleton):
    __slots__ = ()
    _name = "ADDR_PENDING"


ADDR_NEG = _AddrNeg()
ADDR_PENDING = _AddrPending()


@dataclass(frozen=True, slots=True)
class AddrFailed:
    """Resolution failed; ``cause`` is the message."""

    cause: str


Addr = TypingUnion[AddrBound, _AddrNeg, _AddrPending, AddrFailed]


@dataclass(frozen=True, slots=True)
class BoundName:
    """A name bound to an address set: ``id`` plus the ``residual`` path."""

    id: Path
    residual: Path
    addr: Addr

    def __post_init__(self) -> None:
        if not isinstance(self.id, Path) or not isinstance(self.residual, Path):
            raise ValueError("id and residual must be Paths")

    def show(self) -> str:
        """The bound id, as Finagle shows a ``Name.Bound`` whose id is a path."""
        return self.id.show()

    def __str__(self) -> str:
        return self.show()
