# The two commands a new user types: `make run` and `make test`. Everything else is built on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Local job store of the repo's own commands (override by exporting SM_PROCESSING_HOME).
export SM_PROCESSING_HOME ?= $(CURDIR)/.sm-processing

.PHONY: venv test lint format run clean prereqs

prereqs:
	@scripts/check_prereqs.sh $(PYTHON)

venv: $(STAMP)

# Rebuilt only when pyproject.toml changes; uv makes a full install take ~30 s.
$(STAMP): pyproject.toml
	@scripts/check_prereqs.sh $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip uv
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	@touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(VENV)/bin/pytest

run: venv
	$(PY) scripts/run_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache scala_jobs/target
