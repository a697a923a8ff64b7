#!/usr/bin/env bash
# airflow-init of the compose stack, run once per `up` (idempotent). As root, only:
#   1. the job store and config volumes owned by AIRFLOW_UID:0 (a fresh named volume is root-owned
#      when the image has no such folder, and jobs then fail with PermissionError);
# then as AIRFLOW_UID (HOME /home/airflow: the official image installs Airflow for that user):
#   2. the simple auth manager's passwords file from .env (AIRFLOW_ADMIN_USERNAME / _PASSWORD),
#      writable by AIRFLOW_UID: the api-server opens it for append;
#   3. the S3 buckets (S3_BUCKETS) and the sample data at s3://<first bucket>/data/abalone.csv;
#   4. `airflow db migrate`.
set -euo pipefail
uid=${AIRFLOW_UID:?}

if [[ $(id -u) == 0 && $uid != 0 ]]; then
  config_dir=$(dirname "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
  mkdir -p "$SM_PROCESSING_HOME" "$config_dir"
  chown "$uid:0" "$SM_PROCESSING_HOME" "$config_dir"
  chmod 775 "$SM_PROCESSING_HOME" "$config_dir"
  echo "init: $SM_PROCESSING_HOME and $config_dir owned by $uid:0"
  exec setpriv --reuid="$uid" --regid=0 --clear-groups env HOME=/home/airflow bash "$0"
fi

python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
users = {os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}
tmp = path + ".tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    json.dump(users, f)
os.replace(tmp, path)
print(f"init: login file {path} for user {next(iter(users))}")
PY

python /opt/project/docker/stack/create_buckets.py

airflow db migrate
echo "init: done (as uid $(id -u))"
