#!/usr/bin/env bash
# router_bench.sh - l5d against a direct connection, nginx and a minimal Twisted forwarder,
# on loopback, in the same run. Self-contained: everything it runs is in this directory.
#
# One nginx backend (bench/nginx-backend.conf: `return 200 "hello\n"`, keep-alive) listens on
# 127.0.0.1:$BACKEND_PORT, pinned to CPU 1. Each proxy runs alone, pinned to CPU 0; wrk -t1
# runs on CPU 1 (it shares that core with the backend). Rows, in every round:
#   direct       wrk straight at the backend (origin-form GET /)
#   nginx        nginx as a proxy (bench/nginx-proxy.conf): one worker, upstream keepalive
#   l5d          this repository's router, .venv/bin/python -m l5d CONFIG, one process
#   l5d-origin   with --origin: l5d sent origin-form requests (GET / + Host) instead
#   tw-ceiling   bench/ceiling_forwarder.py, a featureless Twisted + httptools forwarder:
#                the ceiling for a Twisted/CPython design on this host (--no-ceiling: left out)
#   l5d (stats off)  with --stats-off: the same l5d started with L5D_STATS=off (no
#                per-request outcome, status and latency recording), to price the recording
#   nginx (TLS upstream), l5d (TLS upstream)  with --tls: nginx and l5d once more, each
#                with a TLS hop to the origin instead of a plaintext one: the origin is then
#                bench/nginx-backend-tls.conf (the same nginx answer behind TLS, on
#                $BACKEND_TLS_PORT, CPU 1), whose certificate (name bench.l5d, made by
#                scripts/l5d-tls-secret.py into OUT/tls) both check against its CA; l5d's
#                client block gets tls {commonName: bench.l5d, trustCerts: [OUT/tls/ca.pem]}
#                and its dtab sends /svc to the TLS origin; nginx: bench/nginx-proxy-tls.conf;
#                and "l5d (TLS server)": the plaintext l5d row's l5d with server tls (the
#                same certificate), wrk speaking TLS to it (the 4141 side of a TLS hop)
#   X (distinct) with --distinct: nginx, l5d and tw-ceiling once more, each request with its
#                own target (bench/wrk-distinct.lua), so no request head ever repeats
# Proxies get absolute-form requests (bench/wrk-absform.lua), as an http_proxy client sends:
#     GET http://127.0.0.1:$BACKEND_PORT/ HTTP/1.1   Host: 127.0.0.1:$BACKEND_PORT
# l5d's config is generated into OUT (router on 127.0.0.1:$L5D_PORT, admin on a free port):
#     /svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;
# so the Host 127.0.0.1:$BACKEND_PORT binds to /$/inet/127.0.0.1/$BACKEND_PORT (checked with
# `l5d --validate` and `l5d dtab bind` before anything starts). Everything is on: peak EWMA,
# a retrying classifier, budgets and accrual, and the telemeters io.l5d.prometheus,
# io.l5d.statsd, io.l5d.recentRequests (0.25) and io.l5d.zipkin (0.001). The config says
# `workers: 1` (one process; pinned to one CPU `auto` would give 1 as well, but the row's meaning
# must not depend on that); bench/workers_bench.sh measures more workers.
#
# Per row and round, a fresh proxy process is started, then: warm-up at c=32, measured run at
# c=32, warm-up at c=1, measured run at c=1; the proxy is stopped. Rounds are interleaved and
# the table (OUT/table.md, printed; bench/report.py) gives medians over rounds: requests/s,
# p50/p99 latency, the proxy's CPU us per request (utime + stime from /proc/PID/stat of its
# processes over the measured run, / requests), RSS after the run, wrk errors, and "vs nginx":
# per round this row's requests/s / nginx's in the same round, then the median.
#
# Needs 2+ CPUs, nginx, wrk, curl, taskset and the repository's .venv. A default run
# (3 rounds x 10 s, 4 rows) takes about 5 minutes plus idle waits; --distinct adds 3 rows.
# Run it on an otherwise idle machine: other load on either CPU changes the numbers.
#
# usage: bench/router_bench.sh [options]
#   --runs N          rounds (default 3)
#   --duration S      seconds per measured wrk run (default 10)
#   --warmup S        seconds of unmeasured load before each measured run (default 2)
#   --out DIR         results directory (default /tmp/l5d-router-bench): table.md, raw.tsv,
#                     meta.txt, the wrk outputs under runs/, logs under logs/, l5d configs
#   --distinct        also the "(distinct)" rows (bench/wrk-distinct.lua)
#   --origin          also the "l5d-origin" row
#   --stats-off       also the "l5d (stats off)" row (and its distinct twin with --distinct)
#   --bare            also "l5d (no telemetry)": the same l5d without the telemetry block
#   --baseline DIR    also "l5d (baseline)": the l5d of checkout DIR (an older commit, A/B in
#                     the same run), without the telemetry block
#   --other-python P  also "l5d (other python)": the same l5d, everything on, run by the
#                     interpreter P (a venv's python with l5d's dependencies): an A/B of two
#                     interpreter builds in the same rounds (docs/performance.md)
#   --tls             also the two "(TLS upstream)" rows (see above)
#   --no-ceiling      leave out the tw-ceiling rows
#   --quiet-wait S    before each measured run, wait up to S s until the machine is idle
#                     (under --quiet-pct % of one core busy; default 60 s; 0 = do not wait)
#   --quiet-pct P     what counts as idle (default 20)
#   --nice N          niceness of proxy, backend and wrk (default -10 as root, else 0)
#   --report-only     re-print the table of an earlier run in --out DIR and exit
#   --install         apt-get install what is missing (nginx wrk, curl, util-linux); root only.
#                     Without it a missing tool is an error.
# env: PY (default: the repository's .venv/bin/python), BACKEND_PORT (24080), NGINX_PORT
#      (24101), L5D_PORT (24140; l5d-origin uses L5D_PORT+1, tw-ceiling L5D_PORT+2, stats off +3,
#      l5d TLS +6, l5d TLS server +7, other python +8), BACKEND_TLS_PORT (24443; nginx TLS upstream uses NGINX_PORT+1).
# Only 127.0.0.1 is used. Every process started here is stopped on exit, and every step has a
# time limit.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
PY=${PY:-$REPO/.venv/bin/python}
BACKEND_PORT=${BACKEND_PORT:-24080}
NGINX_PORT=${NGINX_PORT:-24101}
L5D_PORT=${L5D_PORT:-24140}
BACKEND_TLS_PORT=${BACKEND_TLS_PORT:-24443}
DTAB='/svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;'
PROXY_CPU=0 LOAD_CPU=1
AUTHORITY=127.0.0.1:$BACKEND_PORT
TARGET=http://$AUTHORITY/
# Nothing here may leave the machine, whatever the caller's environment says.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

