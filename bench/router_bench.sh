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
# io.l5d.statsd, io.l5d.recentRequests (0.25) and io.l5d.zipkin (0.001).
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
#      l5d TLS +6, l5d TLS server +7), BACKEND_TLS_PORT (24443; nginx TLS upstream uses NGINX_PORT+1).
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
TLS=0 DISTINCT=0 ORIGIN=0 STATS_OFF=0 BARE=0 BASELINE="" CEILING=1 QUIET_WAIT=60 QUIET_PCT=20 NICE="" REPORT_ONLY=0 INSTALL=0
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

# -- tools -------------------------------------------------------------------------------
missing_tools() {
  local t miss=()
  for t in nginx wrk curl taskset; do command -v "$t" >/dev/null || miss+=("$t"); done
  echo "${miss[*]}"
}
missing=$(missing_tools)
if [ -n "$missing" ]; then
  [ "$INSTALL" = 1 ] || die "missing: $missing. Install them (Debian/Ubuntu: apt-get install" \
    "nginx wrk curl util-linux), or rerun as root with --install"
  [ "$(id -u)" = 0 ] || die "--install needs root (apt-get)"
  pkgs=()
  for t in $missing; do
    case $t in taskset) pkgs+=(util-linux);; *) pkgs+=("$t");; esac
  done
  note "apt-get install ${pkgs[*]} (on a host with an init system Debian also starts the" \
       "distribution's nginx on port 80; this script never uses that instance)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 \
    || die "apt-get install ${pkgs[*]} failed"
  missing=$(missing_tools)
  [ -z "$missing" ] || die "still missing after apt-get: $missing"
fi
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

# -- processes: every one started here is recorded and stopped on exit --------------------
STARTED=()
descendants() { # PID -> PID and all its descendants, one per line
  ps -e -o pid=,ppid= | awk -v top="$1" '
    { parent[$1] = $2 }
    END { if (!(top in parent)) exit
          print top; want[top] = 1; grew = 1
          while (grew) { grew = 0
            for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; print p; grew = 1 } } }'
}
stop() { # PID: TERM its process tree, KILL what is left after 5 s
  local top=$1 pids p i
  pids=$(descendants "$top")
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null
    for i in $(seq 50); do
      kill -0 "$top" 2>/dev/null || break
      sleep 0.1
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  fi
  wait "$top" 2>/dev/null
  local keep=()
  for p in "${STARTED[@]}"; do [ "$p" = "$top" ] || keep+=("$p"); done
  STARTED=("${keep[@]}")
}
cleanup() {
  local p
  for p in "${STARTED[@]}"; do stop "$p"; done
}
trap cleanup EXIT
trap 'note interrupted; exit 130' INT TERM

launch() { # CPU LOG CMD... -> PID in LAUNCHED; the command runs in the repository root
  local cpu=$1 log=$2; shift 2
  (cd "$REPO" && exec taskset -c "$cpu" "${NICE_CMD[@]}" "$@") </dev/null >"$log" 2>&1 &
  LAUNCHED=$!
  STARTED+=("$LAUNCHED")
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port_free() { # PORT: up to 5 s
  local i
  for i in $(seq 50); do port_in_use "$1" || return 0; sleep 0.1; done
  return 1
}
fetch_via() { # FORM PORT: what the listener on PORT answers for our target
  case $1 in
    absolute) curl -s -m 2 -x "http://127.0.0.1:$2" "$TARGET";;
    tls) curl -s -m 2 --proxy-insecure -x "https://127.0.0.1:$2" "$TARGET";;
    origin) curl -s -m 2 --noproxy '*' -H "Host: $AUTHORITY" "http://127.0.0.1:$2/";;
  esac
}
wait_ready() { # PID FORM PORT LOG: until a request through PORT returns the backend's body (15 s)
  local i
  for i in $(seq 75); do
    kill -0 "$1" 2>/dev/null || { note "exited during start-up; $4:"; tail -5 "$4" >&2; return 1; }
    [ "$(fetch_via "$2" "$3" 2>/dev/null)" = hello ] && return 0
    sleep 0.2
  done
  note "no answer through port $3 after 15 s; see $4"
  return 1
}

