# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test chromium lint typecheck bench bench-api bench-renewals bench-analytics bench-webhooks install clean-db

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Migrate, seed the demo tenant when the database is empty, and serve on the embedded database.
run: $(STAMP)
	$(BIN)/duro migrate
	$(BIN)/duro demo --if-empty
	$(BIN)/duro serve

## The whole suite on real PostgreSQL (embedded unless DURO_TEST_DATABASE_URL is set).
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

## Debian's Chromium for tests/browser (apt-get when missing; Playwright's own browsers are never downloaded).
chromium:
	@bash scripts/ensure_chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Both benchmarks (bench/README.md). The renewal bench takes e.g. BENCH_RENEWALS_ARGS="--count 10000".
bench: bench-api bench-renewals

bench-api: $(STAMP)
	$(BIN)/python bench/api.py

bench-renewals: $(STAMP)
	$(BIN)/python bench/renewals.py $(BENCH_RENEWALS_ARGS)

## Analytics endpoints and the dashboard overview/recovery pages over 1,000,000 invoices (bench/README.md); quick run: BENCH_ANALYTICS_ARGS="--invoices 50000".
bench-analytics: $(STAMP)
	$(BIN)/python bench/analytics.py $(BENCH_ANALYTICS_ARGS)

## Webhook deliveries/s of one worker vs. raw httpx (bench/README.md); quick run: BENCH_WEBHOOKS_ARGS="--count 4000".
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(BENCH_WEBHOOKS_ARGS)

## Stop using the local embedded database and delete it (demo data included).
clean-db:
	rm -rf .duro/pg .duro/demo.json
