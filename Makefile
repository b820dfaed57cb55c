# Three commands set everything up on a fresh machine: `make demo`, `make test` and `make serve`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean serve

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf workbooks/demo
	$(BIN)/crm demo workbooks/demo

# the team portal on the demo home (built first when missing), with its demo accounts
serve: $(STAMP)
	test -f workbooks/demo/.crm-home.json || $(BIN)/crm demo workbooks/demo
	$(BIN)/crm serve workbooks/demo

test: $(STAMP)
	$(BIN)/ruff check crm_sheets tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check crm_sheets tests bench
	$(BIN)/ruff format --check crm_sheets tests bench

format: $(STAMP)
	$(BIN)/ruff format crm_sheets tests bench
	$(BIN)/ruff check --fix crm_sheets tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
