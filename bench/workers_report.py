"""The tables of a bench/workers_bench.sh run.

    python bench/workers_report.py OUT [CLK_TCK]

OUT is workers_bench.sh's results directory. Each line of OUT/raw.tsv is one measured wrk run:
layout, row, heads, connections, round, the wrk output under OUT/runs/, and for each process
of the proxy (the top process first: nginx's master or l5d's control, then its children) the
CPU clock ticks it used over the run and its RSS after it, then the origin's ticks, wrk's own
CPU seconds and the machine's busy and steal ticks. OUT/idle.tsv has l5d's processes' ticks
over an idle wait after each start. Every figure is the median over rounds; the ratios are
taken round by round against nginx 1w / 2w of the same layout, heads and connections. Shares
are of the whole machine (100 % = every CPU busy for the whole run). Writes OUT/table.md and
prints it. Standard library only (and bench/report.py beside it).
"""

import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # bench/ is not a package
from report import fmt, median, read_wrk

REFS = ("nginx 1w", "nginx 2w")


def procs(field):
    """[(ticks, rss_kb)] of "ticks/rss,ticks/rss,..." (top process first)."""
    out = []
    for item in filter(None, field.split(",")):
        ticks, _, rss = item.partition("/")
        out.append((int(ticks), int(rss or 0)))
    return out


def load(out, tck):
    """{(layout, heads, conns, row): {round: figures}}"""
    runs = {}
    with open(os.path.join(out, "raw.tsv"), newline="") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            wrk = read_wrk(os.path.join(out, rec["wrk"]))
            ps = procs(rec["procs"])
            if wrk is None or not ps:
                continue
            secs = float(rec["duration"])
            cap_s = int(rec["ncpu"]) * secs
            reqs = max(wrk["requests"], 1)
            proxy_s = sum(t for t, _ in ps) / tck
            load_s = int(rec["backend_ticks"]) / tck + float(rec["wrk_user_s"]) + float(
                rec["wrk_sys_s"])
            children = [t for t, _ in ps[1:]]
            wrk.update(
                us_per_req=proxy_s * 1e6 / reqs,
                proxy_pct=proxy_s / cap_s * 100,
                load_pct=load_s / cap_s * 100,
                bg_pct=max(0.0, int(rec["busy_ticks"]) / tck - proxy_s - load_s) / cap_s * 100,
                rss=[r / 1024 for _, r in ps],
                top_ms_per_s=ps[0][0] / tck / secs * 1e3,
                top_us_per_req=ps[0][0] / tck * 1e6 / reqs,
                children_us_per_req=sum(children) / tck * 1e6 / reqs,
                split=[t * 100 / max(sum(children), 1) for t in children],
            )
            key = (rec["layout"], rec["heads"], int(rec["conns"]), rec["row"])
            runs.setdefault(key, {})[int(rec["round"])] = wrk
    return runs


def load_idle(out, tck):
    """{(layout, row): [[ms/s per process, top first] per round]}"""
    idle = {}
    path = os.path.join(out, "idle.tsv")
    if not os.path.exists(path):
        return idle
    with open(path, newline="") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            secs = float(rec["seconds"])
            ms = [t / tck / secs * 1e3 for t, _ in procs(rec["procs"])]
            idle.setdefault((rec["layout"], rec["row"]), []).append(ms)
    return idle


def ratios(runs, key, ref):
    mine, theirs = runs.get(key, {}), runs.get(key[:3] + (ref,), {})
    return [mine[r]["rps"] / theirs[r]["rps"] for r in sorted(mine)
            if r in theirs and theirs[r]["rps"]]


def table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(r) + " |" for r in rows]


