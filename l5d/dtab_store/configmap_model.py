"""``io.l5d.k8s.configMap``'s decisions without the I/O: ConfigMap JSON <-> per-router dtabs,
who changed what, and how a compare-and-swap write goes (pure).

One ConfigMap holds every router's base dtab: ``data[<router label>]`` is the dtab text.
Every router's version is the ConfigMap's ``metadata.resourceVersion``, so a write to
any key moves every router's version (a write names the version of the whole map it
edits, and the API server's optimistic concurrency does the compare-and-swap). The last
change l5d made is described by four annotations (:data:`CHANGED_BY`, :data:`CHANGED_AT`,
:data:`CHANGED_ROUTER`, :data:`CHANGED_SHA256`); a change whose text does not match them
was made outside l5d (``kubectl edit``, say) and is attributed to the field manager the
API server recorded, at the time it recorded.

:class:`DtabMap` is what one node knows of the map (reactor-thread only): it applies
each state of the object it sees (a list, a watch event, the answer to its own write),
never going back to an older resourceVersion, and answers which routers' texts changed.
A key whose text does not parse keeps the router on its last good dtab (reported in
:attr:`Seen.invalid`, for the shell to log). :func:`plan_write` decides a write.
"""

from __future__ import annotations

import copy
import hashlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from dtab import Dtab, DtabError
from l5d.dtab_store.model import Change, Versioned

__all__ = ["CHANGED_AT", "CHANGED_BY", "CHANGED_ROUTER", "CHANGED_SHA256", "CONFLICT",
           "CREATE", "DEFAULT_HISTORY_SIZE", "DtabMap", "FETCH", "REPLACE", "Plan", "Seen",
           "attribution", "object_with", "plan_write", "resource_version"]

CHANGED_BY = "l5d.io/dtab-changed-by"
CHANGED_AT = "l5d.io/dtab-changed-at"
CHANGED_ROUTER = "l5d.io/dtab-changed-router"
CHANGED_SHA256 = "l5d.io/dtab-changed-sha256"
DEFAULT_HISTORY_SIZE = 20
OUTSIDE = "(outside l5d)"

CREATE, REPLACE, FETCH, CONFLICT = "create", "replace", "fetch", "conflict"


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = obj.get("metadata") if obj else None
    return meta if isinstance(meta, Mapping) else {}


def resource_version(obj: Mapping[str, Any] | None) -> str | None:
    rv = _meta(obj).get("resourceVersion")
    return rv if isinstance(rv, str) and rv else None


def _data(obj: Mapping[str, Any] | None) -> dict[str, str]:
    data = obj.get("data") if obj else None
    if not isinstance(data, Mapping):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _older(new: str | None, old: str | None) -> bool:
    """``new`` is provably older than ``old`` (both decimal, as Linkerd compares them)."""
    return (new is not None and old is not None and new.isdigit() and old.isdigit()
            and int(new) < int(old))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def attribution(obj: Mapping[str, Any], router: str, text: str) -> tuple[str, float | None]:
    """Who made ``router``'s ``text`` in ``obj``, and when (``None``: unknown).

    l5d's annotations when they name this router and this exact text; otherwise the
    change was made outside l5d: by the field manager the API server records as owning
    ``data.<router>`` (``kubectl-edit``, ``kubectl-patch``...; the last writer of a value
    owns it), at its time (to the second).
    """
    notes = _meta(obj).get("annotations") or {}
    if (isinstance(notes, Mapping) and notes.get(CHANGED_ROUTER) == router
            and notes.get(CHANGED_SHA256) == _sha256(text)):
        return str(notes.get(CHANGED_BY) or "unknown"), _epoch(notes.get(CHANGED_AT))
    fields = [f for f in _meta(obj).get("managedFields") or () if isinstance(f, Mapping)]
    owners = [f for f in fields if f"f:{router}" in _owned_data(f)]
    latest = max(owners or fields, key=lambda f: str(f.get("time") or ""), default=None)
    if latest is not None:
        return f"{latest.get('manager') or 'unknown'} {OUTSIDE}", _epoch(latest.get("time"))
    return f"unknown {OUTSIDE}", None


