#!/usr/bin/env bash
# Installs the system packages the test suite drives (real clients and servers).
# Idempotent: only missing packages are installed. Needs root (CI runs as root).
#
# Then installs (once) the statsd daemon from the npm registry (scripts/statsd-daemon.sh,
# cached in ${XDG_CACHE_HOME:-~/.cache}/l5d-statsd) and builds (once) the real
# kube-apiserver v1.20.2 + kubectl the Kubernetes tests run against, from Debian packages
# only (tests/k8s/build-apiserver.sh: ~5-6 min the first time, then cached in
# ${XDG_CACHE_HOME:-~/.cache}/l5d-k8s; later runs return at once).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_CACHE=${L5D_K8S_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(cd ~ && pwd)}/.cache}/l5d-k8s/kube-apiserver-1.20.2}
# Used by the tests themselves: curl; etcd + openssl for the Kubernetes API server;
# iproute2 (ip: network namespaces, bridge, veths) and util-linux (unshare, mount) for
# the node simulation in examples/k8s-sim; prometheus (its server and promtool) to scrape
# and lint l5d's Prometheus output and check the alerting rules in docs/telemetry.md;
# influxdb (an InfluxDB 1.x server) to ingest io.l5d.influxdb's line protocol; tcpdump to
# capture statsd datagrams on loopback; chromium (headless, driven by Python playwright with
# executable_path: no browser download) for the admin UI's browser tests.
RUNTIME_PKGS=(curl ca-certificates etcd-server openssl iproute2 util-linux prometheus influxdb
              tcpdump chromium)
# Only needed to build kube-apiserver from Debian's `kubernetes` source package.
BUILD_PKGS=(golang-go make rsync golang-github-modern-go-reflect2-dev dpkg-dev)

installed() {
  dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

need=()
for p in "${RUNTIME_PKGS[@]}"; do installed "$p" || need+=("$p"); done
# node and npm run the real statsd daemon (scripts/statsd-daemon.sh); Debian's unless some
# node is there already (a NodeSource nodejs bundles npm and conflicts with Debian's npm)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ! -x "$K8S_CACHE/kube-apiserver" ] || [ ! -x "$K8S_CACHE/kubectl" ]; then
  for p in "${BUILD_PKGS[@]}"; do installed "$p" || need+=("$p"); done
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sysdeps: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "sysdeps: installing ${need[*]}" >&2
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null \
     || ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi

bash scripts/statsd-daemon.sh >/dev/null
bash tests/k8s/build-apiserver.sh
