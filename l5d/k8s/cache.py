"""What one list-and-watch knows: the objects, the resourceVersion, what to do next (pure).

A :class:`WatchCache` is the state machine of a Kubernetes reflector without the I/O
(reference ``kubernetes.md`` (c), Linkerd's ``Watchable``): the shell
(:mod:`l5d.k8s.reflector`) feeds it list results and watch events and acts on what
it answers.

* :meth:`WatchCache.listed` replaces the objects with a list result and gives the
  changes since the previous state, deletions included (after a "too old" relist
  these are the events missed in the gap);
* :meth:`WatchCache.event` applies one watch event and answers :data:`CHANGED`,
  :data:`UNCHANGED`, :data:`RELIST` (410 Expired/Gone, in a 200 stream or not) or
  :data:`RETRY` (any other ERROR event: back off, then relist).

``BOOKMARK`` only advances the resourceVersion. An event for an object that is
older than the copy held (decimal resourceVersions compared as numbers, as Linkerd
does; anything else is opaque and always applied) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["CHANGED", "RELIST", "RETRY", "UNCHANGED", "Change", "WatchCache"]

CHANGED, UNCHANGED, RELIST, RETRY = "changed", "unchanged", "relist", "retry"


@dataclass(frozen=True, slots=True)
class Change:
    """One object added, modified or deleted (``object`` is its last known state)."""

    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    name: str
    object: Mapping[str, Any]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str | None:
    meta = _meta(obj)
    name = meta.get("name")
    if not isinstance(name, str):
        return None
    ns = meta.get("namespace")
    return f"{ns}/{name}" if isinstance(ns, str) and ns else name


def _rv(obj: Mapping[str, Any]) -> str | None:
    rv = _meta(obj).get("resourceVersion")
    return rv if isinstance(rv, str) and rv else None


def _older(new: str | None, old: str | None) -> bool:
    """``new`` is provably older than ``old`` (both decimal); opaque versions never are."""
    return (new is not None and old is not None and new.isdigit() and old.isdigit()
            and int(new) < int(old))


class WatchCache:
    """The objects of one watched collection (keyed ``namespace/name``) and its version."""

    def __init__(self) -> None:
        self.objects: dict[str, Mapping[str, Any]] = {}
        self.resource_version: str | None = None
        self.synced = False  # a list has succeeded at least once

    def listed(self, body: Mapping[str, Any]) -> list[Change]:
        """A list response (``{"metadata": {"resourceVersion"}, "items": [...]}``): the new
        state, and what changed from the old one (in name order)."""
        items = body.get("items") or []
        new: dict[str, Mapping[str, Any]] = {}
        for obj in items:
            if isinstance(obj, Mapping):
                name = _name(obj)
                if name is not None:
                    new[name] = obj
        old = self.objects
        changes = []
        for name in sorted(old.keys() | new.keys()):
            before, after = old.get(name), new.get(name)
            if after is None:
                changes.append(Change("DELETED", name, before))  # type: ignore[arg-type]
            elif before is None:
                changes.append(Change("ADDED", name, after))
            elif before != after:
                changes.append(Change("MODIFIED", name, after))
        self.objects = new
        self.resource_version = _rv(body) or self.resource_version
        self.synced = True
        return changes

    def event(self, event: Any) -> str:
        """Apply one decoded watch event; what the reflector should do next."""
        if not isinstance(event, Mapping):
            return RETRY
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, Mapping):
            return RETRY
        if kind == "ERROR":
            return RELIST if obj.get("code") == 410 or obj.get("reason") in (
                "Expired", "Gone") else RETRY
        rv = _rv(obj)
        if kind == "BOOKMARK":
            if rv is not None:
                self.resource_version = rv
            return UNCHANGED
        name = _name(obj)
        if name is None or kind not in ("ADDED", "MODIFIED", "DELETED"):
            return RETRY
        if rv is not None:
            self.resource_version = rv
        held = self.objects.get(name)
        if held is not None and _older(rv, _rv(held)):
            return UNCHANGED  # an event older than what we hold
        if kind == "DELETED":
            if held is None:
                return UNCHANGED
            del self.objects[name]
            return CHANGED
        if held == obj:
            return UNCHANGED
        self.objects[name] = obj
        return CHANGED
