#!/usr/bin/env bash
# quick_bench.sh - l5d alone under wrk, for a quick look or an A/B of two trees (~30 s a round).
#
# Starts the benchmark's nginx backend (bench/nginx-backend.conf: return 200 "hello") on CPU 1
# and one l5d on CPU 0 (the same config as router_bench.sh), then per round: a 2 s warm-up and
# a measured wrk run (-t1, on CPU 1, absolute-form requests: bench/wrk-absform.lua). Prints,
# per round: requests/s, l5d's CPU us per request (user + sys, from /proc), RSS, wrk errors. No peers, no medians, no quiet-host
# wait: for the figures of record use router_bench.sh.
#
# usage: bench/quick_bench.sh [--distinct] [--rounds N] [--duration S] [--conns C] [--repo DIR]
#   --distinct   every request has its own target (bench/wrk-distinct.lua), so no request
#                head repeats and l5d's request-head memo never hits
#   --repo DIR   run the l5d of another checkout (A/B); its own .venv if it has one
#   --top-yaml F top-level YAML (a telemetry list, say) put in l5d's config before routers
#   --python P   run l5d with the interpreter P (a venv's python with l5d installed): an A/B of
#                two interpreter builds (docs/performance.md, "The interpreter")
# env: BACKEND_PORT (24080), L5D_PORT (24140). Needs nginx, wrk, taskset, curl (router_bench.sh
# --install can apt-get them); traffic stays on 127.0.0.1 and every process started here is
# stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BACKEND_PORT=${BACKEND_PORT:-24080} L5D_PORT=${L5D_PORT:-24140}
ROUNDS=3 DURATION=8 CONNS=32 LUA=$HERE/wrk-absform.lua RUN_REPO=$REPO
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
while [ $# -gt 0 ]; do
  case $1 in
    --distinct) LUA=$HERE/wrk-distinct.lua; shift;;
    --rounds) ROUNDS=$2; shift 2;;
    --duration) DURATION=$2; shift 2;;
    --conns) CONNS=$2; shift 2;;
    --repo) RUN_REPO=$(cd "$2" && pwd); shift 2;;
    --top-yaml) TOP_YAML=$(cat "$2") || exit 1; shift 2;;
    --python) RUN_PY=$2; shift 2;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0;;
    *) echo "quick_bench.sh: unknown option $1" >&2; exit 2;;
  esac
done
PY=$RUN_REPO/.venv/bin/python; [ -x "$PY" ] || PY=$REPO/.venv/bin/python
if [ -n "${RUN_PY:-}" ]; then
  PY=$RUN_PY; [ -x "$PY" ] || { echo "quick_bench.sh: no interpreter $PY" >&2; exit 2; }
fi
for tool in nginx wrk taskset curl; do
  command -v $tool >/dev/null || { echo "quick_bench.sh: needs $tool" >&2; exit 1; }
done
for p in "$BACKEND_PORT" "$L5D_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "quick_bench.sh: port $p on 127.0.0.1 is in use (set BACKEND_PORT / L5D_PORT)" >&2; exit 1
  fi
done
RUN=$(mktemp -d /tmp/l5d-quick.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
mkdir -p "$RUN/backend/tmp"
sed -e "s#@DIR@#$RUN/backend#g" -e "s/@PORT@/$BACKEND_PORT/g" "$HERE/nginx-backend.conf" \
  > "$RUN/backend/nginx.conf"
taskset -c 1 nginx -e stderr -p "$RUN/backend" -c "$RUN/backend/nginx.conf" -g 'daemon off;' \
  > "$RUN/backend/out" 2>&1 & pids+=($!)
# one router process (pinned to one CPU anyway); an older checkout may not know the key
WORKERS_YAML=""
grep -q MAX_WORKERS "$RUN_REPO/l5d/config/model.py" 2>/dev/null && WORKERS_YAML="workers: 1"
cat > "$RUN/l5d.yaml" <<YAML
${WORKERS_YAML}
admin:
  ip: 127.0.0.1
  port: 0
${TOP_YAML:-}
routers:
- protocol: http
  label: bench
  dtab: |
    /svc => /\$/io.buoyant.hostportPfx/inet; /inet => /\$/inet;
  # everything on: peak EWMA, a retrying classifier (and, always, budgets and accrual)
  client:
    loadBalancer: {kind: ewma}
  service:
    responseClassifier: {kind: io.l5d.http.retryableRead5XX}
  servers:
  - ip: 127.0.0.1
    port: $L5D_PORT
YAML
(cd "$RUN_REPO" && exec taskset -c 0 "$PY" -m l5d "$RUN/l5d.yaml") > "$RUN/l5d.out" 2>&1 &
pid=$!; pids+=($pid)
target=http://127.0.0.1:$BACKEND_PORT/
for _ in $(seq 100); do
  [ "$(curl -s -m 1 -x 127.0.0.1:$L5D_PORT $target)" = hello ] && break; sleep 0.1
done
[ "$(curl -s -m 1 -x 127.0.0.1:$L5D_PORT $target)" = hello ] \
  || { echo "quick_bench.sh: l5d did not answer; see $RUN/l5d.out" >&2; exit 1; }
wrk_run() {
  ABS_URL=$target ABS_HOST=127.0.0.1:$BACKEND_PORT timeout -k 5 $(($1 + 30)) taskset -c 1 \
    wrk -t1 -c"$CONNS" -d"$1" -s "$LUA" "http://127.0.0.1:$L5D_PORT/"
}
tck=$(getconf CLK_TCK)
echo "l5d: $RUN_REPO ($(cd "$RUN_REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'))" \
     "on $("$PY" -c 'import sys; print("CPython", sys.version.split()[0], sys._base_executable)')" \
     "wrk: c=$CONNS ${DURATION}s $(basename "$LUA")"
for r in $(seq "$ROUNDS"); do
  wrk_run 2 > /dev/null
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
  wrk_run "$DURATION" > "$RUN/wrk.out"
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
  reqs=$(awk '/requests in/{print $1}' "$RUN/wrk.out")
  rps=$(awk '/Requests\/sec/{print $2}' "$RUN/wrk.out")
  errs=$(awk '/Socket errors|Non-2xx/{s = s $0 "; "} END {print s ? s : "none"}' "$RUN/wrk.out")
  awk -v r="$r" -v rps="$rps" -v n="$reqs" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v t="$tck" \
      -v rss="$rss" -v e="$errs" 'BEGIN {
    printf "round %d: %.0f req/s  CPU %.1f us/req (user %.1f, sys %.1f)  RSS %.1f MiB  errors: %s\n",
      r, rps, (u + s) / t * 1e6 / n, u / t * 1e6 / n, s / t * 1e6 / n, rss / 1024, e }'
done
