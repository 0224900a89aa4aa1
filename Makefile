# Shipyard — the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when pyproject.toml changes: the stamp's name carries its checksum.
SUM    := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO   := $(VENV)/.demo-$(SUM)
STAMP  := $(VENV)/.dev-$(SUM)

.PHONY: demo test lint typecheck unit bench bench-tracking bench-tracking-server bench-data bench-audit bench-registry docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(DEMO): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[examples]"
	rm -f $(VENV)/.demo-* && touch $(DEMO)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[dev]"
	rm -f $(VENV)/.dev-* $(VENV)/.demo-* && touch $(STAMP) $(DEMO)

## demo: create the virtualenv, install, and log a small real example (SQLite + local files)
demo: $(DEMO)
	$(PY) examples/quickstart/train_and_compare.py

## test: install test dependencies, lint, type-check and run the whole suite
test: lint unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples scripts
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest

## bench-tracking: Shipyard vs MLflow on tracking workloads (installs MLflow under .bench/)
bench-tracking: $(STAMP)
	$(PY) benchmarks/tracking.py

## bench-tracking-server: shipyard server vs mlflow server, driven by the same MLflow client
bench-tracking-server: $(STAMP)
	$(PY) benchmarks/tracking_server.py

## bench-data: Shipyard vs DVC on dataset add and status (installs DVC under .bench/)
bench-data: $(STAMP)
	$(PY) benchmarks/data_versioning.py

## bench-audit: `shipyard audit verify` over 100,000 events (no peer tool exists)
bench-audit: $(STAMP)
	$(PY) benchmarks/audit_verify.py

## bench-registry: Shipyard vs MLflow's model registry, and audit verify (installs MLflow under .bench/)
bench-registry: $(STAMP)
	$(PY) benchmarks/registry.py

bench: bench-tracking bench-tracking-server bench-data bench-audit bench-registry

docs: $(STAMP)
	$(PY) scripts/gen_cli_docs.py

clean:
	rm -rf $(VENV) .bench build dist .mypy_cache .ruff_cache .pytest_cache shipyard-data
