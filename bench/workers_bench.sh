#!/usr/bin/env bash
# workers_bench.sh - l5d with 1 and 2 worker processes against nginx with 1 and 2, on loopback,
# in the same run (issue 14, "every core"). Self-contained: everything it runs is in this
# directory; it shares its pieces with bench/router_bench.sh (bench/bench_lib.sh).
#
# The same origin (bench/nginx-backend.conf: `return 200 "hello\n"`, one worker, keep-alive) on
# 127.0.0.1:$BACKEND_PORT, the same absolute-form requests (bench/wrk-absform.lua; distinct
# heads: bench/wrk-distinct.lua), wrk -t1, and the same l5d config as router_bench.sh's "l5d"
# row (peak EWMA, a retrying classifier, budgets and accrual; telemeters io.l5d.prometheus,
# io.l5d.statsd, io.l5d.recentRequests 0.25, io.l5d.zipkin 0.001), with `workers: N`. Rows:
#   nginx 1w   nginx as a proxy (bench/nginx-proxy.conf), worker_processes 1
#   nginx 2w   the same with worker_processes 2 and `listen ... reuseport`: each worker its own
#              socket, the kernel spreading connections over them as it does for l5d's workers
#   l5d 1w     l5d, `workers: 1`: one process does everything
#   l5d 2w     l5d, `workers: 2`: the `l5d CONFIG` process is the control (namers, admin,
#              exporters, stats merged every 1 s) and two `python -m l5d --worker` children
#              serve the router port (SO_REUSEPORT)
# A 2-CPU machine has to run wrk and the origin as well as the proxy, so the proxy never gets
# two whole cores. Layouts (--layouts), each measured in every round:
#   shared   nothing pinned: proxy, wrk and the origin share both CPUs as the scheduler likes
#   split    wrk and the origin pinned to CPU 1; the proxy may use both CPUs (so a second proxy
#            worker competes with the load on CPU 1)
# The table gives, per row, the share of the machine the proxy, wrk + origin, and other
# processes used during the run, so the reader sees what the proxy was left.
#
# Per round, layout and row: a fresh proxy is started and checked (a request through it gets
# the origin's body); for l5d, its processes' CPU over --idle seconds without load; then for
# each head kind (--heads: repeated, distinct) and each connection count (--conns: 32,64) a
# --warmup s unmeasured wrk run and a --duration s measured one; the proxy is stopped. Rounds
# are interleaved. Measured per run: requests/s, p50/p99 (wrk --latency), utime + stime of every
# process of the proxy (/proc/PID/stat of the top process and its children: nginx master +
# workers, l5d control + workers) and of the origin, wrk's own CPU (`time`), the machine's busy
# and steal ticks (/proc/stat), and each proxy process's RSS after the run. The table
# (bench/workers_report.py; OUT/table.md, printed) gives medians over rounds; the ratios vs
# nginx 1w / 2w are taken round by round against the same layout, heads and conns.
#
# Needs 2+ CPUs, nginx, wrk, curl, taskset and the repository's .venv. A default run (3 rounds,
# 2 layouts, 4 rows, 2 x 2 measured runs of 10 s per row) takes about 25 minutes plus idle waits.
# Run it on an otherwise idle machine; the bg column says how far it was not.
#
# usage: bench/workers_bench.sh [options]
#   --runs N          rounds (default 3)
#   --duration S      seconds per measured wrk run (default 10)
#   --warmup S        seconds of unmeasured load before each measured run (default 2)
#   --conns LIST      wrk connection counts, comma-separated (default 32,64)
#   --heads LIST      repeated,distinct (default both)
#   --layouts LIST    shared,split (default both)
#   --idle S          seconds of l5d's idle CPU sampled after each l5d start (default 10; 0: none)
#   --quiet-wait S    before each row, wait up to S s until the machine is idle (under
#                     --quiet-pct % of one core busy; default 20; 0 = do not wait)
#   --quiet-pct P     what counts as idle (default 20)
#   --nice N          niceness of proxy, origin and wrk (default -10 as root, else 0)
#   --out DIR         results directory (default /tmp/l5d-workers-bench): table.md, raw.tsv,
#                     idle.tsv, meta.txt, wrk outputs under runs/, logs under logs/, configs
#   --report-only     re-print the table of an earlier run in --out DIR and exit
#   --install         apt-get install what is missing (nginx wrk curl util-linux); root only
# env: PY (default: the repository's .venv/bin/python), BACKEND_PORT (24580), NGINX_PORT (24601;
#      2w: +1), L5D_PORT (24640; 2w: +1). Only 127.0.0.1 is used. Every process started here is
#      stopped on exit (also on Ctrl-C or SIGTERM), and every step has a time limit.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
PY=${PY:-$REPO/.venv/bin/python}
BACKEND_PORT=${BACKEND_PORT:-24580}
NGINX_PORT=${NGINX_PORT:-24601}
L5D_PORT=${L5D_PORT:-24640}
DTAB='/svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;'
AUTHORITY=127.0.0.1:$BACKEND_PORT
TARGET=http://$AUTHORITY/
LOAD_CPU=""
# Nothing here may leave the machine, whatever the caller's environment says.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

