#!/usr/bin/env bash
# make run: the hello-world demo of linkerd-examples, on one laptop.
# Starts the two demo services (hello calls world through l5d via http_proxy) and
# l5d on examples/local.yaml, prints how to curl through it, and stops all three
# on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
CONFIG=${2:-examples/local.yaml}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# the admin token (examples/local.yaml: admin.tokenFile) and the saved dtabs live in .l5d/
mkdir -p .l5d
if [ ! -s .l5d/admin-token ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' > .l5d/admin-token)
fi
chmod 600 .l5d/admin-token
"$PY" examples/helloworld.py -addr 127.0.0.1:7778 -text world & pids+=($!)
http_proxy=127.0.0.1:4140 "$PY" examples/helloworld.py -addr 127.0.0.1:7777 -text Hello -target world & pids+=($!)
"$PY" -m l5d "$CONFIG" & pids+=($!)
for _ in $(seq 50); do
  curl -s -o /dev/null http://127.0.0.1:9990/admin/ping && break
  sleep 0.1
done
cat <<'MSG'

l5d is routing on 127.0.0.1:4140 (admin on http://127.0.0.1:9990/). Try:

    http_proxy=127.0.0.1:4140 curl http://hello/
    .venv/bin/l5d dtab delegate --config examples/local.yaml /svc/hello
    curl -s 'http://127.0.0.1:9990/admin/metrics.json?q=rt/http/service/svc/hello&pretty=1'
    curl -s http://127.0.0.1:9990/requests.json

(or `source .venv/bin/activate` first, then plain `l5d ...`). Services are the
files in examples/disco/ ("host port" per line; edits are picked up within a
second). Ctrl-C stops l5d and the demo services.

Admin writes need the token in .l5d/admin-token. Log in at
http://127.0.0.1:9990/admin/login with it to save dtab edits in the page, or use curl:

    curl -s http://127.0.0.1:9990/admin/dtab/http.json
    curl -s -X PUT http://127.0.0.1:9990/admin/dtab/http.json \
      -H "Authorization: Bearer $(cat .l5d/admin-token)" -H 'Content-Type: application/json' \
      -d '{"dtab": "/svc => /#/io.l5d.fs; /svc/hello => /#/io.l5d.fs/world;", "version": "<version from the GET>"}'
    http_proxy=127.0.0.1:4140 curl http://hello/     # now answered by world

Saved dtabs (and their history) are in .l5d/dtabs/ and survive a restart; delete that
directory to go back to the dtab in examples/local.yaml.
MSG
wait "${pids[2]}"
