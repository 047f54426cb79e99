"""Linkerd's ``/client_state.json`` entries: what each client (bound id) holds (pure)."""

from __future__ import annotations

from typing import Any, Iterable

from dtab import ADDR_NEG, ADDR_PENDING, AddrBound, AddrFailed

__all__ = ["addr_state", "client_states"]


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