die() { echo "router_bench.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

RUNS=3 DURATION=10 WARMUP=2 OUT=/tmp/l5d-router-bench
TLS=0 DISTINCT=0 ORIGIN=0 STATS_OFF=0 BARE=0 BASELINE="" OTHER_PY="" CEILING=1 QUIET_WAIT=60 QUIET_PCT=20 NICE="" REPORT_ONLY=0 INSTALL=0
ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=${2:?}; shift 2;;
    --duration) DURATION=${2:?}; shift 2;;
    --warmup) WARMUP=${2:?}; shift 2;;
    --out) OUT=${2:?}; shift 2;;
    --distinct) DISTINCT=1; shift;;
    --tls) TLS=1; shift;;
    --origin) ORIGIN=1; shift;;
    --stats-off) STATS_OFF=1; shift;;
    --bare) BARE=1; shift;;
    --baseline) BASELINE=$(cd "${2:?}" && pwd) || die "--baseline: no directory $2"; shift 2;;
    --other-python) OTHER_PY=${2:?}; [ -x "$OTHER_PY" ] || die "--other-python: no $2"; shift 2;;
    --no-ceiling) CEILING=0; shift;;
    --quiet-wait) QUIET_WAIT=${2:?}; shift 2;;
    --quiet-pct) QUIET_PCT=${2:?}; shift 2;;
    --nice) NICE=${2:?}; shift 2;;
    --report-only) REPORT_ONLY=1; shift;;
    --install) INSTALL=1; shift;;
    --) shift;;  # older command lines put options after "--"; they are ours now
    -h|--help) sed -n '2,/^set -uo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
