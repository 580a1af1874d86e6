# Bonus processing center. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install the project with its dev tools

run: $(STAMP) ## Migrate and serve the API on 127.0.0.1:8000 (embedded Postgres and Redis unless BONUS_DATABASE_URL/BONUS_REDIS_URL are set)
	$(BIN)/bonus serve

worker: $(STAMP) ## Run the background loops (expiry, webhooks and messages, channels, campaigns)
	$(BIN)/bonus worker

test: $(STAMP) haproxy chromium wrk ## Run the whole test suite against real Postgres and Redis
	$(BIN)/pytest

# Installs a Debian package if its command is missing, where we are root with apt-get; elsewhere
# (or if the install fails) says what will not run. $(1) the package and command, $(2) the cost.
define apt_install
command -v $(1) >/dev/null 2>&1 && exit 0; \
if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
  echo "$(1) is missing and needs root with apt-get: $(2)"; exit 0; \
fi; \
export DEBIAN_FRONTEND=noninteractive; \
apt-get install -y -qq --no-install-recommends $(1) >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(1) >/dev/null; } \
  || echo "$(1) could not be installed: $(2)"
endef

# The multi-instance tests run the API behind a real HAProxy. Where it is missing it is installed
# from Debian's packages (root with apt-get); elsewhere those tests skip, and a skip fails the
# run unless BONUS_TEST_ALLOW_SKIPS=1 (tests/skips.py).
haproxy: ## Install HAProxy from Debian's packages if missing (for the multi-instance tests)
	@$(call apt_install,haproxy,multi-instance tests will skip)

# `make bench BENCH_ARGS=--wrk` also drives the reads and pairs with wrk, a C load generator whose
# CPU per request is near pgbench's (Debian's package, with loadtests/wrk/tasks.lua).
wrk: ## Install wrk from Debian's packages if missing (for `make bench BENCH_ARGS=--wrk`)
	@$(call apt_install,wrk,install it to use --wrk)

# The docs-page test photographs /schema in a real headless Chromium (Debian's package, driven by
# playwright with executable_path=/usr/bin/chromium; playwright's own browser builds are not used).
chromium: ## Install Chromium from Debian's packages if missing (for the docs-page screenshot test)
	@$(call apt_install,chromium,the docs-page test will skip)

# The deterministic simulation (tests/simulation/deterministic.py) at a million operations per
# seed on the in-memory plan writer; `make test` runs it at 100,000. SOAK_OPERATIONS and
# BONUS_SIM_SEED (one seed, e.g. the one a failure names) may be set.
SOAK_OPERATIONS ?= 1000000
soak: $(STAMP) ## The deterministic simulation at a million operations per seed (in memory)
	BONUS_SIM_OPERATIONS=$(SOAK_OPERATIONS) $(BIN)/pytest tests/simulation/test_deterministic.py \
	  -k memory -p no:cacheprovider -o timeout=0 -s -q

lint: $(STAMP) ## ruff, mypy (strict on processing/, schemas/, api/ and loadtests/) and the layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP) ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Load-test the API and both pgbench baselines (raw, least SQL); prints the table
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

bench-segments: $(STAMP) ## Segment count and export on 1,000,000 customers beside hand SQL
	$(BIN)/python -m loadtests.segments $(SEGMENTS_ARGS)

faults: $(STAMP) ## Fault drill: POS mix at 60 % while a worker is killed, Redis and Postgres restart
	$(BIN)/python -m loadtests.faults $(FAULTS_ARGS)

reconcile: $(STAMP) ## Recompute every balance from the ledger entries
	$(BIN)/bonus reconcile

clean: ## Remove the virtualenv and the embedded data
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install run worker test soak haproxy chromium wrk lint fmt bench bench-segments faults reconcile clean
