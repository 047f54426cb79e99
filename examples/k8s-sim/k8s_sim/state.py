"""The state directory: ``state.json`` (what ``up`` made), ``api.json``, logs.

``api.json`` is written by the control process (:mod:`.apiserver`); ``state.json`` by
:class:`State`. ``down`` works from whatever of them is left.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .layout import BRIDGE
from .procs import SimError


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically with ``data`` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """:return: the JSON in ``path``, or ``None`` if it is missing or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def tail(path: Path | str, lines: int = 20) -> str:
    """:return: the last ``lines`` lines of a log file ("" if unreadable)."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Pod:
    """A demo pod: a helloworld process in node ``node``, serving ``ip:port``.

    ``in_service``: whether its address is in the service's Endpoints.
    """

    name: str
    service: str
    node: int
    ip: str
    port: int
    pid: int = 0
    log: str = ""
    in_service: bool = False


@dataclass
class State:
    """What ``up`` made; ``state.json`` in the state directory."""

    dir: Path
    nodes: int = 0
    namespaces: list = field(default_factory=list)
    bridge: str = BRIDGE
    python: str = sys.executable
    control_pid: int = 0
    api: dict = field(default_factory=dict)
    l5d: dict = field(default_factory=dict)          # node-N -> {pid, log, config, proxy_pid}
    config: str = ""                                 # the l5d config file every node runs
    config_source: str = ""
    kubectl_proxy: bool = False
    secret_mounts: list = field(default_factory=list)  # mountPaths of the secret volumes
    pods: list[Pod] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    def save(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k not in ("dir", "pods")}
        data["pods"] = [p.__dict__ for p in self.pods]
        write_json(self.file, data)

    @classmethod
    def load(cls, state_dir: Path) -> State | None:
        """:return: the state saved in ``state_dir``, or ``None`` if there is none."""
        data = read_json(Path(state_dir) / "state.json")
        if not isinstance(data, dict):
            return None
        pods = [Pod(**p) for p in data.pop("pods", [])]
        st = cls(dir=Path(state_dir), **data)
        st.pods = pods
        return st

    def pods_of(self, service: str) -> list[Pod]:
        return [p for p in self.pods if p.service == service]


def need_state(state_dir: Path) -> State:
    """:return: the state of a sim that is up.

    :raises SimError: if ``state_dir`` has none (or no API server in it).
    """
    st = State.load(Path(state_dir).resolve())
    if st is None or not st.api:
        raise SimError(f"not up (no state in {state_dir})")
    return st
