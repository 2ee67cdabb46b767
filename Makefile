# impactbook: run `make` or `make help` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup demo test test-fast lab lint format bench data schemas clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing impactbook with its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	@# Optional system packages, installed when this user may (root with apt-get):
	@# harfbuzz-subset makes WeasyPrint's font subsetting faster (about 0.3 s a PDF);
	@# poppler-utils (pdftoppm) lets the tests measure how full each PDF page is.
	@for pkg in libharfbuzz-subset0:libharfbuzz-subset poppler-utils:pdftoppm; do \
	  name=$${pkg%%:*}; probe=$${pkg##*:}; \
	  { ldconfig -p 2>/dev/null | grep -q "$$probe" || command -v "$$probe" > /dev/null; } && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
	    apt-get install -y -qq "$$name" > /dev/null 2>&1 \
	      || { apt-get update -qq > /dev/null 2>&1 && apt-get install -y -qq "$$name" > /dev/null 2>&1; } \
	      && { echo "==> installed $$name"; continue; }; \
	  fi; \
	  echo "==> note: optional $$name is not installed"; \
	done
	@touch $(STAMP)
	@echo "==> installed: $$($(BIN)/impactbook --version)"

setup: $(STAMP) ## Create .venv and install impactbook, its dependencies and a kernel
	@echo "==> setup done: $(BIN)/impactbook is ready"

demo: setup ## Render the embedded default workbook (real data) end to end, then a dry-run outbox
	$(BIN)/impactbook demo

test: setup ## Run the test suite (unit tests and a few end-to-end runs on real data)
	$(BIN)/python -m pytest

test-fast: setup ## Run the unit tests only (skip end-to-end renders)
	$(BIN)/python -m pytest -m "not slow"

LAB_PORT ?= 8888
LAB_TOKEN ?=

lab: setup ## Open the notebooks in JupyterLab: make lab [LAB_PORT=8888] [LAB_TOKEN=secret]
	@# Jupyter refuses to start as root unless told to; other users must not be given the flag.
	@# Without LAB_TOKEN Jupyter makes a random token and prints the URL that carries it.
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) --port=$(LAB_PORT) \
	  $(if $(LAB_TOKEN),--IdentityProvider.token=$(LAB_TOKEN)) notebooks/

lint: setup ## Ruff on the package, tests and notebooks; check notebooks are stripped
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

format: setup ## Strip notebook outputs and apply ruff's fixes
	$(BIN)/nbstripout notebooks/*.ipynb
	$(BIN)/ruff check --fix src tests benchmarks

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	@echo "==> installing the peer packages of the benchmark (the bench extra)"
	$(BIN)/pip install --quiet -e ".[bench]"
	@touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP) ## Measure batch speed and memory against the plain papermill + nbconvert chain
	$(BIN)/python benchmarks/run.py

data: setup ## Rebuild data/outcomes.csv from the raw files in data/raw (reproducible)
	$(BIN)/python -m impactbook.ingest.default_workbook --data data
	$(BIN)/impactbook validate --data data

schemas: setup ## Regenerate the JSON Schemas of the run documents in docs/schemas/
	$(BIN)/python -m impactbook.contracts --write-schemas docs/schemas

clean: ## Remove generated reports and caches (keeps .venv)
	rm -rf reports/ .pytest_cache .ruff_cache benchmarks/out
