# Interlock — common tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Real servers and checkov get venvs of their own outside the checkout (installing takes minutes),
# so a clean clone's CI on the same machine reuses them: each is installed only when its bin is missing.
INTERLOCK_VENV_CACHE ?= $(HOME)/.cache/interlock
CHECKOV_VENV ?= $(INTERLOCK_VENV_CACHE)/checkov-3

.DEFAULT_GOAL := help
.PHONY: help install venvs demo test test-e2e test-unit test-integration test-airflow3 test-dagster test-prefect lint fmt build dist bench clean build-lambda chaos chaos-failover

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

# Test files run in TEST_PROCESSES processes (pytest-xdist; a file's tests stay in one process, in
# order): most of the time goes waiting on Redis, PostgreSQL, servers and subprocesses, not on the
# CPU. TEST_PROCESSES=0 runs them in this process, one after another.
TEST_PROCESSES ?= 4

# checkov (its own venv) is a prerequisite so the Terraform security check runs, not skips.
test: $(STAMP) $(CHECKOV_VENV)/bin/checkov ## Run the test suite but the long real-worker ones (needs Redis and PostgreSQL on 127.0.0.1)
	INTERLOCK_CHECKOV_BIN=$(abspath $(CHECKOV_VENV))/bin/checkov $(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadfile \
		--durations=15 $(addprefix --ignore=,$(LONG_TESTS))

# The end-to-end and chaos tests mostly wait (cron minutes, kills, failovers): their files run side by side.
E2E_PROCESSES ?= 4

test-e2e: $(STAMP) ## Run the end-to-end tests with real workers and Beat, and the chaos tests (about 4 minutes)
	$(BIN)/pytest -q -n $(E2E_PROCESSES) --dist loadfile --durations=8 $(LONG_TESTS)

test-unit: $(STAMP) ## Run the tests that need no service (no Redis, PostgreSQL or Airflow)
	$(BIN)/pytest -q -m "not integration"

test-integration: $(STAMP) ## Run the tests that talk to Redis / PostgreSQL
	$(BIN)/pytest -q -m integration

AIRFLOW_VENV ?= $(INTERLOCK_VENV_CACHE)/airflow-3

$(AIRFLOW_VENV)/bin/airflow:
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet "apache-airflow>=3,<4"

test-airflow3: $(STAMP) $(AIRFLOW_VENV)/bin/airflow ## Trigger a DAG on a real Airflow 3 (venv in ~/.cache/interlock)
	INTERLOCK_AIRFLOW_BIN=$(abspath $(AIRFLOW_VENV))/bin $(BIN)/pytest -q -m airflow3 tests/airflow3

DAGSTER_VENV := $(INTERLOCK_VENV_CACHE)/dagster-1
PREFECT_VENV := $(INTERLOCK_VENV_CACHE)/prefect-3

$(DAGSTER_VENV)/bin/dagster-webserver:
	$(PYTHON) -m venv $(DAGSTER_VENV)
	$(DAGSTER_VENV)/bin/pip install --quiet "dagster>=1,<2" "dagster-webserver>=1,<2"

$(PREFECT_VENV)/bin/prefect:
	$(PYTHON) -m venv $(PREFECT_VENV)
	$(PREFECT_VENV)/bin/pip install --quiet "prefect>=3,<4"

venvs: $(AIRFLOW_VENV)/bin/airflow $(DAGSTER_VENV)/bin/dagster-webserver $(PREFECT_VENV)/bin/prefect ## Install the real servers' venvs (Airflow 3, Dagster, Prefect) in ~/.cache/interlock

test-dagster: $(STAMP) $(DAGSTER_VENV)/bin/dagster-webserver ## Launch a job on a real Dagster 1.x webserver + daemon (venv in ~/.cache/interlock)
	INTERLOCK_DAGSTER_BIN=$(DAGSTER_VENV)/bin $(BIN)/pytest -q -m dagster tests/dagster

test-prefect: $(STAMP) $(PREFECT_VENV)/bin/prefect ## Run a deployment on a real Prefect 3 server (venv in ~/.cache/interlock)
	INTERLOCK_PREFECT_BIN=$(PREFECT_VENV)/bin $(BIN)/pytest -q -m prefect tests/prefect

# checkov pins its own pydantic/boto stack, so it lives in a venv of its own (like Airflow above);
# tests/terraform finds it here or through INTERLOCK_CHECKOV_BIN.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov>=3,<4"

.PHONY: checkov
checkov: $(CHECKOV_VENV)/bin/checkov ## Install checkov into ~/.cache/interlock/checkov-3 (make test passes it to the Terraform tests)

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

chaos: $(STAMP) ## The chaos tests alone, with their figures (worker SIGKILLs, a Redis crash, a 10 s broker outage; starts recovered after kills)
	$(BIN)/python -m tests.chaos

chaos-failover: $(STAMP) ## The Redis failover chaos test alone, with its figures (Sentinel; the primary SIGKILLed twice)
	$(BIN)/python -m tests.chaos --failover

bench: $(STAMP) ## Run the benchmarks in bench/ (figures printed and written to bench/results/)
	$(BIN)/python -m bench.archive_throughput
	$(BIN)/python -m bench.reaction
	$(BIN)/python -m bench.redis_commands
	$(BIN)/python -m bench.reconcile_scale
	$(BIN)/python -m bench.evaluator_overhead
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.status_page
	$(BIN)/python -m bench.scale --sizes 1000,10000,50000
	$(BIN)/python -m bench.capacity

clean: ## Remove build output and caches
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .airflow-venv .checkov-venv
