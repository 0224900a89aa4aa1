# Shipyard — the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Re-install when pyproject.toml changes: the stamp's name carries its checksum.
SUM    := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO   := $(VENV)/.demo-$(SUM)
STAMP  := $(VENV)/.dev-$(SUM)
# The UI's browser libraries (package-lock.json), copied into the package: see scripts/vendor_ui.py.
UI_ASSETS := src/shipyard/server/ui/static/vendor/versions.json

.PHONY: demo test lint typecheck unit ui ui-assets chromium bench bench-tracking bench-tracking-server bench-data bench-audit bench-registry bench-pipelines bench-ui docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(DEMO): $(PY) pyproject.toml
	$(PIP) install --quiet -e ".[examples]"
	rm -f $(VENV)/.demo-* && touch $(DEMO)

$(STAMP): $(PY) pyproject.toml | $(UI_ASSETS)
	$(PIP) install --quiet -e ".[dev]"
	rm -f $(VENV)/.dev-* $(VENV)/.demo-* && touch $(STAMP) $(DEMO)

## demo: create the virtualenv, install, and run the entity-resolution pipeline (SQLite + local files)
demo: $(DEMO)
	$(PY) examples/entity_resolution/run_demo.py

## test: install test dependencies, lint, type-check and run the whole suite
test: lint unit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples scripts
	$(VENV)/bin/mypy

unit: $(STAMP) $(UI_ASSETS) chromium
	$(VENV)/bin/pytest

## ui-assets: copy htmx and uPlot from npm (pinned by package-lock.json) into the package
ui-assets: $(UI_ASSETS)

$(UI_ASSETS): package.json package-lock.json scripts/vendor_ui.py
	$(PYTHON) scripts/vendor_ui.py

## chromium: the system Chromium the browser tests drive (apt-get when run as root)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	  else \
	    echo "chromium is not installed: the UI's browser tests will be skipped" \
	         "(install Debian's chromium package, e.g. sudo apt-get install -y chromium)"; \
	  fi; }

## ui: serve the web UI on the data `make demo` left in ./shipyard-data
ui: $(DEMO) $(UI_ASSETS)
	@$(PY) -c "import fastapi, uvicorn, jinja2" 2>/dev/null || $(PIP) install --quiet -e ".[server,ui]"
	@echo "Shipyard UI: http://127.0.0.1:5000/  (Ctrl-C stops it)"
	SHIPYARD_HOME=./shipyard-data $(VENV)/bin/shipyard server --host 127.0.0.1 --port 5000

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

## bench-pipelines: pipeline runner vs Airflow 3.3.2's dag.test(), sy.tune vs Optuna's RDB storage (installs both under .bench/)
bench-pipelines: $(STAMP)
	$(PY) benchmarks/pipelines.py

## bench-ui: the web UI over 100,000 runs and a 1,000,000-point metric (no peer tool)
bench-ui: $(STAMP)
	$(PY) benchmarks/ui.py

bench: bench-tracking bench-tracking-server bench-data bench-audit bench-registry bench-pipelines bench-ui

docs: $(STAMP)
	$(PY) scripts/gen_cli_docs.py

clean:
	rm -rf $(VENV) .bench build dist .mypy_cache .ruff_cache .pytest_cache shipyard-data
