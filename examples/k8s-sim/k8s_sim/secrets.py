"""Secret volumes of the DaemonSet, as the kubelet lays them out (TLS certificates).

``restart-l5d --manifest daemonset/l5d-tls.yml`` runs that manifest's ConfigMap config
and shows every ``secret`` volume of its DaemonSet at the container's ``mountPath``
(read-only, in l5d's private mount namespace), filled from the manifest's Secret.
The files are laid out as the kubelet's atomic writer does::

    DIR/..2026_12_07_16_40_00.123/tls.crt    the data of one version
    DIR/..data -> ..2026_12_07_16_40_00.123  swapped by one rename on an update
    DIR/tls.crt -> ..data/tls.crt            what the config names

so ``update-secret --manifest FILE`` (new Secret data) swaps every file of a node at
once, as a ``kubectl apply`` of a new Secret does on a real cluster.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from pathlib import Path

from .objects import load_yaml_docs
from .procs import SimError

__all__ = ["secret_volumes", "write_secret"]


def secret_volumes(manifest: Path) -> list[tuple[str, dict[str, bytes]]]:
    """``(mountPath, {file: bytes})`` for every secret volume of the manifest's DaemonSet
    whose Secret is in the manifest.

    :raises SimError: a secret volume whose Secret is not in the manifest.
    """
    docs = load_yaml_docs(manifest)
    secrets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Secret"}
    out = []
    for ds in (d for d in docs if d.get("kind") == "DaemonSet"):
        spec = ds["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for c in spec["containers"]
                  for m in c.get("volumeMounts", [])}
        for vol in spec.get("volumes", []):
            if "secret" not in vol or vol["name"] not in mounts:
                continue
            name = vol["secret"]["secretName"]
            if name not in secrets:
                raise SimError(f"{manifest}: the Secret {name} of volume {vol['name']} "
                               f"is not in the manifest")
            data = {k: base64.b64decode(v) for k, v in (secrets[name].get("data") or {}).items()}
            out.append((mounts[vol["name"]], data))
    return out


def write_secret(directory: Path, data: dict[str, bytes]) -> None:
    """Lay ``data`` out in ``directory`` as the kubelet does, or swap it in atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9}"
    version = directory / stamp
    version.mkdir()
    for name, content in data.items():
        (version / name).write_bytes(content)
        (version / name).chmod(0o444)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    tmp = directory / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(stamp, tmp)
    os.replace(tmp, directory / "..data")  # the one atomic step
    for name in data:
        link = directory / name
        if not link.is_symlink():
            os.symlink(f"..data/{name}", link)
    if old is not None:
        shutil.rmtree(directory / old, ignore_errors=True)
