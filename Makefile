# Interlock — common tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CHECKOV_VENV ?= .checkov-venv

.DEFAULT_GOAL := help
.PHONY: help install demo test test-e2e test-unit test-integration test-airflow3 lint fmt build dist bench clean build-lambda chaos

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install Interlock with its test extras

demo: $(STAMP) ## Install, then run the whole local deployment (workers, Beat, fake Airflow) to its end
	$(BIN)/interlock demo --once --duration 180

# The end-to-end and chaos tests run real workers and Beat for minutes: they have a target of their
# own (test-e2e), which .ci/run runs after this one, so `make test` stays well under 15 minutes.
LONG_TESTS := tests/e2e tests/chaos

# checkov (its own venv) is a prerequisite so the Terraform security check runs, not skips.
test: $(STAMP) $(CHECKOV_VENV)/bin/checkov ## Run the test suite but the long real-worker ones (needs Redis and PostgreSQL on 127.0.0.1)
	$(BIN)/pytest -q $(addprefix --ignore=,$(LONG_TESTS))

test-e2e: $(STAMP) ## Run the end-to-end tests with real workers and Beat, and the chaos test (about 6 minutes)
	$(BIN)/pytest -q $(LONG_TESTS)

test-unit: $(STAMP) ## Run the tests that need no service (no Redis, PostgreSQL or Airflow)
	$(BIN)/pytest -q -m "not integration"

test-integration: $(STAMP) ## Run the tests that talk to Redis / PostgreSQL
	$(BIN)/pytest -q -m integration

AIRFLOW_VENV ?= .airflow-venv

$(AIRFLOW_VENV)/bin/airflow:
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet "apache-airflow>=3,<4"

test-airflow3: $(STAMP) $(AIRFLOW_VENV)/bin/airflow ## Trigger a DAG on a real Airflow 3 (installed in .airflow-venv)
	INTERLOCK_AIRFLOW_BIN=$(abspath $(AIRFLOW_VENV))/bin $(BIN)/pytest -q -m airflow3 tests/airflow3

# checkov pins its own pydantic/boto stack, so it lives in a venv of its own (like Airflow above);
# tests/terraform finds it here or through INTERLOCK_CHECKOV_BIN.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov>=3,<4"

.PHONY: checkov
checkov: $(CHECKOV_VENV)/bin/checkov ## Install checkov into .checkov-venv (the Terraform tests then run it)

lint: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(STAMP) ## Format and sort imports
	$(BIN)/ruff format interlock tests
	$(BIN)/ruff check --fix --select I .

build: $(STAMP) ## Build a wheel and an sdist into dist/
	$(BIN)/pip install --quiet build
	$(BIN)/python -m build

dist: build ## Same as build

build-lambda: $(STAMP) ## One Lambda zip per handler into dist/lambda/ (bundles CONFIG=path/to/interlock.yaml; default: the init example)
	$(BIN)/python -m lambdas.build --config $(or $(CONFIG),interlock/scaffold/interlock.yaml) --out dist/lambda

chaos: $(STAMP) ## The chaos test alone, with its figures (worker SIGKILLs, a Redis crash, a 10 s broker outage)
	$(BIN)/python -m tests.chaos

bench: $(STAMP) ## Run the benchmarks in bench/ (figures printed and written to bench/results/)
	$(BIN)/python -m bench.archive_throughput
	$(BIN)/python -m bench.reaction
	$(BIN)/python -m bench.reconcile_scale
	$(BIN)/python -m bench.evaluator_overhead
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.capacity

clean: ## Remove build output and caches
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .airflow-venv .checkov-venv
