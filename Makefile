# bondledger: two entry points, each doing all of its own set-up on a fresh machine.
#   make demo   the main scenario on an embedded anvil + SQLite register
#   make test   forge tests, then pytest (unit and integration on a real anvil)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/.bin/forge
export FOUNDRY_SOLC := $(CURDIR)/scripts/solc

.PHONY: setup demo test test-forge test-python bench clean

setup: $(VENV)/.installed node_modules/.installed

# Python: a virtualenv with exact versions (requirements.lock pins every transitive package).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test]"
	touch $@

# Node: anvil/forge/cast, solc-js and OpenZeppelin at the versions in package.json.
# (`npm ci` cannot be used: the lockfile names platform packages our registry does not serve.)
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	scripts/demo.sh

test: test-forge test-python

test-forge: setup
	$(FORGE) test

test-python: setup
	$(PY) -m pytest

# Measured figures, printed beside their references (never run as tests).
bench: setup
	$(PY) benchmarks/gas.py

clean:
	rm -rf out cache .cache .bondledger .pytest_cache
