# creditcycle: machine set-up, tests and demos.
# On a fresh Debian machine with Python 3.11, `make test` and `make demo`
# need nothing done by hand: `venv` builds .venv, `services` makes sure
# PostgreSQL and redis-server binaries exist (installing them if not).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Interpreter used to create the venv: python3.11 if present, else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
USERS  ?= 1000000
PYTEST_ARGS ?=
ARGS   ?=  # extra options of `make bench` (ARGS=--profile), see `creditcycle bench --help`

.PHONY: venv services test test-fast lint typecheck pytest demo bench chaos clean distclean

venv: $(STAMP)

# Re-installs only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml scripts/ensure-venv.sh
	PYTHON="$(PYTHON)" VENV="$(VENV)" bash scripts/ensure-venv.sh
	$(BIN)/python -m pip install -e '.[dev,drills]'
	touch $(STAMP)

services: venv
	VENV="$(VENV)" bash scripts/ensure-services.sh

lint: venv
	$(BIN)/ruff check .

# mypy strict on every package (the list is `files` in pyproject.toml).
typecheck: venv
	$(BIN)/mypy

pytest: venv services
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The unit tests alone (tests/unit: no server, no database file, no subprocess), in
# seconds; needs no services. `make test` is what CI runs.
test-fast: venv
	$(BIN)/pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

# Runs lint, type check and the whole test suite; any failure fails the
# target, but all three run so one report shows everything.
test: venv services
	@status=0; \
	echo "== ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "== mypy (strict)"; $(BIN)/mypy || status=1; \
	echo "== pytest"; $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; fi; \
	exit $$status

demo: venv services
	$(BIN)/creditcycle demo

bench: venv services
	USERS="$(USERS)" $(BIN)/creditcycle bench $(ARGS)

chaos: venv services
	$(BIN)/creditcycle chaos

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