die() { echo "workers_bench.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

RUNS=3 DURATION=10 WARMUP=2 CONNS=32,64 HEADS=repeated,distinct LAYOUTS=shared,split IDLE=10
QUIET_WAIT=20 QUIET_PCT=20 NICE="" OUT=/tmp/l5d-workers-bench REPORT_ONLY=0 INSTALL=0
ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=${2:?}; shift 2;;
    --duration) DURATION=${2:?}; shift 2;;
    --warmup) WARMUP=${2:?}; shift 2;;
    --conns) CONNS=${2:?}; shift 2;;
    --heads) HEADS=${2:?}; shift 2;;
    --layouts) LAYOUTS=${2:?}; shift 2;;
    --idle) IDLE=${2:?}; shift 2;;
    --quiet-wait) QUIET_WAIT=${2:?}; shift 2;;
    --quiet-pct) QUIET_PCT=${2:?}; shift 2;;
    --nice) NICE=${2:?}; shift 2;;
    --out) OUT=${2:?}; shift 2;;
    --report-only) REPORT_ONLY=1; shift;;
    --install) INSTALL=1; shift;;
    -h|--help) sed -n '2,/^set -uo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
for v in RUNS DURATION WARMUP IDLE QUIET_WAIT QUIET_PCT BACKEND_PORT NGINX_PORT L5D_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] || die "--runs and --duration must be at least 1"
[[ $CONNS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--conns wants numbers like 32,64"
[[ $HEADS =~ ^(repeated|distinct)(,(repeated|distinct))?$ ]] || die "--heads: repeated,distinct"
[[ $LAYOUTS =~ ^(shared|split)(,(shared|split))?$ ]] || die "--layouts: shared,split"
[[ $NICE =~ ^-?[0-9]*$ ]] || die "--nice wants a number"
IFS=, read -r -a CONN_LIST <<<"$CONNS"
IFS=, read -r -a HEAD_LIST <<<"$HEADS"
IFS=, read -r -a LAYOUT_LIST <<<"$LAYOUTS"

REPORT_PY=$PY
[ -x "$REPORT_PY" ] || REPORT_PY=python3
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
TCK=$(getconf CLK_TCK)
if [ "$REPORT_ONLY" = 1 ]; then
  [ -f "$OUT/raw.tsv" ] || die "no earlier run in $OUT (raw.tsv is missing)"
  exec "$REPORT_PY" "$HERE/workers_report.py" "$OUT" "$TCK"
fi

# shellcheck source=bench/bench_lib.sh
. "$HERE/bench_lib.sh"
need_tools "$INSTALL"
[ -x "$PY" ] || die "no interpreter at $PY (run 'make venv' first, or set PY)"
"$PY" -c 'import twisted, httptools' 2>/dev/null || die "$PY lacks twisted/httptools ('make venv')"
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || die "needs 2+ CPUs (this machine lets us use $NCPU)"
ALL_CPUS=0-$((NCPU - 1))
if [ -z "$NICE" ]; then
  if [ "$(id -u)" = 0 ]; then NICE=-10; else NICE=0; fi
fi
NICE_CMD=()
[ "$NICE" != 0 ] && NICE_CMD=(nice -n "$NICE")
for f in nginx-backend.conf nginx-proxy.conf wrk-absform.lua wrk-distinct.lua workers_report.py \
    report.py; do
  [ -f "$HERE/$f" ] || die "$HERE/$f is missing"
done

# name | kind | port | workers
ROWS=("nginx 1w|nginx|$NGINX_PORT|1" "nginx 2w|nginx|$((NGINX_PORT + 1))|2"
      "l5d 1w|l5d|$L5D_PORT|1" "l5d 2w|l5d|$((L5D_PORT + 1))|2")

start_row() { # KIND PORT WORKERS SLUG -> PID in ROW_PID; non-zero if it did not start
  local kind=$1 port=$2 n=$3 log=$OUT/logs/$4.log dir
  ROW_PID=""
  wait_port_free "$port" || { note "port $port is in use"; return 1; }
  case $kind in
    nginx)
      dir=$OUT/nginx-proxy-${n}w
      render "$HERE/nginx-proxy.conf" "$dir" "$port" || return 1
      # n workers; with more than one, a socket each (reuseport), as l5d's workers have
      sed -i -e "s/^worker_processes 1;/worker_processes $n;/" "$dir/nginx.conf"
      [ "$n" -gt 1 ] && sed -i -e "s/\(listen 127.0.0.1:$port\) /\1 reuseport /" "$dir/nginx.conf"
      grep -q "^worker_processes $n;" "$dir/nginx.conf" || { note "cannot set worker_processes"; return 1; }
      launch "" "$log" nginx -e stderr -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;';;
    l5d)
      L5D_WORKERS=$n l5d_config "$port" "$OUT/l5d-${n}w.yaml" || return 1
      launch "" "$log" "$PY" -m l5d "$OUT/l5d-${n}w.yaml";;
  esac
  ROW_PID=$LAUNCHED
  wait_ready "$ROW_PID" absolute "$port" "$log" || { stop "$ROW_PID"; ROW_PID=""; return 1; }
  local i want=$((n + 1))  # nginx: master + n workers; l5d: control + n workers, or one process
  [ "$kind" = l5d ] && [ "$n" = 1 ] && want=1
  for i in $(seq 150); do  # every worker up: l5d answers once one worker listens, and logs
    # "started (...)" when all do
    if [ "$(descendants "$ROW_PID" | wc -l)" -ge "$want" ] \
        && { [ "$kind" = nginx ] || grep -q 'started (' "$log"; }; then
      sleep 1  # what start-up left to do (an idle sample follows)
      return 0
    fi
    sleep 0.1
  done
  note "$kind: not $want processes, all started, after 15 s"; stop "$ROW_PID"; ROW_PID=""; return 1
}

