#!/usr/bin/env bash
# Installs the system packages the test suite drives (real clients and servers).
# Idempotent: only missing commands are installed. Needs root (CI runs as root).
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sysdeps: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
