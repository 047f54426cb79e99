"""Linkerd's ``/client_state.json`` entries: what each client (bound id) holds (pure)."""

from __future__ import annotations

from typing import Any, Iterable

from dtab import ADDR_NEG, ADDR_PENDING, AddrBound, AddrFailed

__all__ = ["ClientStatesMemo", "addr_state", "client_states"]


def addr_state(addr: Any) -> dict[str, Any]:
    """Linkerd's ``ClientState``: ``{"state": ..., "addresses": [...]}``."""
    if isinstance(addr, AddrBound):
        return {"state": "bound", "addresses": sorted(a.show() for a in addr.addresses)}
    if isinstance(addr, AddrFailed):
        return {"state": f"Failed: {addr.cause}", "addresses": []}
    if addr is ADDR_NEG:
        return {"state": "Neg", "addresses": []}
    if addr is ADDR_PENDING or addr is None:
        return {"state": "Pending", "addresses": []}
    return {"state": str(addr), "addresses": []}


def client_states(routers: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Client name -> its :func:`addr_state`, over every router's clients."""
    out: dict[str, dict[str, Any]] = {}
    for router in routers:
        for client in router.clients.values():
            out[client.name] = addr_state(client.addr)
    return out


class ClientStatesMemo:
    """:func:`client_states` read again and again (a worker's, every second, for its
    control): :meth:`read` says when no client's address set is another object than at
    the previous read, so that nothing needs making or sending. It holds the clients'
    address sets only (which the clients hold anyway), not the entries."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, Any] = {}  # client name -> its addr at the previous read

    def read(self, routers: Any) -> dict[str, dict[str, Any]] | None:
        """Every client's entry, or ``None`` when nothing changed since the previous read."""
        routers = list(routers)
        held = self._held
        now = {client.name: client.addr for router in routers
               for client in router.clients.values()}
        if len(now) == len(held) and all(held.get(n, self) is a for n, a in now.items()):
            return None
        self._held = now
        return client_states(routers)
