"""What the soak does to the cluster while the load runs (shell): the Endpoints churn,
the one-off events of :mod:`.plan`, and the checks at the end.

Every step goes through the sim's own functions (``examples/k8s-sim/k8s_sim``) or l5d's
admin API on a node's address, with the admin token the sim gives l5d. The churn and
the pod kill both change the sim's state file, so they share :attr:`Cluster.lock`.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from k8s_sim.apiserver import attach_api, restart_apiserver
from k8s_sim.faults import kill_pod, kill_worker
from k8s_sim.layout import L5D_PORTS, NAMESPACE, l5d_ip
from k8s_sim.scaling import scale
from k8s_sim.state import State
from l5d.workers.procs import worker_pids

from .plan import CHURN_INTERVAL_S, Planned, churn_step
from .report import Check, EventResult

NODES = (1, 2, 3)
#: how long an event waits for its effect to reach every node (a bound, not a figure)
SETTLE_S = 30.0
#: the dentry a dtab save adds in odd rounds (and removes in even ones): it matches the
#: load's world-v1 requests and binds them to the same service, by another path
DTAB_EDIT = "/host/world-v1 => /srv/world-v1;"
#: the client setting a config reload adds in odd rounds (and removes in even ones)
CLIENT_EDIT = "client: {requestAttemptTimeoutMs: 9000}"


class Skipped(Exception):
    """An event that cannot happen in this cluster; the message says why."""


@dataclass
class Cluster:
    """The sim the soak runs against, and what the events need of it."""

    state_dir: Path
    token: str
    config: Path
    original_config: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, state_dir: Path) -> Cluster:
        st = State.load(state_dir)
        config = Path(st.config)
        return cls(state_dir, (state_dir / "admin-token").read_text().strip(), config,
                   config.read_text())


def admin(node: int, method: str, page: str, token: str = "", document: Any = None,
          timeout: float = 60) -> tuple[int, Any]:
    """One request to node ``node``'s admin API (the token for writes).

    :return: the status and the JSON answer (``None`` when not JSON).
    """
    conn = http.client.HTTPConnection(l5d_ip(node), L5D_PORTS["admin"], timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if document is not None:
        body = json.dumps(document)
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, page, body=body, headers=headers)
        rsp = conn.getresponse()
        data = rsp.read()
    finally:
        conn.close()
    try:
        return rsp.status, json.loads(data or b"null")
    except ValueError:
        return rsp.status, None


def _until(what: str, probe: Callable[[], bool], timeout_s: float = SETTLE_S) -> float:
    """Poll ``probe`` every 50 ms; :return: the seconds it took. :raises RuntimeError:"""
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"{what}: not after {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def dtab_save(c: Cluster, rnd: int) -> str:
    """Save an edit of the outgoing dtab on node-1's admin (PUT with its version, as the
    dtab page does); it must reach every node through the ConfigMap l5d-dtabs."""
    status, current = admin(1, "GET", "/admin/dtab/outgoing.json")
    assert status == 200, current
    lines = [x for x in current["dtab"].splitlines() if x.strip() != DTAB_EDIT]
    if rnd % 2:
        lines.append(DTAB_EDIT)
    status, saved = admin(1, "PUT", "/admin/dtab/outgoing.json", c.token,
                          {"dtab": "\n".join(lines) + "\n", "version": current["version"]})
    if status != 200:
        raise RuntimeError(f"PUT /admin/dtab/outgoing.json: {status} {saved}")
    version = saved["version"]
    took = _until("the new dtab on every node", lambda: all(
        admin(n, "GET", "/admin/dtab/outgoing.json")[1]["version"] == version for n in NODES))
    return (f"{'added' if rnd % 2 else 'removed'} `{DTAB_EDIT}`; version {version} on every "
            f"node {took:.2f} s after the PUT")


def pod_kill(c: Cluster, rnd: int) -> str:
    """Kill a hello pod's process (node-1's in odd rounds, node-2's in even ones); the
    kubelet's part follows (``k8s_sim.faults``)."""
    r = kill_pod(c.state_dir, f"hello-n{2 - rnd % 2}-2", lock=c.lock)
    return (f"{r.pod} pid {r.old_pid} SIGKILLed; out of the Endpoints after "
            f"{r.out_of_endpoints - r.killed:.1f} s, pid {r.new_pid} ready after "
            f"{r.ready - r.killed:.1f} s, back after {r.back_in_endpoints - r.killed:.1f} s")


def apiserver_restart(c: Cluster, rnd: int) -> str:
    """Restart kube-apiserver (same port, etcd and data): every l5d's watches break."""
    info = restart_apiserver(c.state_dir)
    return (f"kube-apiserver pid {info['apiserver_pid']}, serving again after "
            f"{info['restart_s']:.1f} s")


def config_reload(c: Cluster, rnd: int) -> str:
    """Change the config file (a client setting on the outgoing router in odd rounds, the
    original back in even ones) and reload it on every node (POST /admin/reload)."""
    text = c.original_config
    if rnd % 2:
        label = re.search(r"^( *)label: outgoing\n", text, re.M)
        assert label, "no outgoing router in the config"
        text = text[:label.end()] + f"{label.group(1)}{CLIENT_EDIT}\n" + text[label.end():]
    c.config.write_text(text)
    changes = []
    for n in NODES:
        status, answer = admin(n, "POST", "/admin/reload", c.token)
        if status != 200:
            raise RuntimeError(f"node-{n} POST /admin/reload: {status} {answer}")
        changes.append(answer.get("changes"))
    return (f"{'added' if rnd % 2 else 'removed'} `{CLIENT_EDIT}`; every node reloaded; "
            f"changes {changes[0]}")


