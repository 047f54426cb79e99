"""Whole-config rules that no single object can check (pure).

These are Linkerd's ``Linker.validateConfig`` checks plus namerd's namer
check. :func:`check_config` runs from :func:`~l5d.config.parse.parse_config`
(with positions, so errors name a line) and again from
:func:`l5d.linker.build` (for configs built in code), which is why
``l5d --validate`` (parse + build) reports them too.

* :class:`NoRoutersSpecified`: ``routers`` is empty.
* :class:`ConflictingLabels`: two routers with one label.
* :class:`ConflictingPorts`: two listeners (servers, admin) on one ip:port.
  Port 0 ("any free port") never conflicts. ``0.0.0.0`` and ``::`` overlap
  every address, since binding them would fail just the same.
* :class:`ConflictingNamers`: two namers whose ``/#/`` prefixes are equal or
  where one is a prefix of the other (delegation to either would be ambiguous).
* Two routers with one ``httpAccessLog`` file (after folding ``.`` and ``..``): two
  writers would roll and reopen one file behind each other's back (a plain
  :class:`ConfigError`).
"""

from __future__ import annotations

import ipaddress
from typing import Callable, NoReturn

from l5d.config.errors import (
    ConfigError,
    ConflictingLabels,
    ConflictingNamers,
    ConflictingPorts,
    NoRoutersSpecified,
)
from l5d.config.model import LinkerConfig

__all__ = ["check_config"]

Locate = Callable[[str], tuple[int, int]]


def _nowhere(key_path: str) -> tuple[int, int]:
    return (0, 0)


def check_config(
    config: LinkerConfig, *, source: str = "<config>", locate: Locate = _nowhere
) -> None:
    """Raise the first rule ``config`` breaks, in the order listed in the module docstring.

    :param source: file name for the error.
    :param locate: key path → (line, column); the default knows no positions.
    :raises ConfigError: one of the subclasses above.
    """

    def fail(cls: type[ConfigError], message: str, key_path: str) -> NoReturn:
        line, column = locate(key_path)
        raise cls(message, key_path=key_path, line=line, column=column, source=source)

    if not config.routers:
        fail(NoRoutersSpecified, "at least one router must be specified", "routers")

    labels: dict[str, str] = {}
    for i, router in enumerate(config.routers):
        if router.label in labels:
            fail(ConflictingLabels,
                 f'multiple routers with the label "{router.label}" (also {labels[router.label]})',
                 f"routers[{i}].label")
        labels[router.label] = f"routers[{i}]"

    listeners = [("admin", config.admin.ip, config.admin.port, "admin.port")]
    for i, router in enumerate(config.routers):
        for j, server in enumerate(router.servers):
            name = f"routers[{i}].servers[{j}]"
            listeners.append((name, server.ip, server.port, f"{name}.port"))
    seen: list[tuple[str, str, int]] = []
    for name, ip, port, key_path in listeners:
        if port == 0:
            continue
        for other, other_ip, other_port in seen:
            if port == other_port and _overlap(ip, other_ip):
                fail(ConflictingPorts,
                     f"server conflict on {_hostport(ip, port)} (also used by {other})", key_path)
        seen.append((name, ip, port))

    prefixes: list[tuple[str, object]] = []
    for k, namer in enumerate(config.namers):
        mine = namer.dtab_prefix
        for other, theirs in prefixes:
            if mine.startswith(theirs) or theirs.startswith(mine):  # type: ignore[attr-defined]
                fail(ConflictingNamers,
                     f'namer prefix "{mine.show()}" conflicts with {other} '
                     f'("{theirs.show()}")',  # type: ignore[attr-defined]
                     f"namers[{k}].prefix")
        prefixes.append((f"namers[{k}]", mine))

    logs: dict[str, str] = {}
    for i, router in enumerate(config.routers):
        if router.access_log is None:
            continue
        path = router.access_log.normalized_path
        if path in logs:
            fail(ConfigError, f'access log "{router.access_log.path}" is also written by '
                              f"{logs[path]} (give each router its own file)",
                 f"routers[{i}].httpAccessLog")
        logs[path] = f"routers[{i}]"


def _overlap(a: str, b: str) -> bool:
    try:
        ia, ib = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return a == b
    return ia == ib or ia.is_unspecified or ib.is_unspecified


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