for v in RUNS DURATION WARMUP QUIET_WAIT QUIET_PCT BACKEND_PORT NGINX_PORT L5D_PORT BACKEND_TLS_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] || die "--runs and --duration must be at least 1"
[[ $NICE =~ ^-?[0-9]*$ ]] || die "--nice wants a number"

REPORT_PY=$PY
[ -x "$REPORT_PY" ] || REPORT_PY=python3
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
if [ "$REPORT_ONLY" = 1 ]; then
  [ -f "$OUT/raw.tsv" ] || die "no earlier run in $OUT (raw.tsv is missing)"
  exec "$REPORT_PY" "$HERE/report.py" "$OUT"
fi

# -- processes, configs, samples, tools: bench/bench_lib.sh ------------------------------
# shellcheck source=bench/bench_lib.sh
. "$HERE/bench_lib.sh"
need_tools "$INSTALL"
[ -x "$PY" ] || die "no interpreter at $PY (run 'make venv' first, or set PY)"
"$PY" -c 'import twisted, httptools' 2>/dev/null || die "$PY lacks twisted/httptools ('make venv')"
taskset -c "$PROXY_CPU,$LOAD_CPU" true 2>/dev/null \
  || die "needs CPUs $PROXY_CPU and $LOAD_CPU (proxy on one, wrk + backend on the other)"
if [ -z "$NICE" ]; then
  if [ "$(id -u)" = 0 ]; then NICE=-10; else NICE=0; fi
fi
NICE_CMD=()
[ "$NICE" != 0 ] && NICE_CMD=(nice -n "$NICE")
TCK=$(getconf CLK_TCK)


measure() { # ROW FILE-SLUG PID PORT MODE ROUND CONNS: warm-up, measured run, a line of raw.tsv
  local row=$1 slug=$2 pid=$3 port=$4 mode=$5 r=$6 c=$7
  local f=$OUT/runs/$slug.c$c.r$r.wrk
  [ "$WARMUP" -gt 0 ] && run_wrk "$WARMUP" "$c" "$port" "$mode" "$OUT/runs/$slug.c$c.r$r.warm"
  wait_quiet
  local p0=0 p1=0 b0 b1 s0 s1 rss=0 busy0 st0 busy1 st1 wu ws
  [ -n "$pid" ] && p0=$(proc_ticks "$pid")
  b0=$(proc_ticks "$BACKEND_PID"); s0=$(busy_ticks)
  run_wrk "$DURATION" "$c" "$port" "$mode" "$f" || note "  wrk failed (exit $?); see $f"
  s1=$(busy_ticks); b1=$(proc_ticks "$BACKEND_PID")
  if [ -n "$pid" ]; then p1=$(proc_ticks "$pid"); rss=$(proc_rss_kb "$pid"); fi
  read -r wu ws < "$f.time" || { wu=0; ws=0; }
  read -r busy0 st0 <<<"$s0"; read -r busy1 st1 <<<"$s1"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$c" "$r" "$DURATION" \
    "runs/$(basename "$f")" "$((p1 - p0))" "$((b1 - b0))" "${wu:-0}" "${ws:-0}" \
    "$((busy1 - busy0))" "$((st1 - st0))" "$rss" >> "$OUT/raw.tsv"
  awk -v row="$row" -v c="$c" '/Requests\/sec/ { printf "#   %s c=%s: %s req/s\n", row, c, $2 }' \
    "$f" >&2
}

