"""The table of a bench/router_bench.sh run.

    python bench/report.py OUT [CLK_TCK]

OUT is router_bench.sh's results directory. Each line of OUT/raw.tsv is one measured wrk
run (row, connections, round, the wrk output under OUT/runs/, CPU clock ticks of the proxy,
backend and machine over the run, wrk's own CPU seconds, the proxy's RSS after the run).
OUT/rows.tsv lists the rows in order with a description, OUT/meta.txt the run's settings.
Every figure is the median over rounds. "vs nginx" is computed round by round against the
nginx row of the same round (for a "(distinct)" row, against "nginx (distinct)" when it
ran), and the median of those ratios is reported. Writes OUT/table.md and prints it.
Standard library only.
"""

import csv
import os
import re
import statistics
import sys

TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
BG_WARN_PCT = 25  # median background CPU (% of one core) above which the run is suspect


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text or "")
    return float(m.group(1)) * TIME_UNITS_MS[m.group(2)] if m else None


def read_wrk(path):
    """Requests, requests/s, p50/p99 (ms) and errors of one wrk --latency output, or None."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if not rps or not total:
        return None
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M))
    errors = 0
    sock = re.search(r"Socket errors: (.*)", text)
    if sock:
        errors += sum(int(n) for n in re.findall(r"\d+", sock.group(1)))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        errors += int(bad.group(1))
    return {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "p50": to_ms(pct.get("50")),
        "p99": to_ms(pct.get("99")),
        "errors": errors,
    }


def load(out, tck):
    """{(row, conns): {round: figures}}"""
    runs = {}
    with open(os.path.join(out, "raw.tsv"), newline="") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            wrk = read_wrk(os.path.join(out, rec["wrk"]))
            if wrk is None:
                continue
            secs = float(rec["duration"])
            proxy_s = int(rec["proxy_ticks"]) / tck
            ours = (int(rec["proxy_ticks"]) + int(rec["backend_ticks"])
                    + (float(rec["wrk_user_s"]) + float(rec["wrk_sys_s"])) * tck)
            wrk.update(
                proxy_pct=proxy_s / secs * 100,
                us_per_req=proxy_s * 1e6 / max(wrk["requests"], 1),
                rss_mib=int(rec["rss_kb"]) / 1024,
                bg_pct=max(0.0, (int(rec["busy_ticks"]) - ours) / tck / secs * 100),
            )
            runs.setdefault((rec["row"], int(rec["conns"])), {})[int(rec["round"])] = wrk
    return runs


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def reference(row, rows):
    """The nginx row a row is compared with."""
    if "(distinct" in row and "nginx (distinct)" in rows:
        return "nginx (distinct)"
    return "nginx"


def ratios(runs, row, ref, conns):
    mine, theirs = runs.get((row, conns), {}), runs.get((ref, conns), {})
    return [mine[r]["rps"] / theirs[r]["rps"] for r in sorted(mine)
            if r in theirs and theirs[r]["rps"]]


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def meta(out):
    """OUT/meta.txt's text, or ""."""
    path = os.path.join(out, "meta.txt")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read().rstrip()


def render(out, tck):
    runs = load(out, tck)
    with open(os.path.join(out, "rows.tsv")) as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    names = [r[0] for r in rows]

    def stat(row, conns, key):
        return median(x[key] for x in runs.get((row, conns), {}).values())

    head = ["peer", "rps c=32", "vs nginx", "p50 ms", "p99 ms", "CPU µs/req", "proxy CPU%",
            "RSS MiB", "errors", "rps c=1", "vs nginx c=1", "p50 ms c=1", "p99 ms c=1",
            "CPU µs/req c=1", "RSS MiB c=1", "errors c=1", "bg CPU%", "rounds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_round = []
    for name in names:
        if not runs.get((name, 32)) and not runs.get((name, 1)):
            lines.append("| %s | (no successful run) |" % name)
            continue
        proxy = name != "direct"
        ref = reference(name, names)
        cells = [name]
        for conns in (32, 1):
            cells += [
                fmt(stat(name, conns, "rps"), ".0f"),
                fmt(median(ratios(runs, name, ref, conns)), ".2f"),
                fmt(stat(name, conns, "p50"), ".3f"),
                fmt(stat(name, conns, "p99"), ".3f"),
                fmt(stat(name, conns, "us_per_req"), ".1f") if proxy else "-",
            ]
            if conns == 32:
                cells.append(fmt(stat(name, conns, "proxy_pct"), ".0f") if proxy else "-")
            cells += [
                fmt(stat(name, conns, "rss_mib"), ".1f") if proxy else "-",
                fmt(stat(name, conns, "errors"), ".0f"),
            ]
        cells += [fmt(stat(name, 32, "bg_pct"), ".0f"), str(len(runs.get((name, 32), {})))]
        lines.append("| " + " | ".join(cells) + " |")
        by_round = runs.get((name, 32), {})
        per_round.append("| %s | %s | %s |" % (
            name,
            " / ".join("%.0f" % by_round[r]["rps"] for r in sorted(by_round)) or "-",
            " / ".join("%.2f" % x for x in ratios(runs, name, ref, 32)) or "-"))

    text = [meta(out), ""]
    text += lines
    text += ["", "Each round at c=32:", "", "| peer | rps by round | vs nginx by round |",
             "|---|---|---|"] + per_round
    text += ["", "Rows:"] + ["- %s: %s" % (r[0], r[1] if len(r) > 1 else "") for r in rows]
    text += ["", "Columns: medians over rounds. vs nginx = median over rounds of this row's "
             "requests/s / nginx's in the same round (\"(distinct)\" rows: / \"nginx "
             "(distinct)\"'s). CPU µs/req = the proxy's utime + stime (/proc/PID/stat, all its "
             "processes) over the measured run / requests. proxy CPU% = the same over the run's "
             "length (100 = one core). RSS = the proxy's resident memory right after the run. "
             "errors = wrk socket errors + non-2xx responses. bg CPU% = busy CPU during the c=32 "
             "run that neither proxy, backend nor wrk used: other load (200 = both cores)."]
    bg = median(x["bg_pct"] for per in runs.values() for x in per.values())
    warnings = []
    if bg is not None and bg > BG_WARN_PCT:
        warnings.append("WARNING: median background CPU was %.0f%% of a core: something else ran "
                        "during the measurements; absolute figures are not comparable with other "
                        "runs (the same-round ratios suffer less)." % bg)
    return finish(out, text, warnings, runs)


def finish(out, text, warnings, runs):
    """``text`` and ``warnings`` (and one if wrk counted errors in ``runs``), written to
    OUT/table.md; returns what it wrote."""
    text = list(text)
    for w in warnings:
        text += ["", w]
    if any(x["errors"] for per in runs.values() for x in per.values()):
        text += ["", "WARNING: wrk counted errors (see the errors columns and OUT/runs/)."]
    body = "\n".join(text).lstrip("\n") + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(body)
    return body


def main(argv, render=render, doc=__doc__):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print(doc.strip(), file=sys.stderr)
        return 2
    tck = int(argv[2]) if len(argv) == 3 else os.sysconf("SC_CLK_TCK")
    sys.stdout.write(render(argv[1], tck))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