render() { # TEMPLATE DIR PORT [BACKEND]: an nginx config into DIR/nginx.conf
  mkdir -p "$2/tmp" || return 1
  sed -e "s#@DIR@#$2#g" -e "s#@PORT@#$3#g" -e "s#@BACKEND_PORT@#${4:-$BACKEND_PORT}#g" \
    -e "s#@TLS@#$OUT/tls#g" "$1" > "$2/nginx.conf"
}
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
l5d_config() { # PORT FILE [bare|tls]: bare leaves the telemetry block out; tls: a TLS hop
  local telemetry dtab=$DTAB tls=""
  telemetry=$(cat <<TEL
# every telemeter on, as an operator would run them: Prometheus (scraped by nobody here),
# statsd to a port where nothing listens (flushed every 10 s all the same), a quarter of
# the requests kept for /requests, Zipkin spans for 0.1 % of them (to a port that refuses)
telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.statsd
  port: $(free_port)
- kind: io.l5d.recentRequests
  sampleRate: 0.25
- kind: io.l5d.zipkin
  port: $(free_port)
  sampleRate: 0.001
TEL
)
  [ "${3:-}" = bare ] && telemetry=""
  if [ "${3:-}" = tls ]; then
    dtab="/svc => /\$/inet/127.0.0.1/$BACKEND_TLS_PORT;"
    tls="
    tls: {commonName: bench.l5d, trustCerts: [$OUT/tls/ca.pem]}"
  fi
  local server_tls=""
  [ "${3:-}" = tls-server ] && server_tls="
    tls: {certPath: $OUT/tls/tls.crt, keyPath: $OUT/tls/tls.key}"
  cat > "$2" <<YAML
# Generated by bench/router_bench.sh. The identifier is left out, so the default
# (io.l5d.header.token on Host) names a request /svc/$AUTHORITY.
admin:
  ip: 127.0.0.1
  port: $(free_port)
$telemetry
routers:
- protocol: http
  label: bench
  dtab: |
    $dtab
  # everything on: peak EWMA, a retrying classifier (and, always, budgets and accrual)
  client:
    loadBalancer: {kind: ewma}$tls
  service:
    responseClassifier: {kind: io.l5d.http.retryableRead5XX}
  servers:
  - ip: 127.0.0.1
    port: $1$server_tls
YAML
}

# -- sampling ----------------------------------------------------------------------------
proc_ticks() { # PID: utime + stime, in clock ticks, summed over its process tree
  local p total=0 t
  for p in $(descendants "$1"); do
    # the command name (field 2) may hold spaces: count fields after its closing ")"
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null)
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
proc_rss_kb() { # PID: VmRSS summed over its process tree
  local p total=0 r
  for p in $(descendants "$1"); do
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${r:-0}))
  done
  echo "$total"
}
busy_ticks() { # busy (user nice system irq softirq) and steal ticks, all CPUs, from /proc/stat
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9; exit }' /proc/stat
}
wait_quiet() { # until under QUIET_PCT % of one core is busy over half a second, QUIET_WAIT s at most
  [ "$QUIET_WAIT" -gt 0 ] || return 0
  local start=$SECONDS a b pct
  while :; do
    read -r a _ < <(busy_ticks); sleep 0.5; read -r b _ < <(busy_ticks)
    pct=$(( (b - a) * 200 / TCK ))
    [ "$pct" -lt "$QUIET_PCT" ] && return 0
    if [ $((SECONDS - start)) -ge "$QUIET_WAIT" ]; then
      note "  still ${pct}% of a core busy after ${QUIET_WAIT}s of waiting; measuring anyway"
      return 0
    fi
    sleep 1
  done
}

