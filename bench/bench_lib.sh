# bench_lib.sh - the pieces bench/router_bench.sh and bench/workers_bench.sh share: starting and
# stopping process trees, waiting for a listener, nginx and l5d configs, CPU and memory samples
# from /proc, an idle wait and a wrk run. Sourced, never run. The caller sets:
#   REPO HERE PY OUT   the repository, bench/, the interpreter that runs l5d, the results directory
#   NICE_CMD           (nice -n N) or () for every process started
#   TCK                clock ticks per second (getconf CLK_TCK)
#   BACKEND_PORT AUTHORITY TARGET DTAB   the origin, the Host it is named by, the absolute URL
#                      sent to proxies, and l5d's dtab
#   BACKEND_TLS_PORT   (router_bench.sh --tls) the TLS origin
#   LOAD_CPU           the CPU list wrk runs on; empty: not pinned
#   QUIET_WAIT QUIET_PCT   see wait_quiet
#   L5D_WORKERS        the `workers:` line of generated l5d configs (default 1; empty: no line,
#                      for an l5d older than the key)
# and defines note MESSAGE and die MESSAGE (to stderr; die exits). STARTED lists every process started here; the caller's
# EXIT trap calls cleanup.
# shellcheck shell=bash

STARTED=()
: "${L5D_WORKERS=1}"

need_tools() { # INSTALL: nginx wrk curl taskset there, or (INSTALL=1, root) apt-get them; else die
  local missing t pkgs=()
  missing=$(missing_tools)
  [ -n "$missing" ] || return 0
  [ "$1" = 1 ] || die "missing: $missing. Install them (Debian/Ubuntu: apt-get install" \
    "nginx wrk curl util-linux), or rerun as root with --install"
  [ "$(id -u)" = 0 ] || die "--install needs root (apt-get)"
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
}
check_l5d() { # [WORKERS...]: the generated l5d config validates (with each `workers:`), and
  # the dtab binds /svc/AUTHORITY to the origin; else die
  local check=$OUT/l5d-check.yaml n bound
  for n in "${@:-$L5D_WORKERS}"; do
    L5D_WORKERS=$n l5d_config "$L5D_PORT" "$check"
    (cd "$REPO" && timeout 60 "$PY" -m l5d --validate "$check") >/dev/null \
      || die "the generated l5d config does not validate: $check"
  done
  rm -f "$check"
  bound=$(cd "$REPO" && timeout 60 "$PY" -m l5d dtab bind --dtab "$DTAB" "/svc/$AUTHORITY") \
    || die "l5d dtab bind failed"
  [[ $bound == *"\"addr\": \"$AUTHORITY\""* ]] \
    || die "the dtab does not bind /svc/$AUTHORITY to the backend: $bound"
}
meta_versions() { # the date, host, l5d commit and versions lines of meta.txt
  local rev dirty
  rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
  dirty=$(cd "$REPO" && git status --porcelain 2>/dev/null | grep -q . && echo ' (+ uncommitted)')
  echo "date: $(date -u +%FT%TZ)  host: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)"
  # the interpreter's path too: on a PGO+LTO build (Debian's, the python:3.11 image's) l5d
  # takes 2-8 % less CPU per request than on a plain one (docs/performance.md)
  echo "l5d: $rev${dirty:-}  $("$PY" -c 'import sys, twisted, httptools
print("CPython/%s (%s) twisted/%s httptools/%s" % (sys.version.split()[0], sys._base_executable,
      twisted.__version__, httptools.__version__))')"
  echo "tools: $(nginx -v 2>&1 | sed 's/.*: //'), wrk/$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }') -t${WRK_THREADS:-1}"
}
missing_tools() {
  local t miss=()
  for t in nginx wrk curl taskset; do command -v "$t" >/dev/null || miss+=("$t"); done
  echo "${miss[*]}"
}
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

launch() { # CPU LOG CMD... -> PID in LAUNCHED; the command runs in the repository root.
  # CPU: a taskset CPU list, or empty: not pinned
  local cpu=$1 log=$2 pin=(); shift 2
  [ -n "$cpu" ] && pin=(taskset -c "$cpu")
  (cd "$REPO" && exec "${pin[@]}" "${NICE_CMD[@]}" "$@") </dev/null >"$log" 2>&1 &
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
l5d_config() { # PORT FILE [bare|tls|tls-server]: bare leaves the telemetry block out; tls: a
  # TLS hop to the origin; tls-server: TLS on the router's server. `workers: $L5D_WORKERS` on top.
  local telemetry dtab=$DTAB tls="" workers=""
  [ -n "$L5D_WORKERS" ] && workers="workers: $L5D_WORKERS"
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
# Generated by bench/$(basename "$0"). The identifier is left out, so the default
# (io.l5d.header.token on Host) names a request /svc/$AUTHORITY.
$workers
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

run_wrk() { # SECONDS CONNS PORT MODE OUTFILE: wrk -t${WRK_THREADS:-1} on LOAD_CPU (empty: not
  # pinned); MODE origin|host|absolute|tls|distinct. Its CPU seconds (user sys) in OUTFILE.time
  local secs=$1 conns=$2 port=$3 mode=$4 f=$5 load=() pin=()
  [ -n "$LOAD_CPU" ] && pin=(taskset -c "$LOAD_CPU")
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
      "${pin[@]}" "${NICE_CMD[@]}" wrk -t"${WRK_THREADS:-1}" -c"$conns" -d"${secs}s" --timeout 5s \
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
