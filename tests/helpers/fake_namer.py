"""FakeNamer: a configured namer (``/#/<prefix>``) whose answers a test sets.

It satisfies :class:`dtab.Namer`: ``lookup(path)`` gets the path *after* the
prefix and answers with a snapshot (``Ok(tree)``, ``PENDING`` or ``Failed``),
and ``generation`` goes up whenever an answer changes, the way a watch-updated
namer bumps it when Kubernetes sends an event. Pure and synchronous.
"""

from __future__ import annotations

from typing import Callable

from dtab import NEG, Address, AddrBound, BoundName, Leaf, NameTree, Ok, Path
from dtab.activity import State

Rule = Callable[["FakeNamer", Path], State]


class FakeNamer:
    """Answers exact paths from a table, anything else from ``rule`` (default: ``Ok(NEG)``).

    :param prefix: where the namer is configured, e.g. ``"/#/io.l5d.fs"``; bound ids
        it builds start with it.
    :param rule: answers paths missing from the table.
    """

    def __init__(self, prefix: str, rule: Rule | None = None) -> None:
        self.prefix = Path.read(prefix)
        self.generation = 0
        self.lookups: list[Path] = []
        self._table: dict[Path, State] = {}
        self._rule = rule

    def lookup(self, path: Path) -> State:
        self.lookups.append(path)
        if path in self._table:
            return self._table[path]
        if self._rule is not None:
            return self._rule(self, path)
        return Ok(NEG)

    def answer(self, path: str, state: State) -> None:
        """From now on ``path`` (relative to the prefix) answers ``state``."""
        self._table[Path.read(path)] = state
        self.generation += 1

    def set_rule(self, rule: Rule | None) -> None:
        """From now on unlisted paths are answered by ``rule``."""
        self._rule = rule
        self.generation += 1

    def bound(self, id_rest: str, residual: str, *addresses: Address) -> NameTree:
        """A bound leaf whose id is ``prefix + id_rest``."""
        return Leaf(
            BoundName(
                self.prefix + Path.read(id_rest), Path.read(residual), AddrBound.of(*addresses)
            )
        )


def host_port_rule(namer: FakeNamer, path: Path) -> State:
    """``/<host>/<port>/<rest...>`` is bound to ``host:port`` with id ``prefix/host/port``."""
    if len(path) < 2 or not path.elems[1].isdigit():
        return Ok(NEG)
    host, port = path.elems[0], int(path.elems[1])
    return Ok(
        Leaf(
            BoundName(namer.prefix + path.take(2), path.drop(2), AddrBound.of(Address(host, port)))
        )
    )
