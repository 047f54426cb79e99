"""The state of a name that may still be resolving: Finagle's ``Activity.State`` (pure).

A namer answers a lookup with :class:`Ok` (a value), :data:`PENDING` (not known
yet, e.g. before the first Kubernetes sync) or :class:`Failed` (an error). These
are snapshots: a namer's answer may change later, and bindings follow it (see
:class:`dtab.bind.BindingCache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union as TypingUnion


@dataclass(frozen=True, slots=True)
class Ok:
    """A known value."""

    value: Any


class _Pending:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PENDING"

    def __reduce__(self) -> str:
        return "PENDING"


PENDING = _Pending()


@dataclass(frozen=True, slots=True)
class Failed:
    """A lookup or binding that raised; ``error`` is the exception."""

    error: BaseException

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Failed)
            and type(other.error) is type(self.error)
            and str(other.error) == str(self.error)
        )

    def __hash__(self) -> int:
        return hash((type(self.error), str(self.error)))


State = TypingUnion[Ok, _Pending, Failed]
