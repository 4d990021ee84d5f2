# One task runner for people and CI. The README's two commands are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
STATIC := src/flowscope/web/static/index.html
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/package-lock.json \
	web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

.PHONY: setup web demo test test-deps lint typecheck unit bench opensearch clean

setup: $(VENV)/.installed web

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

web: $(STATIC)

$(STATIC): $(WEB_SOURCES)
	scripts/web-build

demo: setup
	$(BIN)/flowscope demo

# What the tests need beyond Python: Debian's Chromium and the OpenSearch node's jars.
test-deps: setup
	scripts/install-chromium
	scripts/opensearch-node build

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

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

opensearch: setup
	scripts/opensearch-node start

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache src/flowscope/web/static