def _owned_data(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``data`` keys a managedFields entry owns (``{"f:<key>": {}}``)."""
    fields = entry.get("fieldsV1")
    data = fields.get("f:data") if isinstance(fields, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def object_with(base: Mapping[str, Any] | None, namespace: str, name: str, router: str,
                text: str, who: str, at: float) -> dict[str, Any]:
    """The ConfigMap to send: ``base`` (as read, its resourceVersion kept for the
    compare-and-swap) with ``data[router] = text`` and the change annotations; a new
    ConfigMap when ``base`` is ``None``."""
    if base is None:
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": namespace}}
    else:
        obj = copy.deepcopy(dict(base))
        obj.setdefault("metadata", {}).pop("managedFields", None)
    obj["data"] = dict(_data(base), **{router: text})
    meta = obj["metadata"]
    meta["annotations"] = dict(meta.get("annotations") or {}, **{
        CHANGED_BY: who, CHANGED_AT: _timestamp(at), CHANGED_ROUTER: router,
        CHANGED_SHA256: _sha256(text)})
    return obj


@dataclass(frozen=True, slots=True)
class Plan:
    """How a write goes: :data:`CREATE` (POST a new map), :data:`REPLACE` (PUT ``base``
    changed, at its resourceVersion), :data:`FETCH` (read the map afresh, then plan
    again) or :data:`CONFLICT` (the expected version is stale)."""

    action: str
    base: Mapping[str, Any] | None = None


def plan_write(obj: Mapping[str, Any] | None, stored: bool, expected: str | None,
               fresh: bool) -> Plan:
    """Decide a compare-and-swap write against the map as known.

    :param obj: the ConfigMap (``None``: absent).
    :param stored: the router has a dtab stored in it (its key holds a dtab that parses).
    :param expected: the version the writer edits; ``None``: nothing stored yet.
    :param fresh: ``obj`` was just read from the API (a doubt cannot be settled by
        reading again, so it is a conflict).
    """
    if expected is None:
        if obj is None:
            return Plan(CREATE)
        if not stored:
            return Plan(REPLACE, obj)
    elif obj is not None and resource_version(obj) == expected:
        return Plan(REPLACE, obj)
    return Plan(CONFLICT) if fresh else Plan(FETCH)


@dataclass(frozen=True, slots=True)
class Seen:
    """What applying one state of the map changed: the routers whose dtab changed (``None``:
    the key was removed), each with its :class:`Change` (``None`` for a removal), and the
    keys that did not parse (router, message)."""

    changed: tuple[tuple[str, Versioned | None, Change | None], ...] = ()
    invalid: tuple[tuple[str, str], ...] = ()


class DtabMap:
    """One node's view of the dtab ConfigMap. Reactor-thread only.

    :param wall: epoch seconds, for changes whose time is not recorded in the object.
    :param history_size: changes kept per router.
    """

    def __init__(self, wall: Callable[[], float],
                 history_size: int = DEFAULT_HISTORY_SIZE) -> None:
        if history_size < 1:
            raise ValueError(f"history_size: must be at least 1, got {history_size!r}")
        self._wall = wall
        self._history_size = history_size
        self.synced = False
        self.object: Mapping[str, Any] | None = None
        self._texts: dict[str, str] = {}  # as in the map, parsable or not
        self._good: dict[str, tuple[str, Dtab]] = {}  # the last text that parsed, parsed
        self._history: dict[str, deque[Change]] = {}

    @property
    def version(self) -> str | None:
        return resource_version(self.object)

    def read(self, router: str) -> Versioned | None:
        good = self._good.get(router)
        version = self.version
        return Versioned(good[1], version) if good is not None and version else None

    def history(self, router: str) -> list[Change]:
        return list(reversed(self._history.get(router, ())))

    def versioned(self, obj: Mapping[str, Any] | None, router: str) -> Versioned | None:
        """``router``'s dtab in ``obj`` (another state than the one held: a conflict's),
        reusing the parsed dtab held when the text is the same."""
        text = _data(obj).get(router)
        rv = resource_version(obj)
        if text is None or rv is None:
            return None
        good = self._good.get(router)
        if good is not None and good[0] == text:
            return Versioned(good[1], rv)
        try:
            return Versioned(Dtab.read(text), rv)
        except DtabError:
            return None

    def apply(self, obj: Mapping[str, Any] | None) -> Seen:
        """Take ``obj`` (``None``: the map is absent) as the current state, unless it is
        older than the state held; the routers whose text changed."""
        if obj is not None and _older(resource_version(obj), self.version):
            return Seen()
        previous_version = self.version
        self.synced = True
        self.object = obj
        texts = _data(obj)
        changed: list[tuple[str, Versioned | None, Change | None]] = []
        invalid: list[tuple[str, str]] = []
        for router in sorted(self._texts.keys() | texts.keys()):
            before, after = self._texts.get(router), texts.get(router)
            if before == after:
                continue
            if after is None:
                if self._good.pop(router, None) is not None:
                    changed.append((router, None, None))
                continue
            try:
                parsed = Dtab.read(after)
            except DtabError as err:
                invalid.append((router, str(err)))
                continue
            self._good[router] = (after, parsed)
            who, at = attribution(obj or {}, router, after)
            change = Change(router, self.version or "", after, previous_version
                            if before is not None else None, before, who,
                            self._wall() if at is None else at)
            self._history.setdefault(router, deque(maxlen=self._history_size)).append(change)
            changed.append((router, self.read(router), change))
        self._texts = texts
        return Seen(tuple(changed), tuple(invalid))