# -- rows --------------------------------------------------------------------------------
# name | kind | port | request mode | description
ROWS=("direct|direct|$BACKEND_PORT|origin|wrk straight at the backend (origin-form), both on CPU $LOAD_CPU")
ROWS+=("nginx|nginx|$NGINX_PORT|absolute|nginx $(nginx -v 2>&1 | sed 's#.*/##') as a proxy, one worker on CPU $PROXY_CPU, upstream keepalive 64 (bench/nginx-proxy.conf)")
ROWS+=("l5d|l5d|$L5D_PORT|absolute|this repository's l5d (.venv/bin/python -m l5d), one process on CPU $PROXY_CPU")
[ "$ORIGIN" = 1 ] && ROWS+=("l5d-origin|l5d|$((L5D_PORT + 1))|host|the same l5d, sent origin-form requests (GET / + Host)")
[ "$STATS_OFF" = 1 ] && ROWS+=("l5d (stats off)|l5d-nostats|$((L5D_PORT + 3))|absolute|the same l5d with L5D_STATS=off: no per-request outcome, status or latency recording")
[ "$BARE" = 1 ] && ROWS+=("l5d (no telemetry)|l5d-bare|$((L5D_PORT + 4))|absolute|the same l5d without any telemeter")
[ -n "$BASELINE" ] && ROWS+=("l5d (baseline)|l5d-base|$((L5D_PORT + 5))|absolute|the l5d of $BASELINE ($(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null)), no telemeter")
[ -n "$OTHER_PY" ] && ROWS+=("l5d (other python)|l5d-otherpy|$((L5D_PORT + 8))|absolute|the same l5d run by $OTHER_PY ($("$OTHER_PY" -c 'import sys; print("CPython", sys.version.split()[0], sys._base_executable)'))")
[ "$CEILING" = 1 ] && ROWS+=("tw-ceiling|ceiling|$((L5D_PORT + 2))|absolute|bench/ceiling_forwarder.py: featureless Twisted + httptools forwarder, one process on CPU $PROXY_CPU, same interpreter as l5d")
if [ "$TLS" = 1 ]; then
  ROWS+=("nginx (TLS upstream)|nginx-tls|$((NGINX_PORT + 1))|absolute|nginx with a TLS upstream (bench/nginx-proxy-tls.conf: keepalive 64, session reuse, CA and name checked)")
  ROWS+=("l5d (TLS upstream)|l5d-tls|$((L5D_PORT + 6))|absolute|the same l5d with client tls to the TLS origin (commonName bench.l5d, trustCerts)")
  ROWS+=("l5d (TLS server)|l5d-tls-server|$((L5D_PORT + 7))|tls|the same l5d with server tls; wrk speaks TLS to it, the origin is the plaintext one")
fi
if [ "$DISTINCT" = 1 ]; then
  ROWS+=("nginx (distinct)|nginx|$NGINX_PORT|distinct|nginx, every request with its own target (bench/wrk-distinct.lua)")
  ROWS+=("l5d (distinct)|l5d|$L5D_PORT|distinct|l5d, every request with its own target: no request head repeats, the head memo never hits")
  [ -n "$OTHER_PY" ] && ROWS+=("l5d (distinct, other python)|l5d-otherpy|$((L5D_PORT + 8))|distinct|the same l5d run by $OTHER_PY, every request with its own target")
  [ "$STATS_OFF" = 1 ] && ROWS+=("l5d (distinct, stats off)|l5d-nostats|$((L5D_PORT + 3))|distinct|l5d with L5D_STATS=off, every request with its own target")
  [ "$CEILING" = 1 ] && ROWS+=("tw-ceiling (distinct)|ceiling|$((L5D_PORT + 2))|distinct|tw-ceiling, every request with its own target")
fi
[ -f "$HERE/ceiling_forwarder.py" ] || [ "$CEILING" = 0 ] \
  || die "$HERE/ceiling_forwarder.py is missing (or use --no-ceiling)"
for f in nginx-backend.conf nginx-proxy.conf wrk-absform.lua wrk-distinct.lua report.py; do
  [ -f "$HERE/$f" ] || die "$HERE/$f is missing"
done

