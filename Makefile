# Casework: `make run` (the demo on SQLite + an embedded Redis) and `make test`.
# Both do their own set-up on a fresh machine: a virtualenv in .venv with the project
# installed (editable, with the dev extras). Re-runs skip the install unless pyproject.toml
# changed (the stamp file below).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.casework-installed
FLASK  := $(BIN)/flask --app wsgi
PYTEST := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite test-postgres bench lint clean-demo

help:
	@echo "make run        set up, migrate, seed the demo and run web + worker + sweep"
	@echo "                (SQLite in instance/, embedded Redis unless REDIS_URL is set)"
	@echo "make test       set up, run every test on SQLite, then the database tests"
	@echo "                again on PostgreSQL (skipped if unreachable, failed under CI=true),"
	@echo "                then make lint"
	@echo "make bench      the benchmarks in tests/perf (PostgreSQL)"
	@echo "make lint       ruff (make test runs it too)"
	@echo "make clean-demo delete the demo database and its letters (instance/)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(BIN)/python -m casework.devserver

# One pytest pass, in a subshell: says what failed; exit 5 (nothing collected) is a failure.
pytest_step = (echo "==> $(1)"; $(2); code=$$?; \
	if [ $$code -eq 5 ]; then echo "FAILED: $(1): pytest collected no tests"; \
	elif [ $$code -ne 0 ]; then echo "FAILED: $(1) (pytest exit $$code)"; fi; exit $$code)

SQLITE_RUN   := $(PYTEST) -q --ignore=tests/perf
POSTGRES_RUN := CASEWORK_TEST_DB=postgresql $(PYTEST) -q tests/integration

# Both passes and the lint always run; the target fails if any of them did.
test: $(STAMP)
	@status=0; \
	$(call pytest_step,all tests on SQLite,$(SQLITE_RUN)) || status=1; \
	$(call pytest_step,database tests on PostgreSQL,$(POSTGRES_RUN)) || status=1; \
	$(MAKE) --no-print-directory lint || status=1; \
	exit $$status

test-sqlite: $(STAMP)
	@$(call pytest_step,all tests on SQLite,$(SQLITE_RUN))

test-postgres: $(STAMP)
	@$(call pytest_step,database tests on PostgreSQL,$(POSTGRES_RUN))

bench: $(STAMP)
	@$(call pytest_step,benchmarks (results in docs/PERFORMANCE.md),$(PYTEST) -q -m bench tests/perf)

lint: $(STAMP)
	@echo "==> ruff"; $(BIN)/ruff check . || { echo "FAILED: ruff"; exit 1; }

clean-demo:
	rm -f instance/casework.sqlite3 instance/casework.sqlite3-wal instance/casework.sqlite3-shm
	rm -rf instance/documents instance/redis
