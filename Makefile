# The two commands of the README. Both do all of their own set-up.
#   make scenarios   the scenario suite against the default stack; writes reports/<run-id>/
#   make test        every test (unit, integration, Toxiproxy conformance, scenarios) and the benchmarks

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TESTCONTAINERS_CONNECTION_MODE ?= docker_host
export TESTCONTAINERS_RYUK_DISABLED ?= true

DRILL_BENCH_MB ?= 500
# pytest-xdist workers for `make scenarios`, each with its own stack (0: one process, no workers)
WORKERS ?= 2

.PHONY: setup engine browser scenarios test unit bench mutation

$(STAMP): pyproject.toml
	@echo "[setup] creating $(VENV) and installing the harness"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[app,browser,dev]'
	@touch $(STAMP)

setup: $(STAMP) engine browser

engine:
	@bash scripts/ensure-engine.sh

# Headless Chromium and ChromeDriver for the page checks (Debian's packages, installed like the engine).
browser:
	@bash scripts/ensure-browser.sh

scenarios: setup
	$(BIN)/python -m pytest scenarios/ -n $(WORKERS) $(PYTEST_ARGS)

# The Toxiproxy image runs the compat server on Debian's python3 (3.11.2), whose asyncio differs
# from the venv's in ways that have broken the server before: run its conformance suite there too.
DEBIAN_PYTHON := /usr/bin/python3

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -x $(DEBIAN_PYTHON) ]; then \
	  echo "[test] Toxiproxy conformance again, server on $$($(DEBIAN_PYTHON) --version)"; \
	  TOXIPROXY_COMPAT_PYTHON=$(DEBIAN_PYTHON) $(BIN)/python -m pytest tests/toxiproxy_compat -q -p no:cacheprovider; \
	fi
	$(BIN)/python bench/toxiproxy_bench.py
	$(BIN)/python bench/compat_recovery_bench.py
	$(BIN)/python bench/stack_bench.py
	$(BIN)/python bench/workload_bench.py

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/toxiproxy_bench.py
	$(BIN)/python bench/compat_recovery_bench.py
	$(BIN)/python bench/stack_bench.py
	$(BIN)/python bench/workload_bench.py
	$(BIN)/python bench/app_bench.py
	$(BIN)/python bench/drill_bench.py --size-mb $(DRILL_BENCH_MB)
	$(BIN)/python bench/scale_bench.py

# Mutation testing of the judging code (history, checkers, phases, objectives, verdicts): prints
# the share of mutants the unit tests kill (target 90 %) as its last line, after any survivor that
# docs/mutation-survivors.md does not explain.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "mutmut==3.8.1"
	@mkdir -p mutants
	@echo "[mutation] mutmut run (progress in mutants/mutmut-run.log; 15-40 min on 2 cores)"
	@$(BIN)/mutmut run --max-children 2 >mutants/mutmut-run.log 2>&1 || \
	  { tr '\r' '\n' <mutants/mutmut-run.log | tail -n 20; echo "[mutation] mutmut run failed"; exit 1; }
	@$(BIN)/python scripts/mutation_score.py
