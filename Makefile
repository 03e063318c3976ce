# The README's commands. `make setup` builds .venv from uv.lock; every other target calls it first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING
ACCOUNTS ?= 2000

.PHONY: setup demo test test-fast test-sf bench lint format clean proto

# uv is bootstrapped from PyPI when the machine lacks it (only Python 3.11 + pip are assumed). Bytecode is compiled
# at install (~12 s once): with PYTHONDONTWRITEBYTECODE set, as here, every run would otherwise recompile GX and
# Prefect (importing both: 10.6 s without .pyc files, 4.7 s with them). Then Prefect's migrated empty database, once
# per Prefect version (~5 s): a new Prefect home starts from a copy instead of migrating (shell/prefect_db.py).
$(BIN)/crm-risk: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	@if command -v uv >/dev/null 2>&1; then uv sync --frozen --extra dask --compile-bytecode --python $(PYTHON); else $(PYTHON) -m uv sync --frozen --extra dask --compile-bytecode --python $(PYTHON); fi
	@$(BIN)/python -m shell.prefect_db >/dev/null || echo "Prefect's database template was not built: a new Prefect home migrates its own (shell/prefect_db.py)"
	@touch $(BIN)/crm-risk

setup: $(BIN)/crm-risk

demo: setup
	$(BIN)/crm-risk demo --accounts $(ACCOUNTS)

# Test files run on TEST_WORKERS processes (pytest-xdist; a file's tests stay together, so a module's org and
# warehouse are built once): the end-to-end tests spend most of their time waiting on servers and subprocesses.
TEST_WORKERS ?= 2

test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(BIN)/pytest -q -m "not e2e and not slow"

# The Salesforce CLI, for tests/salesforce's conversion test only (never part of `make test`: the npm install takes
# 60-100 s and 350 MB here). It is installed into .tools/sf with the Node 22 it needs (its jsforce requires node >= 22),
# as an npm package of the registry: the machine's own Node (20 here) only runs npm.
SF_DIR := .tools/sf
SF_NODE := node-$(shell uname -s | tr A-Z a-z)-$(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')

$(SF_DIR)/node_modules/@salesforce/cli/bin/run.js:
	npm install --prefix $(SF_DIR) --no-audit --no-fund --loglevel=error @salesforce/cli '$(SF_NODE)@22'

test-sf: setup $(SF_DIR)/node_modules/@salesforce/cli/bin/run.js
	$(BIN)/pytest -q tests/salesforce

bench: setup
	$(BIN)/python bench/simulator.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/events_ingest.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/sync.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Pub/Sub API stubs are committed; regenerate them after changing grpcio-tools or the proto.
proto: setup
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. pubsub_api/pubsub_api.proto

clean:
	rm -rf .demo .demo-dirty .demo-migrated .pytest_cache .mypy_cache .ruff_cache landing .tools
