# ccplane developer commands. `make run` and `make test` work on a fresh
# machine: both install what they need first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := tools/node_modules/.bin/buf
# The workbench (portal/): npm ci when the lock changes, a build when its sources do.
PORTAL_DEPS := portal/node_modules/.installed
PORTAL_BUILD := portal/dist/index.html
PORTAL_SRC := $(shell find portal/src -type f 2>/dev/null) portal/index.html portal/vite.config.ts portal/tsconfig.json
PYTEST_ARGS ?=

.PHONY: install system run test test-unit test-integration test-contract test-e2e test-browser test-portal test-deploy image gen lint format bench soak clean

install: $(STAMP) $(BUF) $(PORTAL_BUILD)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BUF): tools/package.json tools/package-lock.json
	cd tools && npm install --no-audit --no-fund --silent
	touch $(BUF)

$(PORTAL_DEPS): portal/package.json portal/package-lock.json
	cd portal && npm ci --no-audit --no-fund
	touch $(PORTAL_DEPS)

$(PORTAL_BUILD): $(PORTAL_DEPS) $(PORTAL_SRC)
	cd portal && npm run build

# Debian packages the tests drive (chromium, ...): a no-op when present.
system:
	bash tools/setup-system.sh

run: install
	$(VENV)/bin/ccplane up

test: install system
	cd portal && npm test
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-contract: install
	$(PY) -m pytest tests/contract $(PYTEST_ARGS)

test-e2e: install
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# The portal's own unit tests (Vitest, in Node: the stream client, the run log, the features' stores).
test-portal: $(PORTAL_DEPS)
	cd portal && npm test

test-browser: install system
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

# The deployment smoke test (not part of `make test`): builds the image offline and
# brings up deploy/docker-compose.yml (+ deploy/docker-compose.smoke.yml) on a real
# Docker engine, started if none runs (tests/deploy).
test-deploy: install system
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

# The ccplane image (Dockerfile), built offline on a local Debian base from a
# wheelhouse of the pinned dependencies; prints its tag (also ccplane:latest).
image: install system
	$(PY) -m tools.docker.images image

# Not `install`: a stale schema.ts must not stop the portal build from being regenerated.
gen: $(STAMP) $(BUF) $(PORTAL_DEPS)
	$(PY) tools/protogen.py
	$(BUF) lint
	$(PY) -m gateway.openapi portal/src/lib/api/openapi.json
	cd portal && npm run gen:api

lint: install
	$(PY) tools/protogen.py --deps-only
	$(BUF) lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd portal && npm run lint

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install system
	$(PY) -m bench

# The fault suite (tests/reliability) bigger and longer; its proofs go to bench/results.json.
soak: install system
	$(PY) -m bench --reliability --soak

clean:
	rm -rf $(VENV) tools/node_modules portal/node_modules portal/dist .buf-deps .pytest_cache .mypy_cache .ruff_cache
