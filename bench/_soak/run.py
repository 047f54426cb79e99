"""The soak from start to end (shell): the sim up, the load, churn, events and samples
side by side, the checks, the sim down, the summary written.

Processes: the sim (``examples/k8s-sim/sim.py up`` / ``down``, as people run it), one
load process per node inside that node's network namespace (``bench/soak.py _load``),
and three threads here: the Endpoints churn, the one-off events, the resource sampler.
Every wait is bounded.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from k8s_sim.layout import L5D_PORTS, ROOT, SIM_PY, l5d_ip, netns
from k8s_sim.node_processes import base_env
from k8s_sim.objects import configmap_config
from k8s_sim.state import State

from .events import NODES, Cluster, churn, end_checks, l5d_metrics, run_events
from .outcome import from_line
from .plan import SAMPLE_INTERVAL_S, plan, warmup_s
from .report import summarize
from .resources import sample_every

UP_TIMEOUT_S = 40 * 60     # a first run builds kube-apiserver (~5-6 min)
DOWN_TIMEOUT_S = 180
VALIDATE_TIMEOUT_S = 60
START_DELAY_S = 2.0        # the load processes start this long after they are spawned
LOAD_GRACE_S = 60.0        # after the run: the last requests (timeout) and exit
EVENT_GRACE_S = 240.0      # an event still running when the load ends (an API restart)
SOAK_PY = Path(__file__).resolve().parents[1] / "soak.py"


@dataclass(frozen=True)
class Options:
    """The soak's parameters (``bench/soak.py --help``)."""

    duration_s: float
    rps: float
    clients: int
    timeout_s: float
    out: Path
    keep: bool = False


def sim(state: Path, *args: str, timeout: float = DOWN_TIMEOUT_S) -> str:
    """Run ``sim.py --state STATE ARGS`` as a person would. :raises RuntimeError:"""
    done = subprocess.run([sys.executable, str(SIM_PY), "--state", str(state), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"sim.py {' '.join(args)} -> {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def soak_config(out: Path) -> tuple[Path, str]:
    """daemonset/l5d.yml's config, with ``workers: 2`` when ``l5d --validate`` takes it.

    :return: the config file and what it is (for the report).
    """
    text = configmap_config()[1]
    path = out / "l5d-config.yaml"
    path.write_text(f"workers: 2\n{text}")
    env = dict(base_env(), POD_IP=l5d_ip(1), NODE_NAME="node-1", POD_NAMESPACE="default")
    done = subprocess.run([sys.executable, "-m", "l5d", "--validate", str(path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_S,
                          check=False)
    if done.returncode == 0:
        return path, "daemonset/l5d.yml ConfigMap config.yaml + workers: 2"
    path.write_text(text)
    why = (done.stderr.strip().splitlines() or ["?"])[-1].replace(str(path), "config")
    return path, f"daemonset/l5d.yml ConfigMap config.yaml (workers: 2 refused: {why})"


def start_load(o: Options, n: int, start_at: float) -> subprocess.Popen:
    """One node's load process, inside the node's network namespace."""
    log = open(o.out / "logs" / f"load-node-{n}.log", "wb")
    with log:
        return subprocess.Popen(
            ["ip", "netns", "exec", netns(n), sys.executable, str(SOAK_PY), "_load",
             "--node", str(n), "--host", l5d_ip(n), "--port", str(L5D_PORTS["outgoing"]),
             "--rps", str(o.rps / len(NODES)), "--clients", str(o.clients),
             "--duration", str(o.duration_s), "--start-at", repr(start_at),
             "--timeout", str(o.timeout_s), "--out", str(o.out / f"load-node-{n}.tsv")],
            cwd=ROOT, env=base_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def _git_commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


class _Thread(threading.Thread):
    """A thread that keeps its target's return value."""

    def __init__(self, name: str, target, *args) -> None:
        super().__init__(name=name, daemon=True)
        self._call, self._args, self.result = target, args, None

    def run(self) -> None:
        self.result = self._call(*self._args)


def soak(o: Options) -> dict:
    """Run the soak; :return: its summary (:func:`~.report.summarize`).

    :raises RuntimeError: if the sim does not come up (nothing was measured).
    """
    (o.out / "logs").mkdir(parents=True, exist_ok=True)
    state = o.out / "sim"
    config, config_note = soak_config(o.out)
    params = {"duration_s": o.duration_s, "warmup_s": warmup_s(o.duration_s), "rps": o.rps,
              "clients_per_node": o.clients, "timeout_s": o.timeout_s, "config": config_note,
              "commit": _git_commit(), "cpus": os.cpu_count(),
              "load_average_before": os.getloadavg()[0],
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    sim(state, "down")
    sim(state, "up", "--config", str(config), timeout=UP_TIMEOUT_S)
    try:
        cluster = Cluster.load(state)
        l5d_pids = {node: e["pid"] for node, e in State.load(state).l5d.items()}
        start = time.monotonic() + START_DELAY_S
        loads = [start_load(o, n, start) for n in NODES]
        stop = threading.Event()
        samples: list = []
        threads = [_Thread("sampler", sample_every, state, start, SAMPLE_INTERVAL_S, stop,
                           samples),
                   _Thread("churn", churn, cluster, start, stop),
                   _Thread("events", run_events, cluster, plan(o.duration_s), start, stop)]
        for t in threads:
            t.start()
        try:
            deadline = start + o.duration_s + o.timeout_s + LOAD_GRACE_S
            for p in loads:
                p.wait(max(1.0, deadline - time.monotonic()))
        finally:
            stop.set()
            for p in loads:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            for t in threads:
                t.join(EVENT_GRACE_S)
        checks = end_checks(cluster, l5d_pids)
        metrics = l5d_metrics()
    finally:
        if not o.keep:
            sim(state, "down")
    records = []
    for n in NODES:
        path = o.out / f"load-node-{n}.tsv"
        if path.exists():
            records += [from_line(x) for x in path.read_text().splitlines() if x]
    params["load_exit_codes"] = [p.returncode for p in loads]
    summary = summarize(records, samples, threads[2].result or [], checks,
                        threads[1].result or {}, params, metrics)
    if any(rc != 0 for rc in params["load_exit_codes"]):
        summary["problems"].append(f"a load process failed: {params['load_exit_codes']} "
                                   f"(see {o.out / 'logs'})")
        summary["passed"] = False
    (o.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
