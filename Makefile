# bondledger: two entry points, each doing all of its own set-up on a fresh machine.
#   make demo   the main scenario on an embedded anvil + SQLite register
#   make test   slither, forge tests, then pytest (unit and integration on a real anvil)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/.bin/forge
export FOUNDRY_SOLC := $(CURDIR)/scripts/solc

.PHONY: setup demo test lint test-forge test-python slither browser bench clean

setup: $(VENV)/.installed node_modules/.installed

# Python: a virtualenv with exact versions (requirements.lock pins every transitive package).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test]"
	touch $@

# Node: anvil/forge/cast, solc-js and OpenZeppelin at the versions in package.json.
# (`npm ci` cannot be used: the lockfile names platform packages our registry does not serve.)
# --no-save: installs what package-lock.json pins without rewriting it (the checkout stays clean).
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save --loglevel=error
	touch $@

demo: setup
	scripts/demo.sh

test: lint slither test-forge test-python

# ruff (pinned in the test extra): lint findings and unformatted files fail the build
# (`.venv/bin/ruff format .` formats them).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Static analysis of contracts/ with slither, in a virtualenv of its own (slither needs web3 < 8;
# the project runs web3 8). All contracts compile in one standard-JSON run of our solc wrapper:
# crytic-compile runs `solc` from PATH (a link to the wrapper goes first on it) and reads the
# Foundry config with `forge`. Fails on any medium or high finding: each is fixed, or
# suppressed where they are with `// slither-disable-next-line <detector> (why)`.
SLITHER_VENV := .venv-slither
SLITHER_DIR := .cache/slither
$(SLITHER_VENV)/.installed: requirements-slither.lock
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-slither.lock
	touch $@

slither: $(SLITHER_VENV)/.installed node_modules/.installed
	@mkdir -p $(SLITHER_DIR)/bin
	@ln -sf $(CURDIR)/scripts/solc $(SLITHER_DIR)/bin/solc
	@$(SLITHER_VENV)/bin/python -c 'import glob, json; print(json.dumps({"language": "Solidity", "sources": {f: {"urls": [f]} for f in sorted(glob.glob("contracts/*.sol"))}, "settings": {"evmVersion": "cancun"}}))' > $(SLITHER_DIR)/input.json
	PATH="$(CURDIR)/$(SLITHER_DIR)/bin:$(CURDIR)/node_modules/.bin:$$PATH" $(SLITHER_VENV)/bin/slither $(SLITHER_DIR)/input.json \
	  --compile-force-framework Solc-json --solc-remaps "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/" \
	  --filter-paths node_modules --exclude-informational --exclude-low --exclude-optimization --fail-medium

test-forge: setup
	$(FORGE) test

# In parallel with pytest-xdist (pinned in the test extra): PYTEST_WORKERS processes (auto: one per
# CPU; 0 runs everything in this one), each with its own anvils, sample world, PostgreSQL databases
# and temporary directory; worksteal keeps both busy to the end despite a few minute-long tests.
PYTEST_WORKERS ?= auto
test-python: setup browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal

# Debian's chromium, for the auditor page's headless-browser test (apt as root, else via sudo).
# Where neither can install it, say so: that one test is then skipped with the same reason.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  echo "installing Debian's chromium (browser test of the auditor page)"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium ) >/dev/null \
	  || echo "WARNING: could not install chromium with apt; the headless-browser test will be skipped"; }

# Measured figures, printed beside their references (never run as tests): every script in
# benchmarks/ (helper modules without a __main__ are skipped), each with its defaults, which
# take a few minutes at most on 2 cores (benchmarks/issuance_scale.py --large
# adds 10,000 investors). T-REX is measured when npm installed its devDependency.
bench: setup
	@for b in benchmarks/*.py; do \
	  grep -q '__main__' $$b || continue; \
	  echo "== $$b"; PYTHONPATH=$(CURDIR) $(PY) $$b || exit 1; echo; \
	done

clean:
	rm -rf out cache .cache .bondledger .pytest_cache
