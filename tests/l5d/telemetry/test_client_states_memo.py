"""l5d.telemetry.client_state.ClientStatesMemo: entries made again only when they change."""

from __future__ import annotations

from types import SimpleNamespace

from dtab import ADDR_NEG, AddrBound, Address

from l5d.telemetry.client_state import ClientStatesMemo, client_states


def router(**clients) -> SimpleNamespace:
    return SimpleNamespace(clients={n: SimpleNamespace(name=n, addr=a)
                                    for n, a in clients.items()})


def test_unchanged_reads_say_none_and_a_change_gives_every_entry() -> None:
    web = AddrBound(frozenset({Address("10.0.0.2", 80), Address("10.0.0.1", 80)}))
    rt = router(**{"/#/web": web, "/#/db": ADDR_NEG})
    memo = ClientStatesMemo()
    first = memo.read([rt])
    assert first == client_states([rt])
    assert first["/#/web"]["addresses"] == ["10.0.0.1:80", "10.0.0.2:80"]
    assert memo.read([rt]) is None
    rt.clients["/#/web"].addr = AddrBound(frozenset({Address("10.0.0.3", 80)}))
    assert memo.read([rt]) == client_states([rt])
    assert memo.read([rt]) is None
    del rt.clients["/#/db"]  # a client gone is a change too
    assert memo.read([rt]) == {"/#/web": {"state": "bound", "addresses": ["10.0.0.3:80"]}}
    rt.clients["/#/api"] = SimpleNamespace(name="/#/api", addr=None)
    assert memo.read([rt])["/#/api"] == {"state": "Pending", "addresses": []}
