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

worker: $(STAMP) ## Run the expiry sweep in a loop (when the API runs with BONUS_EXPIRY_WORKER=false)
	$(BIN)/bonus worker

test: $(STAMP) ## Run the whole test suite against real Postgres and Redis
	$(BIN)/pytest

lint: $(STAMP) ## ruff and mypy (strict on processing/ and schemas/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Load-test the API and the raw-Postgres baseline in one run; prints the table
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

reconcile: $(STAMP) ## Recompute every balance from the ledger entries
	$(BIN)/bonus reconcile

clean: ## Remove the virtualenv and the embedded data
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install run worker test lint fmt bench reconcile clean
