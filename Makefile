# The two commands a user needs: `make up` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv gen proto-deps up up-detach down status logs test test-fast lint breaking bench clean

# The venv is rebuilt when pyproject.toml changes, or a service package appears (the
# editable install maps top-level packages when it is made).
$(STAMP): pyproject.toml $(wildcard svc_*/__init__.py)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

# gen/ is committed; `make gen` rewrites it from protos/ (a test fails when it is stale).
gen: $(STAMP)
	$(BIN)/python -m mesh.codegen
	$(BIN)/python -m edge.openapi

# buf resolves google/api imports from the wheel's copy under build/ (git-ignored).
proto-deps: $(STAMP)
	$(BIN)/python -m mesh.contract_check deps

up: gen
	$(BIN)/erp up

up-detach: gen
	$(BIN)/erp up --detach

down: $(STAMP)
	$(BIN)/erp down

status: $(STAMP)
	$(BIN)/erp status

logs: $(STAMP)
	$(BIN)/erp logs

# The whole suite: contract checks, unit, service and mesh tiers (PostgreSQL too when it answers).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m mesh.contract_check lint

breaking: $(STAMP)
	$(BIN)/python -m mesh.contract_check breaking

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	-$(BIN)/erp down
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
