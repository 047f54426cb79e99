"""The ``Forwarded`` header a server with ``addForwardedHeader`` adds (pure; rng injected).

Linkerd's ``AddForwardedHeader``: every request gets one more header,
``Forwarded: by=<by>;for=<for>[;host=<host>][;proto=<scheme>]`` (RFC 7239),
appended after any the client sent. ``by`` labels the address the request came
in on, ``for`` the client's; ``host`` is the request's host and ``proto`` the
scheme of an absolute-form target. Labels made "per connection" are made once
and kept on the connection.
"""

from __future__ import annotations

import ipaddress
import random
import string
from typing import Any, Callable

from l5d.config.forwarded import ForwardedHeaderConfig, LabelerConfig

__all__ = ["Forwarder", "format_ip", "obfuscated"]

_ALNUM = string.ascii_letters + string.digits
UNKNOWN = "unknown"


def obfuscated(rng: random.Random, length: int = 6) -> str:
    """``_`` and ``length`` random letters and digits (RFC 7239 6.3)."""
    return "_" + "".join(rng.choice(_ALNUM) for _ in range(length))


def format_ip(host: str, port: int | None = None) -> str:
    """``192.0.2.43``, ``"[2001:db8::17]"``, ``"192.0.2.43:8080"``; ``unknown`` for a
    wildcard or unparsable address (Linkerd's ClearIp and ClearIpPort)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return UNKNOWN
    if ip.is_unspecified:
        return UNKNOWN
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    if port is not None:
        return f'"{shown}:{port}"'
    return f'"{shown}"' if ip.version == 6 else shown


def _label(cfg: LabelerConfig, address: Any, router: str,
           rng: random.Random) -> Callable[[], str]:
    """A per-connection labeler: called once per request."""
    host = getattr(address, "host", "")
    match cfg.kind:
        case "ip":
            value = format_ip(host)
        case "ip:port":
            value = format_ip(host, getattr(address, "port", 0))
        case "connectionRandom":
            value = obfuscated(rng) if format_ip(host) != UNKNOWN else UNKNOWN
        case "requestRandom":
            if format_ip(host) == UNKNOWN:
                value = UNKNOWN
            else:
                return lambda: obfuscated(rng)
        case "router":
            value = "_" + router
        case "static":
            label = cfg.label or ""
            value = label if label.startswith("_") else "_" + label
        case _:
            raise AssertionError(cfg.kind)
    return lambda: value


class Forwarder:
    """Makes a server's ``Forwarded`` values. Reactor-thread only.

    :param config: the server's ``addForwardedHeader``.
    :param router: the router's label (for the ``router`` labeler).
    :param rng: for the random labels.
    """

    def __init__(self, config: ForwardedHeaderConfig, router: str, rng: random.Random) -> None:
        self._config = config
        self._router = router
        self._rng = rng

    def labelers(self, local: Any, peer: Any) -> tuple[Callable[[], str], Callable[[], str]]:
        """The ``by`` and ``for`` labelers of one connection (``IAddress``es)."""
        return (_label(self._config.by, local, self._router, self._rng),
                _label(self._config.for_, peer, self._router, self._rng))

    def value(self, conn: Any, host: bytes | None, scheme: bytes | None) -> bytes:
        """The header value for the next request on ``conn`` (a server connection)."""
        labels = getattr(conn, "forwarded_labels", None)
        if labels is None:
            transport = conn.transport
            labels = self.labelers(transport.getHost(), transport.getPeer())
            conn.forwarded_labels = labels
        by, for_ = labels
        out = f"by={by()};for={for_()}".encode("latin-1")
        if host:
            out += b";host=" + host
        if scheme:
            out += b";proto=" + scheme
        return out
