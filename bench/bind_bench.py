"""Benchmark of the dtab engine: binding (uncached and cached) and dtab parsing.

Not a test: it measures, prints a Markdown table (or JSON with ``--json``) and
fails only when an invariant breaks (the chain does not bind as documented, or
a cached bind returns anything but the very first state object).

Run it pinned to one core, as ``docs/performance.md`` does::

    taskset -c 0 .venv/bin/python bench/bind_bench.py            # table
    taskset -c 0 .venv/bin/python bench/bind_bench.py --json     # machine-readable

The dtab (:data:`CHAIN_TEXT`) takes ``/svc/hello`` through five delegation
steps, one dentry each, before it reaches Finagle's global namer::

    /svc/hello -> /host/hello -> /srv/hello -> /k8s/hello -> /port/hello
               -> /$/inet/127.0.0.1/8080/hello   (bound: id /$/inet/127.0.0.1/8080, residual /hello)

so one bind is six lookups: five dtab hits, then a dtab miss answered by
``/$/inet``. Every lookup scans all five dentries (last first, as Finagle's
``DtabBase.lookup`` does). There is no Alt in this chain; ``--alt`` swaps the
fourth dentry for ``/k8s=>/#/io.l5d.k8s/default/http | /port``, whose first
branch is NEG here (no k8s namer is configured), so the Alt falls back to
``/port`` at the cost of one extra lookup.

Each figure is the median of ``--reps`` runs (default 5) timed with
``time.perf_counter``; the garbage collector stays on, as in a running router.
Time comes from ``time.monotonic`` for the cache (its ``now``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from itertools import repeat
from pathlib import Path as FsPath
from typing import Callable

sys.path.insert(0, str(FsPath(__file__).resolve().parent.parent))

from dtab import (  # noqa: E402  (after the sys.path fallback above)
    NEG, AddrBound, BindingCache, BoundName, Dtab, Interpreter, Leaf, Ok, Path, bind,
)

CHAIN_TEXT = (
    "/svc=>/host;"
    "/host=>/srv;"
    "/srv=>/k8s;"
    "/k8s=>/port;"
    "/port=>/$/inet/127.0.0.1/8080"
)
ALT_TEXT = CHAIN_TEXT.replace("/k8s=>/port;", "/k8s=>/#/io.l5d.k8s/default/http | /port;")
#: A typical per-request override, as sent in an ``l5d-dtab`` header.
HEADER_TEXT = "/svc/hello=>/$/inet/127.0.0.1/9090"
PATH_TEXT = "/svc/hello"
BOUND_ID = Path.read("/$/inet/127.0.0.1/8080")
DELEGATION_STEPS = 5

Runner = Callable[[], None]


# ---------------------------------------------------------------------------
# environment

def cpu_model() -> str:
    """The ``model name`` line of /proc/cpuinfo (falls back to ``platform``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_affinity() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None


# ---------------------------------------------------------------------------
# checks

def check_chain(interpreter: Interpreter, dtab: Dtab, path: Path, alt: bool) -> int:
    """Assert the dtab binds ``path`` as documented; returns the number of lookups."""
    lookups: list[tuple[Path, bool]] = []

    def counting(p: Path):
        lookups.append((p, dtab.lookup(p) is not NEG))
        return interpreter.lookup(dtab, p)

    state = bind(counting, Leaf(path))
    if not (isinstance(state, Ok) and isinstance(state.value, Leaf)):
        raise AssertionError(f"{path.show()} did not bind to one leaf: {state!r}")
    bound = state.value.value
    if not (isinstance(bound, BoundName) and bound.id == BOUND_ID
            and isinstance(bound.addr, AddrBound)):
        raise AssertionError(f"{path.show()} bound to {bound!r}, expected {BOUND_ID.show()}")
    dtab_hits = sum(hit for _, hit in lookups)
    # the Alt's NEG branch (/#/io.l5d.k8s/...) is a dtab miss answered NEG by the namers
    want_lookups = DELEGATION_STEPS + 1 + (1 if alt else 0)
    if dtab_hits != DELEGATION_STEPS or len(lookups) != want_lookups:
        raise AssertionError(
            f"expected {DELEGATION_STEPS} delegation steps in {want_lookups} lookups, got "
            f"{dtab_hits} in {len(lookups)}: {[p.show() for p, _ in lookups]}"
        )
    return len(lookups)


# ---------------------------------------------------------------------------
# timing

def timed(run: Runner, n: int, reps: int) -> dict:
    """Median, min and max µs per operation over ``reps`` runs of ``run`` (``n`` ops each)."""
    per_op_us = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        per_op_us.append((time.perf_counter() - t0) / n * 1e6)
    median = statistics.median(per_op_us)
    return {
        "n": n,
        "reps": reps,
        "us_per_op": median,
        "us_min": min(per_op_us),
        "us_max": max(per_op_us),
        "ops_per_s": 1e6 / median,
    }


def uncached_same(interpreter: Interpreter, dtab: Dtab, path: Path, n: int) -> Runner:
    bind_ = interpreter.bind

    def run() -> None:
        for _ in repeat(None, n):
            bind_(dtab, path)
    return run


def uncached_distinct(interpreter: Interpreter, dtab: Dtab, paths: list[Path]) -> Runner:
    bind_ = interpreter.bind

    def run() -> None:
        for p in paths:
            bind_(dtab, p)
    return run


def cached_same(cache: BindingCache, dtab: Dtab, path: Path, first: object, n: int) -> Runner:
    bind_ = cache.bind

    def run() -> None:
        for _ in repeat(None, n):
            # an explicit raise, so that ``python -O`` cannot strip the check
            if bind_(dtab, path) is not first:
                raise AssertionError("a cached bind returned a new state object")
    return run


def parse_dtab(text: str, n: int) -> Runner:
    read = Dtab.read

    def run() -> None:
        for _ in repeat(None, n):
            read(text)
    return run


def header_concat(base: Dtab, header: str, n: int) -> Runner:
    read = Dtab.read

    def run() -> None:
        for _ in repeat(None, n):
            base + read(header)
    return run


def concat_only(base: Dtab, local: Dtab, n: int) -> Runner:
    def run() -> None:
        for _ in repeat(None, n):
            base + local
    return run


def header_cached_bind(cache: BindingCache, base: Dtab, header: str, path: Path,
                       first: object, n: int) -> Runner:
    """A request with an ``l5d-dtab`` header: parse, append, then bind through the cache.

    The dtab is a new object each time; the cache hits because equal dtabs hash
    and compare equal.
    """
    read = Dtab.read
    bind_ = cache.bind

    def run() -> None:
        for _ in repeat(None, n):
            if bind_(base + read(header), path) is not first:
                raise AssertionError("a cached bind returned a new state object")
    return run


# ---------------------------------------------------------------------------
# allocations

def blocks_per_call(run: Runner, n: int) -> float:
    """Net memory blocks left allocated per operation (``sys.getallocatedblocks`` delta)."""
    run()  # warm up: first-use caches, free lists
    before = sys.getallocatedblocks()
    run()
    return (sys.getallocatedblocks() - before) / n


def transient_peak_bytes(call: Callable[[], object], n: int = 1000) -> float:
    """Bytes allocated above the baseline while one call runs (``tracemalloc`` peak), mean of ``n``.

    This is the most live memory one call holds at once, not the sum of all its
    allocations: a block freed before the next is allocated counts once.
    """
    call()
    tracemalloc.start()
    try:
        total = 0
        for _ in range(n):
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            call()
            _, peak = tracemalloc.get_traced_memory()
            total += peak - current
    finally:
        tracemalloc.stop()
    return total / n


# ---------------------------------------------------------------------------
# main

def run_all(n: int, parse_n: int, reps: int, alt: bool) -> dict:
    text = ALT_TEXT if alt else CHAIN_TEXT
    dtab = Dtab.read(text)
    path = Path.read(PATH_TEXT)
    interpreter = Interpreter()
    lookups = check_chain(interpreter, dtab, path, alt)
    distinct = [Path.of("svc", f"hello{i}") for i in range(n)]
    for p in (distinct[0], distinct[-1]):
        check_chain(interpreter, dtab, p, alt)

    cache = BindingCache(interpreter, now=time.monotonic, max_size=16)
    first = cache.bind(dtab, path)
    header_dtab = Dtab.read(HEADER_TEXT)
    header_first = cache.bind(dtab + header_dtab, path)

    results: list[dict] = []

    def add(name: str, run: Runner, count: int, note: str) -> None:
        row = {"name": name, **timed(run, count, reps), "note": note}
        results.append(row)
        print(f"  {name}: {row['us_per_op']:.3f} µs/op", file=sys.stderr, flush=True)

    add("bind, uncached, same path", uncached_same(interpreter, dtab, path, n), n,
        f"Interpreter().bind(dtab, {PATH_TEXT}); {lookups} lookups")
    add("bind, uncached, distinct paths", uncached_distinct(interpreter, dtab, distinct), n,
        "/svc/hello0 .. /svc/hello{n-1}")
    hits_before = cache.hits
    add("bind, cached (BindingCache hit)", cached_same(cache, dtab, path, first, n), n,
        "result `is` the first state, checked on every call")
    if cache.misses != 2 or cache.hits - hits_before != n * reps:
        raise AssertionError(f"cache missed: hits={cache.hits} misses={cache.misses}")
    add("Dtab.read(dtab text)", parse_dtab(text, parse_n), parse_n,
        f"{len(dtab)} dentries, {len(text)} chars")
    add("base + Dtab.read(header)", header_concat(dtab, HEADER_TEXT, parse_n), parse_n,
        f"l5d-dtab: {HEADER_TEXT}")
    add("base + local (concatenation only)", concat_only(dtab, header_dtab, n), n,
        "new Dtab: validates and hashes 6 dentries")
    add("base + Dtab.read(header), then cached bind",
        header_cached_bind(cache, dtab, HEADER_TEXT, path, header_first, parse_n), parse_n,
        "equal, not identical, dtab as the cache key")
    if cache.misses != 2:
        raise AssertionError(f"the header dtab missed the cache: misses={cache.misses}")

    alloc_n = min(n, 10_000)
    allocations = {
        "cached_bind_net_blocks_per_op": blocks_per_call(
            cached_same(cache, dtab, path, first, alloc_n), alloc_n),
        "cached_bind_transient_peak_bytes": transient_peak_bytes(lambda: cache.bind(dtab, path)),
        "uncached_bind_net_blocks_per_op": blocks_per_call(
            uncached_same(interpreter, dtab, path, alloc_n), alloc_n),
        "uncached_bind_transient_peak_bytes": transient_peak_bytes(
            lambda: interpreter.bind(dtab, path)),
        "ops": alloc_n,
    }
    if cache.misses != 2:
        raise AssertionError(f"cache missed during the allocation count: misses={cache.misses}")

    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu": cpu_model(),
        "cpu_affinity": cpu_affinity(),
        "platform": platform.platform(),
        "dtab": text,
        "path": PATH_TEXT,
        "delegation_steps": DELEGATION_STEPS,
        "lookups_per_bind": lookups,
        "results": results,
        "allocations": allocations,
    }


