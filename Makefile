# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck format bench install clean system-packages

run: $(STAMP)
	$(BIN)/clever-login dev

test: check system-packages
	$(BIN)/pytest

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

bench: $(STAMP)
	$(BIN)/python -m bench.client_throughput

install: $(STAMP)

# Installs once, again whenever the declared dependencies or their pins change.
$(STAMP): pyproject.toml constraints.txt scripts/fetch_helm.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	$(BIN)/python scripts/fetch_helm.py $(BIN)
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
