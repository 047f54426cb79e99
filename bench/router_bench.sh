#!/usr/bin/env bash
# router_bench.sh - l5d against a direct connection and nginx, on loopback, in the same run.
#
# A thin wrapper around the shared proxy benchmark (../shared/bench/peers.sh from the repository
# root; read its header). It runs the peers "direct", "direct-x" and "nginx" (reverse proxy,
# upstream keepalive) and adds l5d and "tw-ceiling" with --extra, so they get absolute-form
# requests as an http_proxy client sends them:
#     GET http://127.0.0.1:$BACKEND_PORT/ HTTP/1.1   Host: 127.0.0.1:$BACKEND_PORT
# l5d runs as one process pinned to CPU 0 (this repository's code: .venv/bin/python -m l5d),
# with a generated config: the router listens on 127.0.0.1:$PORT, the admin site on a free
# port, and the dtab sends the authority (identified from Host as /svc/127.0.0.1:$BACKEND_PORT)
# to /$/inet/127.0.0.1/$BACKEND_PORT:
#     /svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;
# tw-ceiling: a minimal Twisted + httptools forwarder with immediate writes and pooled upstream
# connections, no routing, headers or stats (bench/ceiling_forwarder.py): the ceiling for a
# Twisted/CPython design on this host, measured in the same run (same interpreter as l5d, one
# process on CPU 0, port L5D_PORT+2; like l5d it runs epoll without Twisted's log context per
# event, and relays responses byte for byte).
# Load is wrk -t1 at c=32 and c=1 (also c=256 for direct, direct-x), rounds interleaved, medians
# reported: requests/s, p50/p99 latency, proxy CPU us per request, RSS, and the same-round
# ratio to nginx. Targets (the issue): >= 25k rps on one core (<= 40 us CPU/req),
# >= 0.3x nginx in the same run, RSS <= 60 MB, no errors.
#
# Needs root and >= 2 CPUs; peers.sh apt/pip-installs nginx, wrk etc. itself. A default run
# (3 rounds x 10 s) takes about 7 minutes plus the quiet-host waits. Run it on an idle host:
# other load on either CPU changes the numbers.
#
# usage: bench/router_bench.sh [options] [-- peers.sh options]
#   --runs N        rounds (default 3)
#   --duration S    seconds per measured wrk run (default 10)
#   --out DIR       results directory (default /tmp/l5d-router-bench); the table is
#                   DIR/table.md, raw wrk output DIR/runs/, the l5d config DIR/l5d.yaml
#   --origin        also add "l5d-origin": l5d with origin-form requests (GET / + Host)
#   --no-ceiling    leave out the "tw-ceiling" peer (included by default)
#   --report-only   re-print the table of an earlier run in --out DIR and exit
#   --install       let peers.sh apt/pip-install its whole tool set (haproxy, squid, pypy,
#                   mitmproxy...) even when what this run needs (nginx, wrk, curl, taskset,
#                   python3) is already there; by default it then gets --no-install
#   -- ARGS         passed to peers.sh as they are, e.g. -- --no-install --quiet-wait 0
# env: PEERS_SH (default: ../shared/bench/peers.sh next to the repository), PY (default:
#      the repository's .venv/bin/python), BACKEND_PORT (default 24080), L5D_PORT (default
#      24140; --origin uses L5D_PORT+1, tw-ceiling L5D_PORT+2).
#
# Internal: "router_bench.sh --serve DIR" is the command peers.sh starts for the l5d peer. It
# renders DIR/l5d.yaml.in with $PORT and a free admin port into DIR/l5d-$PORT.yaml and execs
# l5d on it (so peers.sh measures the l5d process itself).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
PY=${PY:-$REPO/.venv/bin/python}
PEERS_SH=${PEERS_SH:-$REPO/../shared/bench/peers.sh}
BACKEND_PORT=${BACKEND_PORT:-24080}
L5D_PORT=${L5D_PORT:-24140}
DTAB='/svc => /$/io.buoyant.hostportPfx/inet; /inet => /$/inet;'

die() { echo "router_bench.sh: $*" >&2; exit 1; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ "${1:-}" = --serve ]; then  # started by peers.sh, with PORT set
  dir=${2:?--serve needs a directory}
  : "${PORT:?--serve expects PORT from peers.sh}"
  admin=$(free_port)
  cfg=$dir/l5d-$PORT.yaml
  sed -e "s/@PORT@/$PORT/g" -e "s/@ADMIN_PORT@/$admin/g" "$dir/l5d.yaml.in" > "$cfg"
  cd "$REPO"
  exec "$PY" -m l5d "$cfg"
fi