start_row() { # KIND PORT MODE SLUG -> PID in ROW_PID (empty for direct); non-zero if it failed
  local kind=$1 port=$2 mode=$3 slug=$4 log=$OUT/logs/$4.log form=absolute
  ROW_PID=""
  [ "$kind" = direct ] && return 0
  wait_port_free "$port" || { note "port $port is in use"; return 1; }
  case $kind in
    nginx)
      render "$HERE/nginx-proxy.conf" "$OUT/nginx-proxy" "$port" || return 1
      launch "$PROXY_CPU" "$log" nginx -e stderr -p "$OUT/nginx-proxy" \
        -c "$OUT/nginx-proxy/nginx.conf" -g 'daemon off;';;
    l5d)
      l5d_config "$port" "$OUT/l5d-$port.yaml" || return 1
      launch "$PROXY_CPU" "$log" "$PY" -m l5d "$OUT/l5d-$port.yaml";;
    nginx-tls)
      render "$HERE/nginx-proxy-tls.conf" "$OUT/nginx-proxy-tls" "$port" "$BACKEND_TLS_PORT" \
        || return 1
      launch "$PROXY_CPU" "$log" nginx -e stderr -p "$OUT/nginx-proxy-tls" \
        -c "$OUT/nginx-proxy-tls/nginx.conf" -g 'daemon off;';;
    l5d-tls)
      l5d_config "$port" "$OUT/l5d-$port.yaml" tls || return 1
      launch "$PROXY_CPU" "$log" "$PY" -m l5d "$OUT/l5d-$port.yaml";;
    l5d-tls-server)
      l5d_config "$port" "$OUT/l5d-$port.yaml" tls-server || return 1
      launch "$PROXY_CPU" "$log" "$PY" -m l5d "$OUT/l5d-$port.yaml";;
    l5d-bare)
      l5d_config "$port" "$OUT/l5d-$port.yaml" bare || return 1
      launch "$PROXY_CPU" "$log" "$PY" -m l5d "$OUT/l5d-$port.yaml";;
    l5d-base)  # no workers line: the baseline may be older than the key
      L5D_WORKERS="" l5d_config "$port" "$OUT/l5d-$port.yaml" bare || return 1
      (cd "$BASELINE" && exec taskset -c "$PROXY_CPU" "${NICE_CMD[@]}" "$PY" -m l5d \
        "$OUT/l5d-$port.yaml") </dev/null >"$log" 2>&1 &
      LAUNCHED=$!; STARTED+=("$LAUNCHED");;
    l5d-otherpy)
      l5d_config "$port" "$OUT/l5d-$port.yaml" || return 1
      launch "$PROXY_CPU" "$log" "$OTHER_PY" -m l5d "$OUT/l5d-$port.yaml";;
    l5d-nostats)
      l5d_config "$port" "$OUT/l5d-$port.yaml" || return 1
      launch "$PROXY_CPU" "$log" env L5D_STATS=off "$PY" -m l5d "$OUT/l5d-$port.yaml";;
    ceiling)
      launch "$PROXY_CPU" "$log" "$PY" "$HERE/ceiling_forwarder.py" --port "$port";;
  esac
  ROW_PID=$LAUNCHED
  [ "$mode" = host ] && form=origin
  [ "$mode" = tls ] && form=tls
  wait_ready "$ROW_PID" "$form" "$port" "$log" || { stop "$ROW_PID"; ROW_PID=""; return 1; }
}

# -- checks before anything starts ------------------------------------------------------
check_l5d
for p in "$BACKEND_PORT" "$NGINX_PORT" "$L5D_PORT" $((L5D_PORT + 1)) $((L5D_PORT + 2)) \
    $((L5D_PORT + 3)) $((L5D_PORT + 4)) $((L5D_PORT + 5)) $((L5D_PORT + 6)) $((L5D_PORT + 7)) \
    $((L5D_PORT + 8)) \
    $((NGINX_PORT + 1)) \
    "$BACKEND_TLS_PORT"; do
  port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (see BACKEND_PORT," \
    "NGINX_PORT, L5D_PORT)"
done

# -- run ---------------------------------------------------------------------------------
rm -rf "$OUT/runs" "$OUT/logs" "$OUT/nginx-backend" "$OUT/nginx-proxy" "$OUT/nginx-backend-tls" \
  "$OUT/nginx-proxy-tls" "$OUT/tls"
