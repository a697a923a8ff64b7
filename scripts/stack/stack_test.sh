#!/usr/bin/env bash
# `make stack-test`: the compose stack for real, end to end, and always torn down.
#   1. a Docker engine (installed and started when missing: ensure_docker.sh) and Debian's chromium;
#   2. the base images (official when present or pullable, else offline stand-ins), the stack image and
#      the Scala jobs' jar (the stack bind-mounts scala_jobs/; the Scala DAG runs it);
#   3. `up -d` under its own project name and ports (never touches a stack started by `make stack-up`);
#   4. waits until every service is ready (time to healthy), then `pytest -m stack tests/stack` (REST
#      API checks and the Playwright browser test; screenshots in $STACK_TEST_ARTIFACTS);
#   5. ALWAYS `down -v --remove-orphans` (containers, networks, volumes of this project), also on failure
#      or Ctrl-C; on failure the logs of the services that were not ready are printed first.
# Figures (build times, time to healthy, run durations) are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/bin:/usr/sbin:$PATH"  # Debian's docker client first (see ensure_docker.sh)
PY=${PY:-.venv/bin/python}
export STACK_COMPOSE=${STACK_COMPOSE:-docker-compose}
export COMPOSE_PROJECT_NAME=${STACK_TEST_PROJECT:-sm-processing-stack-test}
export AIRFLOW_PORT=${STACK_TEST_AIRFLOW_PORT:-28080} S3_PORT=${STACK_TEST_S3_PORT:-28333}
export SM_PROCESSING_PORT=${STACK_TEST_SM_PROCESSING_PORT:-28081}
export STACK_TEST_ARTIFACTS=${STACK_TEST_ARTIFACTS:-tests/stack/artifacts}
mkdir -p "$STACK_TEST_ARTIFACTS"  # this run's logs, figures, screenshots: the last run's are replaced
rm -f "$STACK_TEST_ARTIFACTS"/{compose.log,measurements.json} "$STACK_TEST_ARTIFACTS"/*.png
compose() { $STACK_COMPOSE "$@"; }
figures=()
timed() {  # timed LABEL command...: runs it, records "LABEL: N s"
  local label=$1 start=$SECONDS
  shift
  "$@"
  figures+=("$label: $((SECONDS - start)) s")
}

total_start=$SECONDS
timed "engine" scripts/stack/ensure_docker.sh
# the browser test drives Debian's Chromium (installed with apt when missing)
timed "chromium" env SM_PROCESSING_TEST_CHROMIUM="${STACK_TEST_CHROMIUM:-/usr/bin/chromium}" scripts/ensure_chromium.sh
timed "base images (docker/standins/build.sh)" docker/standins/build.sh
timed "stack image (compose build)" compose build -q
timed "Scala jar (make jar)" scala_jobs/build.sh "$PY"

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "stack-test: FAILED (exit $rc); services and logs of those not ready:" >&2
    "$PY" scripts/stack/wait_healthy.py --report-only || true
    compose logs --no-color >"$STACK_TEST_ARTIFACTS/compose.log" 2>&1 || true
    echo "stack-test: all container logs in $STACK_TEST_ARTIFACTS/compose.log" >&2
  fi
  compose down -v --remove-orphans -t 5 >/dev/null 2>&1 || compose down -v --remove-orphans
  echo "stack-test: stack $COMPOSE_PROJECT_NAME removed (containers, network, volumes)"
  for f in "${figures[@]}"; do echo "stack-test: $f"; done
  echo "stack-test: total $((SECONDS - total_start)) s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compose down -v --remove-orphans -t 5 >/dev/null 2>&1 || true  # leftovers of an interrupted run
up_started=$(date +%s.%N)
timed "up -d" compose up -d
timed "up to all healthy (wait)" "$PY" scripts/stack/wait_healthy.py --since "$up_started" --timeout "${STACK_TEST_HEALTH_TIMEOUT:-300}"
export STACK_AIRFLOW_URL="http://127.0.0.1:$AIRFLOW_PORT" STACK_S3_URL="http://127.0.0.1:$S3_PORT"
export STACK_SM_PROCESSING_URL="http://127.0.0.1:$SM_PROCESSING_PORT"
timed "stack tests (pytest -m stack)" "$PY" -m pytest -m stack tests/stack -p no:cacheprovider -q -s
