# The two commands a new user types: `make run` and `make test`. Everything else is built on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Local job store of the repo's own commands (override by exporting SM_PROCESSING_HOME).
export SM_PROCESSING_HOME ?= $(CURDIR)/.sm-processing

.PHONY: venv test lint format run run-pyspark run-scala airflow jar bench clean prereqs \
	stack-images stack-up stack-down stack-test

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

# The scikit-learn pipeline DAG, end to end through `airflow dags test`, on the local backend.
run: venv
	$(PY) scripts/local_airflow.py run --dag sklearn

run-pyspark: venv
	$(PY) scripts/local_airflow.py run --dag pyspark

run-scala: venv jar
	$(PY) scripts/local_airflow.py run --dag scala

# `airflow standalone` with this repo's DAGs and the local backend (trigger the pipelines from the UI).
airflow: venv
	$(PY) scripts/local_airflow.py standalone

# The Scala jobs' jar, compiled offline with the Scala compiler shipped in the pyspark wheel.
jar: venv
	scala_jobs/build.sh $(PY)

# The compose stack (README, "Local Airflow stack"). Debian's docker-compose 1.29 by default;
# `make stack-up STACK_COMPOSE="docker compose"` for Compose v2.
STACK_COMPOSE ?= docker-compose
export STACK_COMPOSE

# A Docker engine (installed/started when missing), the base images (official, or offline stand-ins
# when no registry answers), then the stack's own image.
stack-images:
	scripts/stack/ensure_docker.sh
	docker/standins/build.sh
	$(STACK_COMPOSE) build

# The stack for you to use: UI on http://localhost:8080 (login in .env). Data stays in its volumes.
stack-up: venv stack-images
	$(STACK_COMPOSE) up -d
	$(PY) scripts/stack/wait_healthy.py

# Stops the stack and keeps its volumes (job store, S3 data, database); add `-v` by hand to drop them.
stack-down:
	$(STACK_COMPOSE) down

# End to end on its own project and ports: build, up, wait healthy, tests/stack (marker `stack`),
# and always `down -v`. Not part of `make test` yet.
stack-test: venv
	scripts/stack/stack_test.sh

bench: venv
	@for b in benchmarks/backend_overhead.py benchmarks/dag_parse_time.py benchmarks/sklearn_job_startup.py benchmarks/sklearn_feature_engineering.py benchmarks/spark_backend_overhead.py benchmarks/spark_feature_engineering.py benchmarks/requirements_startup.py; do \
	  echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache scala_jobs/target
