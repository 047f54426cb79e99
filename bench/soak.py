#!/usr/bin/env python3
"""A soak that loses nothing (issue 14): steady load through the three-node k8s sim while
its Endpoints churn every second, a pod is killed and restarted, the API server restarts,
a dtab edit is saved, the config is reloaded and an l5d worker is killed.

Run as root (the sim needs network namespaces), with the project's virtualenv::

    sudo .venv/bin/python bench/soak.py                      # 10 minutes, 300 requests/s
    sudo .venv/bin/python bench/soak.py --duration 60 --json

It brings up ``examples/k8s-sim/sim.py`` (bringing down any sim already up: only one can
run), runs for ``--duration`` seconds (at most 600), brings it down, and prints the
report (``OUT/report.md``; ``OUT/summary.json`` has every figure). Exit status: 0 when no
request was lost, every event happened, every end check passed and no process grew;
1 otherwise; 2 when the soak could not run. Traffic stays on loopback and in the sim's
network namespaces. docs/reliability.md says what it does and what it found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "examples" / "k8s-sim")]

from _soak.plan import MAX_DURATION_S  # noqa: E402

DEFAULT_OUT = Path("/tmp/l5d-soak")


def parser() -> argparse.ArgumentParser:
    """:return: the parser of ``bench/soak.py``'s arguments."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=MAX_DURATION_S,
                   help=f"seconds of load (default and most: {MAX_DURATION_S:.0f})")
    p.add_argument("--rps", type=float, default=300,
                   help="requests a second, over the three nodes (default 300, at most 3000)")
    p.add_argument("--clients", type=int, default=8,
                   help="connections (requests in flight at most) per node (default 8, "
                        "at most 64)")
    p.add_argument("--timeout", type=float, default=30,
                   help="seconds a client waits for a response before it counts the "
                        "request lost (default 30)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--keep", action="store_true", help="leave the sim up at the end")
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("_load", help=argparse.SUPPRESS)
    for name, kind in (("--node", int), ("--host", str), ("--port", int), ("--rps", float),
                       ("--clients", int), ("--duration", float), ("--start-at", float),
                       ("--timeout", float), ("--out", Path)):
        s.add_argument(name, type=kind, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    """:return: the exit status (module docstring)."""
    args = parser().parse_args(argv)
    if args.cmd == "_load":
        from _soak.load import load_main
        from k8s_sim.mesh import ANSWER_RE

        return load_main(args.node, args.host, args.port, args.rps, args.clients,
                         args.duration, args.start_at, args.timeout, args.out, ANSWER_RE)
    if not 0 < args.duration <= MAX_DURATION_S:
        parser().error(f"--duration must be in (0, {MAX_DURATION_S:.0f}]")
    if not 0 < args.rps <= 3000 or not 1 <= args.clients <= 64 or not 0 < args.timeout <= 60:
        parser().error("--rps must be in (0, 3000], --clients in 1..64, --timeout in (0, 60]")
    if os.geteuid() != 0:
        print("soak: run as root (the k8s sim needs network namespaces)", file=sys.stderr)
        return 2
    from _soak.render import markdown
    from _soak.run import Options, soak

    started = time.monotonic()
    try:
        summary = soak(Options(args.duration, args.rps, args.clients, args.timeout,
                               args.out.resolve(), args.keep))
    except RuntimeError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    report = markdown(summary)
    (args.out / "report.md").write_text(report)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(report)
    print(f"soak: {'passed' if summary['passed'] else 'FAILED'} in "
          f"{time.monotonic() - started:.0f} s; {args.out}/report.md", file=sys.stderr)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