def render(out, tck):
    runs = load(out, tck)
    idle = load_idle(out, tck)
    names = []
    for key in runs:
        if key[3] not in names:
            names.append(key[3])
    order = {n: i for i, n in enumerate(["nginx 1w", "nginx 2w", "l5d 1w", "l5d 2w"])}
    keys = sorted(runs, key=lambda k: (k[0], k[1] != "repeated", k[2], order.get(k[3], 9)))

    def stat(key, name):
        return median(x[name] for x in runs[key].values())

    def per_process(key, name):
        """The median of each process's figure (top first), over rounds."""
        lists = [x[name] for x in runs[key].values()]
        width = min(len(v) for v in lists)
        return [median(v[i] for v in lists) for i in range(width)]

    main = []
    for key in keys:
        main.append([key[0], key[1], str(key[2]), key[3], fmt(stat(key, "rps"), ".0f")] + [
            fmt(median(ratios(runs, key, ref)), ".2f") for ref in REFS] + [
            fmt(stat(key, "p50"), ".2f"), fmt(stat(key, "p99"), ".2f"),
            fmt(stat(key, "us_per_req"), ".1f"), fmt(stat(key, "proxy_pct"), ".0f"),
            fmt(stat(key, "load_pct"), ".0f"), fmt(stat(key, "bg_pct"), ".0f"),
            " + ".join(fmt(v, ".0f") for v in per_process(key, "rss")),
            fmt(stat(key, "errors"), ".0f"), str(len(runs[key]))])
    text = [report.meta(out), ""]
    text += table(["layout", "heads", "c", "peer", "req/s", "vs nginx 1w", "vs nginx 2w",
                   "p50 ms", "p99 ms", "CPU µs/req", "proxy %", "wrk+origin %", "other %",
                   "RSS MiB per process", "errors", "rounds"], main)

    l5d = []
    for key in keys:
        if not key[3].startswith("l5d"):
            continue
        two = len(per_process(key, "rss")) > 1
        l5d.append([key[0], key[1], str(key[2]), key[3],
                    fmt(stat(key, "top_ms_per_s"), ".0f") if two else "-",
                    fmt(stat(key, "top_us_per_req"), ".2f") if two else "-",
                    fmt(stat(key, "children_us_per_req") if two else stat(key, "us_per_req"),
                        ".1f"),
                    " / ".join(fmt(v, ".0f") for v in per_process(key, "split")) or "-"])
    if l5d:
        text += ["", "l5d's processes under load (medians over rounds):", ""]
        text += table(["layout", "heads", "c", "peer", "control ms/s", "control µs/req",
                       "workers µs/req", "CPU split between workers %"], l5d)
    if idle:
        rows = []
        for (layout, row), per_round in sorted(idle.items()):
            width = min(len(v) for v in per_round)
            each = [median(v[i] for v in per_round) for i in range(width)]
            rows.append([layout, row, fmt(each[0], ".1f"),
                         " / ".join(fmt(v, ".1f") for v in each[1:]) or "-",
                         str(len(per_round))])
        text += ["", "l5d at idle, after start-up (CPU ms per second, medians over rounds):", ""]
        text += table(["layout", "peer", "control (or the one process)", "each worker",
                       "rounds"], rows)

    per_round = []
    for key in keys:
        by = runs[key]
        per_round.append([key[0], key[1], str(key[2]), key[3],
                          " / ".join(f"{by[r]['rps']:.0f}" for r in sorted(by)),
                          " / ".join(f"{x:.2f}" for x in ratios(runs, key, REFS[0])) or "-",
                          " / ".join(f"{by[r]['bg_pct']:.0f}" for r in sorted(by))])
    text += ["", "Each round:", ""]
    text += table(["layout", "heads", "c", "peer", "req/s by round", "vs nginx 1w by round",
                   "other % by round"], per_round)
    text += ["", ("Columns: medians over rounds. vs nginx Nw = median over rounds of this row's "
             "req/s / nginx Nw's in the same round, layout, heads and c. CPU µs/req = utime + "
             "stime of all the proxy's processes (/proc/PID/stat: nginx master + workers, l5d "
             "control + workers) over the measured run / requests. proxy %, wrk+origin %, "
             "other % = CPU time of the proxy, of wrk and the origin nginx, and of everything "
             "else busy on the machine, over the run, as a share of the machine (100 = every "
             "CPU for the whole run). RSS = each process's resident memory after the run, top "
             "process first (nginx master, l5d control). control ms/s = the control's CPU per "
             "second of the run; workers µs/req = the workers' CPU alone per request (l5d 1w: "
             "its one process). CPU split = each worker's share of the workers' CPU (how evenly "
             "SO_REUSEPORT spread the connections).")]
    bg = median(x["bg_pct"] for per in runs.values() for x in per.values())
    warnings = []
    if bg is not None and bg * 2 > report.BG_WARN_PCT:
        warnings.append(f"WARNING: other processes used a median {bg:.0f}% of the machine "
                        "during the measurements; absolute figures are not comparable with "
                        "other runs (the same-round ratios suffer less).")
    return report.finish(out, text, warnings, runs)


if __name__ == "__main__":
    sys.exit(report.main(sys.argv, render, __doc__))
