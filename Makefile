# Lockgate — one entry point per task. uv manages the environment (installed with pip when missing).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv runs as a module of the Python that make finds, so it works wherever pip put it
UV ?= python3 -m uv
export UV_LINK_MODE ?= copy
export LOCKGATE_HOME ?= $(CURDIR)/.lockgate
PYTEST_ARGS ?=
# test files run in parallel (pytest-xdist), a whole file per worker so module fixtures stay put;
# most tests wait on servers and subprocesses; three workers were faster (a fresh
# clone, 2 cores: 1,059-1,141 s against 1,320 s on two) but a browser-test run then timed out once: two
TEST_WORKERS ?= 2

.PHONY: help setup demo test test-python lint airflow clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@# bytecode at install: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every Python process
	@# would otherwise compile Airflow and its providers from source, ~6 s of CPU per process
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

setup: .venv/.synced  ## create .venv from uv.lock

demo: setup  ## run air_quality_daily for one date on the embedded defaults (DS=YYYY-MM-DD to choose)
	$(UV) run --frozen --no-sync lockgate demo $(if $(DS),--ds $(DS))

test: setup  ## run the test suite (unit, integration against PostgreSQL and the S3 API, end to end)
	@# --no-loadscope-reorder: keep the order tests/conftest.py gives (slowest files first); xdist would
	@# otherwise start the files with the most tests first and leave the long single-test ones to the end
	$(UV) run --frozen --no-sync pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# another interpreter in its own environment, .venv-<major.minor>, from the same uv.lock
PY ?= python3.12
PY_ENV = .venv-$(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo missing)
test-python:  ## the suite on another Python (PY=/path/to/python3.13), in .venv-<version> from uv.lock
	@$(PY) --version >/dev/null 2>&1 || { echo "no interpreter '$(PY)': PY=/path/to/python3.X"; exit 2; }
	UV_PROJECT_ENVIRONMENT=$(PY_ENV) $(UV) sync --frozen --quiet --compile-bytecode --python $(PY)
	UV_PROJECT_ENVIRONMENT=$(PY_ENV) $(UV) run --frozen --no-sync pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: setup  ## ruff and mypy
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync ruff format --check .
	@# mypy cannot follow setuptools' editable import hook: show it plugins/ under its package name
	@mkdir -p .mypy_src && ln -sfn ../plugins .mypy_src/lockgate
	$(UV) run --frozen --no-sync mypy
	$(UV) run --frozen --no-sync mypy dags

airflow: setup  ## start Airflow locally (web UI, scheduler, dag-processor, triggerer) on the embedded defaults (PORT=8080)
	$(UV) run --frozen --no-sync lockgate airflow $(if $(PORT),--port $(PORT))

BENCH_ROWS ?= 1000000 10000000
BENCH_RUNS ?= 3
# a big day, measured apart (the chain alone, once: each task's peak RSS and its growth from 1M rows;
# ~16 min at 100M on 2 busy cores, 6 of them writing the data); its CSV (4.7 GB at 100M) is generated
# in bench/.data and deleted after. Empty: skipped
BENCH_BIG_ROWS ?= 100000000
BENCH_ARGS ?=
# where the results files go, and the page written from them (its chart next to it, .png): a quick
# run's page goes to bench/.data, docs/benchmarks.md is the full run's
BENCH_RESULTS ?= bench/results
BENCH_DOC ?= $(if $(BENCH_FULL),docs/benchmarks.md,bench/.data/benchmarks-quick.md)
BENCH_DATE := $(shell date -u +%F)
# the full run's file is <date>.json; any other size or run count is a quick one, named apart
BENCH_FULL = $(and $(filter 3,$(BENCH_RUNS)),$(filter 10000000,$(lastword $(BENCH_ROWS))),$(if $(BENCH_ARGS),,full))
BENCH_OUT = $(BENCH_RESULTS)/$(BENCH_DATE)$(if $(BENCH_FULL),,-quick-$(lastword $(BENCH_ROWS))).json
BENCH_BIG_OUT = $(BENCH_RESULTS)/$(BENCH_DATE)-big-$(lastword $(BENCH_BIG_ROWS)).json
BENCH_RUN = $(UV) run --frozen --no-sync python -m bench.run
.PHONY: bench
bench: setup  ## side-by-side benchmarks, then the chain alone on a 100M-row day (BENCH_BIG_ROWS) -> bench/results, docs/benchmarks.md (quick: BENCH_ROWS=1000000 BENCH_RUNS=1 BENCH_BIG_ROWS=)
	@# --inexact: the bench group is added to the environment, nothing else removed (an extra such as spark stays)
	$(UV) sync --frozen --quiet --inexact --group bench
	$(BENCH_RUN) --rows $(BENCH_ROWS) --runs $(BENCH_RUNS) --results-dir $(BENCH_RESULTS) --out $(BENCH_OUT) --docs no $(BENCH_ARGS)
	$(if $(BENCH_BIG_ROWS),$(BENCH_RUN) --rows $(BENCH_BIG_ROWS) --runs 1 --only chain --results-dir $(BENCH_RESULTS) --out $(BENCH_BIG_OUT) --docs no)
	$(UV) run --frozen --no-sync python -m bench.report $(BENCH_OUT) $(if $(BENCH_BIG_ROWS),$(BENCH_BIG_OUT)) --doc $(BENCH_DOC)
	$(UV) run --frozen --no-sync python -m bench.health_page  # the Data health page, 50 datasets x 365 days
	$(UV) run --frozen --no-sync python -m bench.publish --rows $(lastword $(BENCH_ROWS)) --runs $(BENCH_RUNS)  # curated publish vs COPY PARTITION_BY
	$(UV) run --frozen --no-sync python -m bench.sql_source --rows $(firstword $(BENCH_ROWS)) --runs $(BENCH_RUNS)  # PostgreSQL source: ADBC vs DB-API
	@# the gate on Spark local[2] against DuckDB (issue 20); Spark needs Java 17+
	if command -v java >/dev/null; then $(UV) run --frozen --no-sync python -m bench.spark_gate --rows $(lastword $(BENCH_ROWS)) --results-dir $(BENCH_RESULTS); else echo 'no java on PATH: the Spark gate benchmark is skipped'; fi

clean:  ## remove the embedded defaults (.lockgate) and caches
	rm -rf .lockgate .pytest_cache .ruff_cache .mypy_cache .venv-3.*
