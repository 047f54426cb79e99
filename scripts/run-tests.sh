#!/usr/bin/env bash
# Runs the whole suite. pytest's exit code 5 (no tests collected) is a failure here.
set -uo pipefail
PY=${1:-.venv/bin/python}
"$PY" -m pytest -q -p no:cacheprovider
rc=$?
if [ $rc -eq 5 ]; then echo "run-tests: no tests were collected" >&2; exit 1; fi
exit $rc
