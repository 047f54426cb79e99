#!/usr/bin/env bash
# Installs (once) the real statsd daemon that tests/integration/test_statsd_export.py runs:
# etsy's statsd from the npm registry, pinned, into a cache directory (no install scripts,
# no optional dependencies: only its UDP server and our recording backend are used).
# Needs node and npm (scripts/sysdeps.sh installs Debian's when they are missing).
# Idempotent: returns at once when the pinned version is there. Prints stats.js's path.
# Env knob: L5D_STATSD_CACHE (cache dir).
set -euo pipefail

STATSD_VERSION=0.9.0
CACHE_DIR=${L5D_STATSD_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(cd ~ && pwd)}/.cache}/l5d-statsd}
STATS_JS=$CACHE_DIR/node_modules/statsd/stats.js

installed_version() {
  node -e 'console.log(require(process.argv[1]).version)' \
    "$CACHE_DIR/node_modules/statsd/package.json" 2>/dev/null || true
}

if [ "$(installed_version)" != "$STATSD_VERSION" ]; then
  mkdir -p "$CACHE_DIR"
  echo "statsd-daemon: installing statsd@$STATSD_VERSION into $CACHE_DIR" >&2
  npm install --prefix "$CACHE_DIR" --no-audit --no-fund --no-save --omit=optional \
    --ignore-scripts --loglevel=error "statsd@$STATSD_VERSION" >&2
fi
test -f "$STATS_JS"
echo "$STATS_JS"