tree_sample() { # PID -> "ticks/rss_kb" of it and each descendant, comma-separated, top first
  local p t r out=()
  for p in $(descendants "$1"); do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null)
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
    [ -n "$t" ] && out+=("$p:$t/${r:-0}")
  done
  local IFS=,; echo "${out[*]}"
}
tree_delta() { # BEFORE AFTER (tree_sample outputs) -> "ticks/rss_kb,..." per process: ticks
  # over the interval, RSS at its end; a process not in BEFORE counts from 0
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, xs, ","); for (i = 1; i <= n; i++) { split(xs[i], kv, "[:/]"); t0[kv[1]] = kv[2] }
    n = split(b, xs, ","); s = ""
    for (i = 1; i <= n; i++) { split(xs[i], kv, "[:/]")
      s = s (i > 1 ? "," : "") (kv[2] - (kv[1] in t0 ? t0[kv[1]] : 0)) "/" kv[3] }
    print s }'
}

measure() { # LAYOUT ROW SLUG PID PORT HEADS ROUND CONNS: warm-up, measured run, a raw.tsv line
  local layout=$1 row=$2 slug=$3 pid=$4 port=$5 heads=$6 r=$7 c=$8 mode=absolute
  [ "$heads" = distinct ] && mode=distinct
  local f=$OUT/runs/$layout.$slug.$heads.c$c.r$r.wrk
  [ "$WARMUP" -gt 0 ] && run_wrk "$WARMUP" "$c" "$port" "$mode" "${f%.wrk}.warm"
  local t0 t1 b0 b1 s0 s1 busy0 st0 busy1 st1 wu ws
  t0=$(tree_sample "$pid"); b0=$(proc_ticks "$BACKEND_PID"); s0=$(busy_ticks)
  run_wrk "$DURATION" "$c" "$port" "$mode" "$f" || note "  wrk failed (exit $?); see $f"
  s1=$(busy_ticks); b1=$(proc_ticks "$BACKEND_PID"); t1=$(tree_sample "$pid")
  read -r wu ws < "$f.time" || { wu=0; ws=0; }
  read -r busy0 st0 <<<"$s0"; read -r busy1 st1 <<<"$s1"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$layout" "$row" "$heads" \
    "$c" "$r" "$DURATION" "runs/$(basename "$f")" "$(tree_delta "$t0" "$t1")" "$((b1 - b0))" \
    "${wu:-0}" "${ws:-0}" "$((busy1 - busy0))" "$((st1 - st0))" "$NCPU" >> "$OUT/raw.tsv"
  awk -v row="$row" -v c="$c" -v h="$heads" -v l="$layout" \
    '/Requests\/sec/ { printf "#   %s %s %s c=%s: %s req/s\n", l, row, h, c, $2 }' "$f" >&2
}

