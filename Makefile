# Two commands do everything on a fresh machine:
#   make run   - create .venv, install l5d, start it on examples/local.yaml
#   make test  - install what the tests need (system packages via apt too), run the suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
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
