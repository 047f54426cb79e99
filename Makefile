# Two commands do everything on a fresh machine:
#   make run   - create .venv, install l5d, start it on examples/local.yaml
#   make test  - install what the tests need (system packages via apt too), run the suite
# The interpreter of .venv: the system's /usr/bin/python3.11 when it can make a venv
# (Debian builds it with PGO and LTO, as the python:3.11 image of the Containerfile is;
# l5d takes 2-8 % less CPU per request on it than on a plain build: docs/performance.md), else
# python3.11 or python3 from PATH.
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3.11 python3; do \
	  command -v $$p >/dev/null && $$p -c 'import ensurepip, venv' 2>/dev/null \
	  && { command -v $$p; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/local.yaml

.PHONY: run test sysdeps venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

run: venv
	bash scripts/run-demo.sh $(PY) $(CONFIG)

sysdeps:
	bash scripts/sysdeps.sh

test: venv sysdeps
	bash scripts/run-tests.sh $(PY)

bench: venv
	$(PY) bench/bind_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