run_wrk() { # SECONDS CONNS PORT MODE OUTFILE: wrk on the load CPU; MODE origin|host|absolute|distinct
  local secs=$1 conns=$2 port=$3 mode=$4 f=$5 load=()
  case $mode in
    origin) ;;                                      # direct: GET / to the backend itself
    host) load=(-H "Host: $AUTHORITY");;            # l5d-origin: GET / + Host
    absolute) load=(-s "$HERE/wrk-absform.lua");;
    tls) load=(-s "$HERE/wrk-absform.lua");;
    distinct) load=(-s "$HERE/wrk-distinct.lua");;
  esac
  # wrk in the background so that a signal reaches our trap at once; `time` gives its CPU
  (
    TIMEFORMAT='%U %S'
    time ABS_URL=$TARGET ABS_HOST=$AUTHORITY timeout -k 5 $((secs + 30)) \
      taskset -c "$LOAD_CPU" "${NICE_CMD[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s \
      --latency "${load[@]}" "$([ "$mode" = tls ] && echo https || echo http)://127.0.0.1:$port/" \
      >"$f" 2>&1
  ) 2>"$f.time" &
  local w=$!
  STARTED+=("$w")
  wait "$w"
  local rc=$?
  stop "$w"
  return $rc
}

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
[ "$CEILING" = 1 ] && ROWS+=("tw-ceiling|ceiling|$((L5D_PORT + 2))|absolute|bench/ceiling_forwarder.py: featureless Twisted + httptools forwarder, one process on CPU $PROXY_CPU, same interpreter as l5d")
if [ "$TLS" = 1 ]; then
  ROWS+=("nginx (TLS upstream)|nginx-tls|$((NGINX_PORT + 1))|absolute|nginx with a TLS upstream (bench/nginx-proxy-tls.conf: keepalive 64, session reuse, CA and name checked)")
  ROWS+=("l5d (TLS upstream)|l5d-tls|$((L5D_PORT + 6))|absolute|the same l5d with client tls to the TLS origin (commonName bench.l5d, trustCerts)")
  ROWS+=("l5d (TLS server)|l5d-tls-server|$((L5D_PORT + 7))|tls|the same l5d with server tls; wrk speaks TLS to it, the origin is the plaintext one")
fi
if [ "$DISTINCT" = 1 ]; then
  ROWS+=("nginx (distinct)|nginx|$NGINX_PORT|distinct|nginx, every request with its own target (bench/wrk-distinct.lua)")
  ROWS+=("l5d (distinct)|l5d|$L5D_PORT|distinct|l5d, every request with its own target: no request head repeats, the head memo never hits")
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
    l5d-base)
      l5d_config "$port" "$OUT/l5d-$port.yaml" bare || return 1
      (cd "$BASELINE" && exec taskset -c "$PROXY_CPU" "${NICE_CMD[@]}" "$PY" -m l5d \
        "$OUT/l5d-$port.yaml") </dev/null >"$log" 2>&1 &
      LAUNCHED=$!; STARTED+=("$LAUNCHED");;
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
check=$OUT/l5d-check.yaml
l5d_config "$L5D_PORT" "$check"
(cd "$REPO" && timeout 60 "$PY" -m l5d --validate "$check") >/dev/null \
  || die "the generated l5d config does not validate: $check"
rm -f "$check"
bound=$(cd "$REPO" && timeout 60 "$PY" -m l5d dtab bind --dtab "$DTAB" "/svc/$AUTHORITY") \
  || die "l5d dtab bind failed"
[[ $bound == *"\"addr\": \"$AUTHORITY\""* ]] \
  || die "the dtab does not bind /svc/$AUTHORITY to the backend: $bound"
for p in "$BACKEND_PORT" "$NGINX_PORT" "$L5D_PORT" $((L5D_PORT + 1)) $((L5D_PORT + 2)) \
    $((L5D_PORT + 3)) $((L5D_PORT + 4)) $((L5D_PORT + 5)) $((L5D_PORT + 6)) $((L5D_PORT + 7)) \
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

rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(cd "$REPO" && git status --porcelain 2>/dev/null | grep -q . && echo ' (+ uncommitted)')
{
  echo "date: $(date -u +%FT%TZ)  host: $(nproc) CPUs, Linux $(uname -r)"
  echo "l5d: $rev${dirty:-}  $("$PY" -c 'import sys, twisted, httptools
print("CPython/%s twisted/%s httptools/%s" % (sys.version.split()[0], twisted.__version__, httptools.__version__))')"
  echo "tools: $(nginx -v 2>&1 | sed 's/.*: //'), wrk/$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
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
