"""What reloading a config changes: ``plan_reload(old, new) -> ReloadPlan`` (pure).

The plan says, for the running linker, what to keep, what to rebuild and which ports to
bind or unbind; :mod:`l5d.reload.swap` carries it out. The rules:

* ``admin`` and ``dtabStore`` cannot change without a restart (the admin server's socket,
  its token and sessions, and where saved dtab edits live): a new config that changes
  them is refused (:attr:`ReloadPlan.refused`), and nothing changes.
* A namer whose config is equal is kept (its watches and caches stay warm); one that
  changed, appeared or went is rebuilt, added or dropped.
* The telemeters are kept when ``telemetry`` is equal, else all rebuilt (routers hand
  their records to them, so a change there rebuilds every router too).
* A router is kept (the same object, its clients' connections and stats) when its config
  is equal except for ``dtab``, and no namer or telemeter changed; otherwise it is rebuilt,
  and its old self finishes its requests in flight before it closes its clients.
* A server is known by its ``ip:port`` (a port-0 server by its router, ip and position):
  one in both configs keeps its listening socket, one only in the new config is bound, one
  only in the old stops listening and drains.
* A router's ``dtab`` goes to the dtab store as its config dtab (an edit saved in the
  store still wins over it).

:attr:`ReloadPlan.changes` says all of it in lines meant for the log and the admin's
answer (``rt/http: dtab``, ``rt/http: servers 127.0.0.1:4142 added``...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from l5d.config.model import LinkerConfig, RouterConfig

__all__ = ["ReloadPlan", "ServerKey", "plan_reload", "server_key"]

#: a server's identity across configs: ``(ip, port)``, or ``(ip, 0, router, index)`` for a
#: port-0 server (each one binds a port of its own)
ServerKey = tuple


def server_key(label: str, index: int, ip: str, port: int) -> ServerKey:
    return (ip, port) if port else (ip, 0, label, index)


def show_key(key: ServerKey) -> str:
    ip = f"[{key[0]}]" if ":" in key[0] else key[0]
    return f"{ip}:{key[1]}" if len(key) == 2 else f"{ip}:0 (rt/{key[2]} servers[{key[3]}])"


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What a reload does (all tuples, in config order).

    :param refused: why the new config cannot be reloaded (empty: it can).
    :param routers_kept: labels of routers kept as they run (their dtab may still change).
    :param routers_rebuilt: labels in both configs whose router is built anew.
    :param routers_added: labels only in the new config. :param routers_removed: only in
        the old one.
    :param dtabs: labels whose config ``dtab`` changed (or that are new).
    :param namers_kept: indexes in the new config's ``namers`` of namers kept, with the
        index of the same namer in the old config: ``(new, old)``.
    :param telemetry_kept: the telemeters are kept.
    :param servers_kept: server keys in both configs (their sockets stay open).
    :param servers_bound: keys only in the new config. :param servers_unbound: only in
        the old one.
    :param changes: the plan as log lines.
    """

    refused: tuple[str, ...] = ()
    routers_kept: tuple[str, ...] = ()
    routers_rebuilt: tuple[str, ...] = ()
    routers_added: tuple[str, ...] = ()
    routers_removed: tuple[str, ...] = ()
    dtabs: tuple[str, ...] = ()
    namers_kept: tuple[tuple[int, int], ...] = ()
    telemetry_kept: bool = True
    servers_kept: tuple[ServerKey, ...] = ()
    servers_bound: tuple[ServerKey, ...] = ()
    servers_unbound: tuple[ServerKey, ...] = ()
    changes: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        """Nothing to do: the new config is the running one (as far as it matters)."""
        return not (self.changes or self.refused or self.routers_rebuilt or self.routers_added
                    or self.routers_removed or self.dtabs or self.servers_bound
                    or self.servers_unbound or not self.telemetry_kept)

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": list(self.changes),
            "routers": {"kept": list(self.routers_kept), "rebuilt": list(self.routers_rebuilt),
                        "added": list(self.routers_added),
                        "removed": list(self.routers_removed)},
            "servers": {"kept": [show_key(k) for k in self.servers_kept],
                        "bound": [show_key(k) for k in self.servers_bound],
                        "unbound": [show_key(k) for k in self.servers_unbound]},
        }


def _servers(config: LinkerConfig) -> dict[ServerKey, str]:
    return {server_key(r.label, i, s.ip, s.port): r.label
            for r in config.routers for i, s in enumerate(r.servers)}


def _differing_keys(old: Any, new: Any) -> list[str]:
    """The top-level keys of two ``to_json`` dicts whose values differ, in the new order."""
    a, b = old.to_json(), new.to_json()
    keys = list(b) + [k for k in a if k not in b]
    return [k for k in keys if a.get(k) != b.get(k)]


def _without_dtab(router: RouterConfig) -> RouterConfig:
    return dataclasses.replace(router, dtab=type(router.dtab)())