idle_sample() { # LAYOUT ROW ROUND PID: the proxy's processes' CPU over IDLE s without load
  [ "$IDLE" -gt 0 ] || return 0
  local t0 t1 s0 s1
  t0=$(tree_sample "$4"); s0=$(busy_ticks); sleep "$IDLE"; s1=$(busy_ticks); t1=$(tree_sample "$4")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$IDLE" "$(tree_delta "$t0" "$t1")" \
    "$(( ${s1% *} - ${s0% *} ))" >> "$OUT/idle.tsv"
}

set_layout() { # LAYOUT: pin (or unpin) wrk and the origin; proxies are never pinned
  local cpus=$ALL_CPUS p
  LOAD_CPU=""
  [ "$1" = split ] && { LOAD_CPU=1; cpus=1; }
  for p in $(descendants "$BACKEND_PID"); do taskset -a -p -c "$cpus" "$p" >/dev/null || return 1; done
}

# -- checks before anything starts ------------------------------------------------------
check_l5d 1 2
for p in "$BACKEND_PORT" "$NGINX_PORT" $((NGINX_PORT + 1)) "$L5D_PORT" $((L5D_PORT + 1)); do
  port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (see BACKEND_PORT," \
    "NGINX_PORT, L5D_PORT)"
done

# -- run ---------------------------------------------------------------------------------
rm -rf "$OUT/runs" "$OUT/logs" "$OUT/nginx-backend" "$OUT"/nginx-proxy-*w
rm -f "$OUT/raw.tsv" "$OUT/idle.tsv" "$OUT/table.md" "$OUT"/l5d-*.yaml
mkdir -p "$OUT/runs" "$OUT/logs"
printf 'layout\trow\theads\tconns\tround\tduration\twrk\tprocs\tbackend_ticks\twrk_user_s\twrk_sys_s\tbusy_ticks\tsteal_ticks\tncpu\n' \
  > "$OUT/raw.tsv"
printf 'layout\trow\tround\tseconds\tprocs\tbusy_ticks\n' > "$OUT/idle.tsv"

{
  meta_versions
  echo "runs=$RUNS duration=${DURATION}s warmup=${WARMUP}s conns=$CONNS heads=$HEADS layouts=$LAYOUTS" \
       "idle=${IDLE}s quiet_wait=${QUIET_WAIT}s@<${QUIET_PCT}% nice=$NICE"
  echo "command: bench/workers_bench.sh${ARGS[*]:+ ${ARGS[*]}}"
} > "$OUT/meta.txt"
cat "$OUT/meta.txt" >&2

render "$HERE/nginx-backend.conf" "$OUT/nginx-backend" "$BACKEND_PORT" || die "cannot write the backend config"
launch "" "$OUT/logs/backend.log" nginx -e stderr -p "$OUT/nginx-backend" \
  -c "$OUT/nginx-backend/nginx.conf" -g 'daemon off;'
BACKEND_PID=$LAUNCHED
wait_ready "$BACKEND_PID" origin "$BACKEND_PORT" "$OUT/logs/backend.log" || die "the backend did not start"

for r in $(seq "$RUNS"); do
  for layout in "${LAYOUT_LIST[@]}"; do
    set_layout "$layout" || die "cannot pin the origin for layout $layout"
    for spec in "${ROWS[@]}"; do
      IFS='|' read -r name kind port n <<<"$spec"
      slug=${name// /-}
      note "round $r/$RUNS, $layout: $name"
      wait_quiet
      start_row "$kind" "$port" "$n" "$layout.$slug.r$r" \
        || { note "  $name did not start; skipped this round"; continue; }
      [ "$kind" = l5d ] && idle_sample "$layout" "$name" "$r" "$ROW_PID"
      for heads in "${HEAD_LIST[@]}"; do
        for c in "${CONN_LIST[@]}"; do
          measure "$layout" "$name" "$slug" "$ROW_PID" "$port" "$heads" "$r" "$c"
        done
      done
      stop "$ROW_PID"
    done
  done
done
cleanup
echo >&2
"$REPORT_PY" "$HERE/workers_report.py" "$OUT" "$TCK"
