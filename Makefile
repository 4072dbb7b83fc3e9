# ccplane developer commands. `make run` and `make test` work on a fresh
# machine: both install what they need first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := tools/node_modules/.bin/buf
PYTEST_ARGS ?=

.PHONY: install run test test-unit test-integration test-contract test-e2e gen lint format bench clean

install: $(STAMP) $(BUF)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BUF): tools/package.json tools/package-lock.json
	cd tools && npm install --no-audit --no-fund --silent
	touch $(BUF)

run: install
	$(VENV)/bin/ccplane up

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-contract: install
	$(PY) -m pytest tests/contract $(PYTEST_ARGS)

test-e2e: install
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

gen: install
	$(PY) tools/protogen.py
	$(BUF) lint

lint: install
	$(PY) tools/protogen.py --deps-only
	$(BUF) lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) tools/node_modules .buf-deps .pytest_cache .mypy_cache .ruff_cache