def plan_reload(old: LinkerConfig, new: LinkerConfig) -> ReloadPlan:
    """The plan that turns a linker running ``old`` into one running ``new``.

    Both configs are checked ones (``check_config``). Laws: ``plan_reload(c, c).unchanged``;
    a plan with ``refused`` changes nothing else (its other fields are empty).
    """
    refused = []
    if old.admin != new.admin:
        keys = ", ".join(f"admin.{k}" for k in _differing_keys(old.admin, new.admin))
        refused.append(f"{keys}: the admin server cannot change without a restart")
    if old.dtab_store != new.dtab_store:
        keys = ", ".join(f"dtabStore.{k}" for k in _differing_keys(old.dtab_store,
                                                                     new.dtab_store))
        refused.append(f"{keys}: the dtab store cannot change without a restart")
    old_tls = {server_key(r.label, i, s.ip, s.port): s.tls
               for r in old.routers for i, s in enumerate(r.servers)}
    for r in new.routers:
        for i, s in enumerate(r.servers):
            k = server_key(r.label, i, s.ip, s.port)
            if k in old_tls and old_tls[k] != s.tls:
                refused.append(f"routers[{r.label}].servers[{i}].tls: a kept port cannot "
                               f"change its TLS without a restart (certificate files are "
                               f"re-read when they change; use another port to add TLS)")
    if refused:
        return ReloadPlan(refused=tuple(refused))
    changes: list[str] = []

    old_namers = {n.dtab_prefix: (i, n) for i, n in enumerate(old.namers)}
    new_prefixes = {n.dtab_prefix for n in new.namers}
    namers_kept = []
    for j, n in enumerate(new.namers):
        found = old_namers.get(n.dtab_prefix)
        if found is None:
            changes.append(f"namers: {n.dtab_prefix.show()} added")
        elif found[1] == n:
            namers_kept.append((j, found[0]))
        else:
            changes.append(f"namers: {n.dtab_prefix.show()} changed")
    for n in old.namers:
        if n.dtab_prefix not in new_prefixes:
            changes.append(f"namers: {n.dtab_prefix.show()} removed")
    namers_changed = len(namers_kept) != len(new.namers) or len(old.namers) != len(new.namers)
    telemetry_kept = old.telemetry == new.telemetry
    if not telemetry_kept:
        changes.append("telemetry changed")

    old_routers = {r.label: r for r in old.routers}
    new_labels = [r.label for r in new.routers]
    kept, rebuilt, added, dtabs = [], [], [], []
    for r in new.routers:
        before = old_routers.get(r.label)
        if before is None:
            added.append(r.label)
            dtabs.append(r.label)
            changes.append(f"rt/{r.label}: added")
            continue
        if before.dtab != r.dtab:
            dtabs.append(r.label)
            changes.append(f"rt/{r.label}: dtab")
        same = _without_dtab(before) == _without_dtab(r)
        if same and not namers_changed and telemetry_kept:
            kept.append(r.label)
            continue
        rebuilt.append(r.label)
        if not same:
            keys = [k for k in _differing_keys(before, r) if k not in ("dtab", "servers")]
            if keys:
                changes.append(f"rt/{r.label}: {', '.join(keys)}")
            elif before.servers == r.servers:
                changes.append(f"rt/{r.label}: rebuilt")
    removed = [label for label in old_routers if label not in new_labels]
    changes.extend(f"rt/{label}: removed" for label in removed)

    before_servers, after_servers = _servers(old), _servers(new)
    servers_kept = tuple(k for k in after_servers if k in before_servers)
    bound = tuple(k for k in after_servers if k not in before_servers)
    unbound = tuple(k for k in before_servers if k not in after_servers)
    for k in bound:
        changes.append(f"rt/{after_servers[k]}: server {show_key(k)} added")
    for k in unbound:
        changes.append(f"rt/{before_servers[k]}: server {show_key(k)} removed")
    for k in servers_kept:
        if before_servers[k] != after_servers[k]:
            changes.append(f"server {show_key(k)}: moved from rt/{before_servers[k]} "
                           f"to rt/{after_servers[k]}")
    for r in new.routers:
        before = old_routers.get(r.label)
        if before is None:
            continue
        old_by_key = {server_key(r.label, i, s.ip, s.port): s for i, s in enumerate(before.servers)}
        for i, s in enumerate(r.servers):
            k = server_key(r.label, i, s.ip, s.port)
            if k in old_by_key and old_by_key[k] != s:
                keys = ", ".join(_differing_keys(old_by_key[k], s))
                changes.append(f"rt/{r.label}: server {show_key(k)}: {keys}")
    if old.config_reload != new.config_reload:
        changes.append("configReload: " + ", ".join(
            _differing_keys(old.config_reload, new.config_reload)))
    if old.usage != new.usage:
        changes.append("usage: " + ", ".join(_differing_keys(old.usage, new.usage)))
    return ReloadPlan(
        routers_kept=tuple(kept), routers_rebuilt=tuple(rebuilt), routers_added=tuple(added),
        routers_removed=tuple(removed), dtabs=tuple(dtabs), namers_kept=tuple(namers_kept),
        telemetry_kept=telemetry_kept, servers_kept=servers_kept, servers_bound=bound,
        servers_unbound=unbound, changes=tuple(changes))
