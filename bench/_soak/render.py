"""The soak's summary (:func:`~.report.summarize`) as Markdown (pure)."""

from __future__ import annotations

from .plan import TABLE_INTERVAL_S

__all__ = ["markdown", "resource_table"]


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def resource_table(samples: list[dict], every_s: float = TABLE_INTERVAL_S) -> list[str]:
    """RSS (MiB) and open fds of every process, one row per sample time that falls on a
    multiple of ``every_s`` (the last sample always), one column per process label. A
    ``*`` marks a value of another pid than the row above (the process was restarted).
    """
    labels = list(dict.fromkeys(s["label"] for s in samples))
    times = sorted({s["t_s"] for s in samples})
    if not times:
        return ["(no samples)"]
    at = {(s["t_s"], s["label"]): s for s in samples}
    lines = ["| t (s) | " + " | ".join(f"{label} RSS MiB / fds" for label in labels) + " |",
             "| ---: |" + " ---: |" * len(labels)]
    last_pid: dict[str, int] = {}
    for t in [t for t in times if round(t) % every_s < 1 or t == times[-1]]:
        row = []
        for label in labels:
            s = at.get((t, label))
            if s is None:
                row.append("–")
                continue
            mark = "*" if last_pid.get(label, s["pid"]) != s["pid"] else ""
            last_pid[label] = s["pid"]
            row.append(f"{s['rss_kib'] / 1024:.1f} / {s['fds']}{mark}")
        lines.append(f"| {t:.0f} | " + " | ".join(row) + " |")
    return lines


def markdown(summary: dict, every_s: float = TABLE_INTERVAL_S) -> str:
    """:return: the whole report: verdict, requests, events, checks, resources."""
    p, r = summary["params"], summary["requests"]
    out = [f"# Soak: {'PASSED' if summary['passed'] else 'FAILED'}", ""]
    out += [f"- {k}: {v}" for k, v in p.items()] + [""]
    if summary["problems"]:
        out += ["## Problems", ""] + [f"- {x}" for x in summary["problems"]] + [""]
    if summary.get("notes"):
        out += ["## Notes (not l5d's, not judged)", ""] + [
            f"- {x}" for x in summary["notes"]] + [""]
    lat = r["latency_ms"]
    out += ["## Requests", "",
            "| sent | answered | ok | failed (5xx + l5d-err) | lost | p50 ms | p99 ms | max ms "
            "| req/s | per 10 s (min–max) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {r['sent']} | {r['answered']} | {r['ok']} | {r['failed']} | {r['lost']} | "
            f"{_ms(lat['p50'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {r['rps']} | "
            f"{r['per_10s']['min']}–{r['per_10s']['max']} |", ""]
    out += ["By node (the l5d the load entered): " + "; ".join(
        f"{n} " + ", ".join(f"{k} {v}" for k, v in c.items()) for n, c in r["by_node"].items()),
        ""]
    for title, kinds in (("Deliberate failures by kind", r["failed_by_kind"]),
                         ("Lost by kind", r["lost_by_kind"])):
        out += [f"{title}:", ""]
        out += [f"- {n} × {k}" for k, n in kinds.items()] or ["- none"]
        out.append("")
    if summary["near_events"]:
        out += ["Failures and losses by the event that started at most 15 s before them:", ""]
        for event, kinds in summary["near_events"].items():
            out.append(f"- {event}: " + "; ".join(f"{n} × {k}" for k, n in kinds.items()))
        out.append("")
    out += ["## Events", "", "| event | round | planned s | started s | took s | status | detail |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for e in summary["events"]:
        out.append(f"| {e['name']} | {e['round']} | {e['planned_s']:.1f} | {e['start_s']:.1f} | "
                   f"{e['end_s'] - e['start_s']:.1f} | {e['status']} | {e['detail']} |")
    c = summary["churn"]
    out += ["", f"Endpoints churn: {c.get('writes', 0)} writes of world-v1's Endpoints, "
            f"{c.get('write_errors', 0)} failed" + (
                f" ({'; '.join(c['errors'])})" if c.get("errors") else ""), ""]
    if summary.get("absorbed"):
        out += ["What l5d absorbed (its own metrics at the end): retries it made, failures "
                "its clients saw from the next hop, failures its servers answered with:", "",
                "| node | router | retries | client failures | server failures |",
                "| --- | --- | ---: | ---: | ---: |"]
        for node, routers in summary["absorbed"].items():
            for router, n in routers.items():
                out.append(f"| {node} | {router} | {n['retries']} | {n['client failures']} | "
                           f"{n['server failures']} |")
        out.append("")
    out += ["## Checks at the end", ""]
    out += [f"- {x['name']}: {'passed' if x['passed'] else 'FAILED'}. {x['detail']}"
            for x in summary["checks"]] or ["- none"]
    lim = summary["limits"]
    out += ["", "## Resources", "",
            f"Judged after the warm-up ({p['warmup_s']:.0f} s): the median of the last third of "
            f"a process's samples against the first third's; growth is more than "
            f"{lim['rss_pct']:.0f} % or {lim['rss_kib'] // 1024} MiB of RSS (the larger), "
            f"more than {lim['fds_pct']:.0f} % or {lim['fds']} open fds.", "",
            "| process | pid | samples | RSS MiB first → last | fds first → last | verdict |",
            "| --- | ---: | ---: | --- | --- | --- |"]
    for g in summary["growth"]:
        verdict = ("too few samples" if not g["judged"] else
                   "GREW" if g["rss_grew"] or g["fds_grew"] else "flat")
        out.append(f"| {g['label']} | {g['pid']} | {g['samples']} | "
                   f"{g['rss_first_kib'] / 1024:.1f} → {g['rss_last_kib'] / 1024:.1f} | "
                   f"{g['fds_first']} → {g['fds_last']} | {verdict} |")
    out += ["", f"Every {every_s:.0f} s:", ""] + resource_table(summary["samples"], every_s)
    return "\n".join(out) + "\n"
