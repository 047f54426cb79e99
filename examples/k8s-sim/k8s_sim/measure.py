"""How fast Endpoints changes take effect, seen by requests flowing through the mesh.

:func:`measure_change` lets a :class:`~.probe.Probe` send requests while one Endpoints
write (:func:`~.scaling.scale`) is made; :func:`measure` runs the standard sequence on
world-v1 (``sim.py measure``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from .layout import node_name
from .probe import Probe
from .procs import wait_for
from .scaling import ScaleResult, scale
from .state import need_state


@dataclass
class Measurement:
    """One Endpoints change, as seen by requests flowing through the mesh.

    Times are in ms from the moment the Endpoints PUT was sent (``put_ms`` later it had
    been answered), and are request *send* times (``t0``): ``last_removed_ms`` is when
    the last request that still reached a removed pod was sent (``None``: nothing was
    removed), ``first_added_ms`` when the first request that reached an added pod was
    sent. Their resolution is one request interval (``interval_ms``).
    """

    scenario: str
    change: ScaleResult
    requests: int
    interval_ms: float
    put_ms: float
    settled: bool
    last_removed_ms: float | None
    first_added_ms: float | None
    stale_after_put: int              # requests sent after the PUT returned that reached a
    errors: int                       # removed pod; answers other than 200 after the PUT
    error_samples: list[str]
    pods_seen_after: dict[str, int]

    def line(self) -> str:
        """:return: a one-line summary (what ``sim.py measure`` prints)."""
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:+.1f} ms"
        return (f"{self.scenario}: {self.change.service} endpoints {self.change.endpoints} "
                f"(added {self.change.added}, removed {self.change.removed}); PUT "
                f"{self.put_ms:.1f} ms; last request to a removed pod {ms(self.last_removed_ms)}"
                f", first to an added pod {ms(self.first_added_ms)}; {self.stale_after_put} "
                f"sent after the PUT returned reached a removed pod; {self.errors} errors; "
                f"{self.requests} requests ~{self.interval_ms:.1f} ms apart; "
                f"settled: {self.settled}"
                + (f"; errors seen: {self.error_samples}" if self.errors else ""))

    def to_json(self) -> dict:
        """:return: every field, JSON-able (``sim.py measure --json``)."""
        out = dict(self.__dict__)
        out["change"] = dict(self.change.__dict__)
        return out


def measure_change(state_dir: Path, scenario: str, from_node: int, url: str,
                   change: Callable[[], ScaleResult], *, warmup: int = 30,
                   stable: int = 100, count: int = 1500,
                   interval_s: float = 0.005) -> Measurement:
    """Let requests flow from an app on ``from_node`` through its l5d, make ``change`` (an
    Endpoints write), and see when the mesh stops reaching removed pods and starts
    reaching added ones.

    Settled: the last ``stable`` answers sent after the PUT returned all came (200) from
    pods now in the Endpoints, and an added pod, if any, was reached. Bounded by
    ``count`` requests (``settled`` is then False if it never settled).
    """
    st = need_state(state_dir)
    probe = Probe(st, from_node, url, count, interval_s)
    try:
        wait_for("probe warm-up", lambda: len(probe.snapshot()) >= warmup or probe.done, 60)
        result = change()
        added = set(result.added)
        current = set(result.endpoints)

        def settled() -> bool:
            recs = [r for r in probe.snapshot() if r["t0"] > result.write_done]
            if len(recs) < stable:
                return False
            if added and not any(r["pod"] in added for r in recs):
                return False
            return all(r["status"] == 200 and r["pod"] in current for r in recs[-stable:])

        while not settled() and not probe.done:
            time.sleep(0.02)
        ok = settled()
    finally:
        probe.stop()
    return summarize(scenario, result, probe.snapshot(), ok)


def summarize(scenario: str, result: ScaleResult, recs: list[dict], ok: bool) -> Measurement:
    """The figures of one :func:`measure_change` run (see :class:`Measurement`)."""
    removed, added = set(result.removed), set(result.added)
    t_put = result.write_started
    to_removed = [r["t0"] for r in recs if r["status"] == 200 and r.get("pod") in removed]
    to_added = [r["t0"] for r in recs if r["status"] == 200 and r.get("pod") in added]
    after = [r for r in recs if r["t0"] > result.write_done]
    errs = [r for r in recs if r["t1"] > t_put and r["status"] != 200]
    seen: dict[str, int] = {}
    for r in after:
        if r.get("pod"):
            seen[r["pod"]] = seen.get(r["pod"], 0) + 1
    gaps = [b["t0"] - a["t0"] for a, b in pairwise(recs)]
    return Measurement(
        scenario=scenario, change=result, requests=len(recs),
        interval_ms=1000 * sum(gaps) / len(gaps) if gaps else 0.0,
        put_ms=1000 * (result.write_done - t_put), settled=ok,
        last_removed_ms=1000 * (max(to_removed) - t_put) if removed and to_removed else None,
        first_added_ms=1000 * (min(to_added) - t_put) if added and to_added else None,
        stale_after_put=sum(1 for r in after if r.get("pod") in removed),
        errors=len(errs),
        error_samples=sorted({f"{r['status']} (Via: {r.get('via')}) {r['body'][:120]}"
                              for r in errs})[:5],
        pods_seen_after=seen)


def measure(state_dir: Path, from_node: int = 2, rounds: int = 1,
            interval_s: float = 0.005) -> list[Measurement]:
    """The standard sequence on world-v1 (all on the last node): scale up on the same node,
    remove one pod, move the service to node 1, move it back. Requests come from an app
    on ``from_node`` to ``http://world-v1/``.

    :return: one :class:`Measurement` per step, ``rounds`` times the four steps.
    """
    st = need_state(state_dir)
    last = st.nodes
    url = "http://world-v1/"
    out = []
    for _ in range(rounds):
        steps = [
            ("scale up 1->2 (same node)", {last: 2}),
            ("remove 1 of 2 pods", {last: 1}),
            (f"move {node_name(last)} -> node-1", {last: 0, 1: 1}),
            (f"move node-1 -> {node_name(last)}", {1: 0, last: 1}),
        ]
        for name, want in steps:
            m = measure_change(state_dir, name, from_node, url,
                               lambda want=want: scale(state_dir, "world-v1", want),
                               interval_s=interval_s)
            out.append(m)
    return out
