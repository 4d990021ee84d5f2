# One task runner for people and CI. The README's two commands are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
STATIC := src/flowscope/web/static/index.html
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/package-lock.json \
	web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

.PHONY: setup web wheel demo test test-deps lint typecheck unit bench opensearch clean

setup: $(VENV)/.installed web

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

web: $(STATIC)

$(STATIC): $(WEB_SOURCES)
	scripts/web-build

# An sdist and a wheel in dist/, the wheel built from the sdist and carrying the page (setup.py
# runs scripts/web-build), as `pip install .` or `pipx install .` would build it.
wheel: setup
	rm -rf dist
	$(PY) -m build --outdir dist .

demo: setup
	$(BIN)/flowscope demo --attacks

# What the tests need beyond Python: Debian's Chromium and the OpenSearch node's jars.
test-deps: setup
	scripts/install-chromium
	scripts/opensearch-node build
	scripts/cluster-node elasticsearch build

lint: setup
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py

typecheck: setup
	$(BIN)/mypy

unit: test-deps
	$(BIN)/pytest

test: lint typecheck unit

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/memory.py
	$(PY) bench/query.py
	$(PY) bench/s3.py
	$(PY) bench/opensearch.py
	$(PY) bench/prefixes.py
	$(PY) bench/estate.py
	$(PY) bench/enrich.py
	$(PY) bench/detect.py

opensearch: setup
	scripts/opensearch-node start

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache src/flowscope/web/static