def _fmt_us(us: float) -> str:
    return f"{us:.2f}" if us >= 1 else f"{us:.3f}"


def markdown(report: dict) -> str:
    lines = [
        f"Python {report['python']} ({report['implementation']}), CPU: {report['cpu']}, "
        f"affinity: {report['cpu_affinity']}",
        "",
        f"dtab: `{report['dtab']}`  ",
        f"path: `{report['path']}` ({report['delegation_steps']} delegation steps, "
        f"{report['lookups_per_bind']} lookups per bind)",
        "",
        "| operation | n × reps | µs/op (median) | min–max µs | ops/s | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} | {r['n']:,} × {r['reps']} | {_fmt_us(r['us_per_op'])} | "
            f"{_fmt_us(r['us_min'])}–{_fmt_us(r['us_max'])} | "
            f"{r['ops_per_s']:,.0f} | {r['note']} |"
        )
    a = report["allocations"]
    lines += [
        "",
        f"| allocations ({a['ops']:,} binds) | net blocks / bind | transient peak bytes / bind |",
        "| --- | ---: | ---: |",
        f"| cached bind | {a['cached_bind_net_blocks_per_op']:.4f} | "
        f"{a['cached_bind_transient_peak_bytes']:.0f} |",
        f"| uncached bind | {a['uncached_bind_net_blocks_per_op']:.4f} | "
        f"{a['uncached_bind_transient_peak_bytes']:.0f} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="binds per repetition")
    parser.add_argument("--parse-n", type=int, default=None,
                        help="parses per repetition (default: n / 10)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions; the median is reported")
    parser.add_argument("--alt", action="store_true",
                        help="use the chain with an Alt fallback (one extra lookup)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    if args.n < 1 or args.reps < 1:
        parser.error("--n and --reps must be >= 1")
    parse_n = args.parse_n if args.parse_n is not None else max(1, args.n // 10)
    report = run_all(args.n, parse_n, args.reps, args.alt)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