rm -f "$OUT/raw.tsv" "$OUT/table.md" "$OUT"/l5d-*.yaml
mkdir -p "$OUT/runs" "$OUT/logs"
printf 'row\tconns\tround\tduration\twrk\tproxy_ticks\tbackend_ticks\twrk_user_s\twrk_sys_s\tbusy_ticks\tsteal_ticks\trss_kb\n' \
  > "$OUT/raw.tsv"
: > "$OUT/rows.tsv"
for spec in "${ROWS[@]}"; do
  IFS='|' read -r name _ _ _ desc <<<"$spec"
  printf '%s\t%s\n' "$name" "$desc" >> "$OUT/rows.tsv"
done

{
  meta_versions
  echo "runs=$RUNS duration=${DURATION}s warmup=${WARMUP}s quiet_wait=${QUIET_WAIT}s@<${QUIET_PCT}%" \
       "nice=$NICE proxy_cpu=$PROXY_CPU load_cpu=$LOAD_CPU (wrk + backend)"
  echo "dtab: $DTAB  (/svc/$AUTHORITY -> /\$/inet/127.0.0.1/$BACKEND_PORT)"
  echo "command: bench/router_bench.sh${ARGS[*]:+ ${ARGS[*]}}"
} > "$OUT/meta.txt"
cat "$OUT/meta.txt" >&2

mkdir -p "$OUT/logs"
render "$HERE/nginx-backend.conf" "$OUT/nginx-backend" "$BACKEND_PORT" || die "cannot write the backend config"
launch "$LOAD_CPU" "$OUT/logs/backend.log" nginx -e stderr -p "$OUT/nginx-backend" \
  -c "$OUT/nginx-backend/nginx.conf" -g 'daemon off;'
BACKEND_PID=$LAUNCHED
wait_ready "$BACKEND_PID" origin "$BACKEND_PORT" "$OUT/logs/backend.log" || die "the backend did not start"
if [ "$TLS" = 1 ]; then
  mkdir -p "$OUT/tls" && (cd "$REPO" && timeout 60 "$PY" scripts/l5d-tls-secret.py \
    --common-name bench.l5d --files "$OUT/tls") || die "cannot make the TLS certificates"
  render "$HERE/nginx-backend-tls.conf" "$OUT/nginx-backend-tls" "$BACKEND_TLS_PORT" \
    || die "cannot write the TLS backend config"
  launch "$LOAD_CPU" "$OUT/logs/backend-tls.log" nginx -e stderr -p "$OUT/nginx-backend-tls" \
    -c "$OUT/nginx-backend-tls/nginx.conf" -g 'daemon off;'
  BACKEND_TLS_PID=$LAUNCHED
  for i in $(seq 75); do
    [ "$(curl -s -m 2 --cacert "$OUT/tls/ca.pem" --resolve "bench.l5d:$BACKEND_TLS_PORT:127.0.0.1" \
      "https://bench.l5d:$BACKEND_TLS_PORT/")" = hello ] && break
    kill -0 "$BACKEND_TLS_PID" 2>/dev/null && [ "$i" -lt 75 ] \
      || die "the TLS backend did not start; see $OUT/logs/backend-tls.log"
    sleep 0.2
  done
fi

for r in $(seq "$RUNS"); do
  for spec in "${ROWS[@]}"; do
    IFS='|' read -r name kind port mode _ <<<"$spec"
    slug=$(echo "$name" | tr -c 'A-Za-z0-9\n-' '.' | sed 's/\.\.*/./g; s/\.$//')
    note "round $r/$RUNS: $name"
    start_row "$kind" "$port" "$mode" "$slug.r$r" || { note "  $name did not start; skipped this round"; continue; }
    measure "$name" "$slug" "$ROW_PID" "$port" "$mode" "$r" 32
    measure "$name" "$slug" "$ROW_PID" "$port" "$mode" "$r" 1
    [ -n "$ROW_PID" ] && stop "$ROW_PID"
  done
done
cleanup
echo >&2
"$REPORT_PY" "$HERE/report.py" "$OUT" "$TCK"