def worker_kill(c: Cluster, rnd: int) -> str:
    """Kill one l5d worker process (node ``rnd % 3 + 1``'s) with SIGTERM, as ``kill`` and a
    container runtime do: it drains (each response on its connections says ``Connection:
    close``) while the other worker takes the new connections, and l5d starts another."""
    node = rnd % 3 + 1
    st = State.load(c.state_dir)
    pid = st.l5d[f"node-{node}"]["pid"]
    before = len(worker_pids(pid))
    killed = kill_worker(c.state_dir, node)
    if killed is None:
        raise Skipped("l5d runs one process")
    took = _until("a new worker", lambda: len(set(worker_pids(pid)) - {killed}) >= before)
    return f"node-{node} worker {killed} SIGTERMed; {before} workers again after {took:.1f} s"


ACTIONS: dict[str, Callable[[Cluster, int], str]] = {
    "dtab-save": dtab_save, "pod-kill": pod_kill, "apiserver-restart": apiserver_restart,
    "config-reload": config_reload, "worker-kill": worker_kill}


def run_events(c: Cluster, planned: list[Planned], start: float,
               stop: threading.Event) -> list[EventResult]:
    """Run each planned event at its time (or at once when the one before overran), one
    after the other, until all ran or ``stop`` is set."""
    results = []
    for p in planned:
        if stop.wait(max(0.0, start + p.at_s - time.monotonic())):
            break
        t0 = time.monotonic()
        try:
            status, detail = "done", ACTIONS[p.name](c, p.round)
        except Skipped as e:
            status, detail = f"skipped: {e}", ""
        except Exception as e:  # noqa: BLE001 - an event that failed is reported
            status, detail = "failed", f"{type(e).__name__}: {e}"
        results.append(EventResult(p.name, p.round, p.at_s, t0 - start,
                                   time.monotonic() - start, status, detail))
    return results


def churn(c: Cluster, start: float, stop: threading.Event) -> dict:
    """Write world-v1's Endpoints every second (:func:`~.plan.churn_step`) until ``stop``.

    :return: ``writes`` (answered), ``write_errors``, the most common ``errors`` and
        ``write_ms`` (the slowest write, in ms).
    """
    writes = errors = 0
    seen: Counter = Counter()
    slowest = 0.0
    k = 0
    while not stop.wait(max(0.0, start + k * CHURN_INTERVAL_S - time.monotonic())):
        t0 = time.monotonic()
        try:
            with c.lock:
                scale(c.state_dir, "world-v1", churn_step(k))
            writes += 1
            slowest = max(slowest, time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - e.g. while the API server restarts
            errors += 1
            seen[f"{type(e).__name__}: {str(e)[:80]}"] += 1
        k = max(k + 1, int((time.monotonic() - start) / CHURN_INTERVAL_S))
    return {"writes": writes, "write_errors": errors, "write_ms_max": round(slowest * 1000, 1),
            "errors": [f"{n} × {e}" for e, n in seen.most_common(3)]}


def end_checks(c: Cluster, l5d_pids: dict[str, int]) -> list[Check]:
    """After the load: no l5d process was replaced, every node's namer caught up with the
    API's Endpoints, and every node has the same dtab version."""
    st = State.load(c.state_dir)
    now = {node: e["pid"] for node, e in st.l5d.items()}
    checks = [Check("l5d processes kept running", now == l5d_pids,
                    f"pids at the start {l5d_pids}, at the end {now}")]
    api = attach_api(st.api)
    try:
        want = {s: api.get(f"/api/v1/namespaces/{NAMESPACE}/endpoints/{s}")["metadata"][
            "resourceVersion"] for s in ("hello", "world-v1")}
    finally:
        api.stop()

    def seen(n: int) -> dict:
        try:
            state = admin(n, "GET", "/namer_state/io.l5d.k8s.json")[1]["endpoints"]
            return {s: state[f"{NAMESPACE}/{s}"]["state"]["value"][0]["metadata"][
                "resourceVersion"] for s in want}
        except (OSError, http.client.HTTPException, LookupError, TypeError) as e:
            return {"error": f"{type(e).__name__}: {e}"}

    try:
        took = _until("namers", lambda: all(seen(n) == want for n in NODES))
        checks.append(Check("namers caught up with the API", True,
                            f"resourceVersions {want} on every node after {took:.1f} s"))
    except RuntimeError:
        checks.append(Check("namers caught up with the API", False,
                            f"API {want}; " + "; ".join(f"node-{n} {seen(n)}" for n in NODES)))
    versions = {n: admin(n, "GET", "/admin/dtab/outgoing.json")[1]["version"] for n in NODES}
    checks.append(Check("one dtab version on every node", len(set(versions.values())) == 1,
                        f"{versions}"))
    return checks


def l5d_metrics() -> dict[str, dict]:
    """:return: node -> its l5d's ``/admin/metrics.json`` (``{}`` if it does not answer)."""
    out = {}
    for n in NODES:
        try:
            status, metrics = admin(n, "GET", "/admin/metrics.json")
        except (OSError, http.client.HTTPException):
            status, metrics = 0, None
        out[f"node-{n}"] = metrics if status == 200 and isinstance(metrics, dict) else {}
    return out
