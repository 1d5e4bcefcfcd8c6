# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each provisions what it needs (Python environment here; Asterisk root,
# PostgreSQL and sipp through `recobro lab up`) and reuses what exists.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench unit lint dashboards lab-up lab-down lab-status clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recobro lab up
	$(BIN)/recobro demo

# Three workers, each with a lab of its own (tests/conftest.py): most of
# the time is calls at a call's own pace, so they overlap well even on two
# cores (two workers took 27 minutes, three 19).
TEST_WORKERS ?= 3

test: $(STAMP) lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	$(BIN)/recobro lab up
	$(BIN)/recobro bench hopper
	$(BIN)/recobro bench bridge
	$(BIN)/recobro bench pacing
	$(BIN)/recobro bench payments
	$(BIN)/recobro bench messages
	$(BIN)/recobro bench load --dialers 1 2
	$(BIN)/recobro bench soak

# Grafana's dashboards, generated from dialer/metrics/dashboards.py into
# docker/grafana/dashboards/ (committed; a test holds them to the generator).
dashboards: $(STAMP)
	$(BIN)/python -m dialer.metrics.dashboards

unit: $(STAMP)
	$(BIN)/pytest -m "not lab and not packaging"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

lab-up: $(STAMP)
	$(BIN)/recobro lab up

lab-down: $(STAMP)
	$(BIN)/recobro lab down

lab-status: $(STAMP)
	$(BIN)/recobro lab status

clean:
	-[ -x $(BIN)/recobro ] && $(BIN)/recobro lab down
	rm -rf $(VENV) .lab .pytest_cache