RUNS=3 DURATION=10 OUT=/tmp/l5d-router-bench ORIGIN=0 CEILING=1 REPORT_ONLY=0 INSTALL=0
PASS=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2;;
    --duration) DURATION=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --origin) ORIGIN=1; shift;;
    --no-ceiling) CEILING=0; shift;;
    --report-only) REPORT_ONLY=1; shift;;
    --install) INSTALL=1; shift;;
    --) shift; PASS=("$@"); break;;
    -h|--help) sed -n '2,/^set -e/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0;;
    *) die "unknown option $1 (peers.sh options go after --)";;
  esac
done
[ -x "$PEERS_SH" ] || [ -f "$PEERS_SH" ] || die "peers.sh not found at $PEERS_SH (set PEERS_SH)"
PEERS_SH=$(cd "$(dirname "$PEERS_SH")" && pwd)/$(basename "$PEERS_SH")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ "$REPORT_ONLY" = 1 ]; then exec bash "$PEERS_SH" --out "$OUT" --report-only; fi
[ -x "$PY" ] || die "no interpreter at $PY (run 'make venv' first, or set PY)"

# -- the l5d config, checked before anything starts -------------------------------------
cat > "$OUT/l5d.yaml.in" <<YAML
# Generated by bench/router_bench.sh for peers.sh. "router_bench.sh --serve" filled in the
# router port (peers.sh's PORT) and a free admin port when peers.sh started this peer.
admin:
  ip: 127.0.0.1
  port: @ADMIN_PORT@
routers:
- protocol: http
  label: bench
  # identifier left out: io.l5d.header.token on Host -> /svc/127.0.0.1:$BACKEND_PORT
  dtab: |
    $DTAB
  servers:
  - ip: 127.0.0.1
    port: @PORT@
YAML

check_cfg=$OUT/l5d-check.yaml
sed -e "s/@PORT@/$L5D_PORT/g" -e "s/@ADMIN_PORT@/$(free_port)/g" "$OUT/l5d.yaml.in" > "$check_cfg"
"$PY" -m l5d --validate "$check_cfg" >/dev/null || die "the generated config does not validate"
rm -f "$check_cfg"
bound=$("$PY" -m l5d dtab bind --dtab "$DTAB" "/svc/127.0.0.1:$BACKEND_PORT") \
  || die "l5d dtab bind failed"
[[ $bound == *"\"addr\": \"127.0.0.1:$BACKEND_PORT\""* ]] \
  || die "the dtab does not bind /svc/127.0.0.1:$BACKEND_PORT to the backend: $bound"

# -- peers.sh ---------------------------------------------------------------------------
serve="exec $(printf %q "$SELF") --serve $(printf %q "$OUT")"
cmd=(bash "$PEERS_SH" --only nginx --sweep "" --runs "$RUNS" --duration "$DURATION"
     --out "$OUT" --extra "l5d@$L5D_PORT=$serve")
[ "$ORIGIN" = 1 ] && cmd+=(--extra-origin "l5d-origin@$((L5D_PORT + 1))=$serve")
if [ "$CEILING" = 1 ]; then  # \$PORT: expanded by peers.sh's bash -c, not here
  ceiling=$HERE/ceiling_forwarder.py
  [ -f "$ceiling" ] || die "$ceiling is missing (or use --no-ceiling)"
  cmd+=(--extra "tw-ceiling@$((L5D_PORT + 2))=exec $(printf '%q ' "$PY" "$ceiling")--port \$PORT")
fi
for tool in nginx wrk curl taskset python3; do command -v $tool >/dev/null || INSTALL=1; done
[ "$INSTALL" = 1 ] || cmd+=(--no-install)
cmd+=("${PASS[@]}")

versions=$("$PY" -c 'import sys, twisted, httptools
print("CPython/%s twisted/%s httptools/%s"
      % (sys.version.split()[0], twisted.__version__, httptools.__version__))')
rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(cd "$REPO" && { git status --porcelain 2>/dev/null | grep -q . && echo ' (+ uncommitted)'; } || true)
{
  echo "# l5d: $rev$dirty $versions"
  echo "# dtab: $DTAB"
  echo "#   l5d dtab bind /svc/127.0.0.1:$BACKEND_PORT -> /\$/inet/127.0.0.1/$BACKEND_PORT"
  echo "# config template: $OUT/l5d.yaml.in"
  echo "# command:"
  printf ' %q' env BACKEND_PORT="$BACKEND_PORT" ${BASE_PORT:+BASE_PORT="$BASE_PORT"} "${cmd[@]}"
  echo
} | tee "$OUT/command.txt" >&2

export BACKEND_PORT
cd "$REPO"
"${cmd[@]}"
echo >&2
cat "$OUT/command.txt" >&2
