"""The compose stack, live (marker ``stack``; ``make stack-test`` brings it up and tears it down):
login, the DAGs parsed without errors, the scikit-learn pipeline triggered through the REST API with
changed Params on the local backend (outputs on the job-store volume, task log served across
containers) and again with ``s3://`` input and outputs on the stack's S3 service."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import boto3
import pytest
from stack_support import ROOT, AirflowApi, compose, env_setting, login

sys.path.insert(0, str(ROOT / "dags"))
from abalone.pipeline import path_safe  # noqa: E402  (the run folder naming the DAGs use)

pytestmark = pytest.mark.stack

DAG_IDS = {"abalone_sklearn_pipeline", "abalone_pyspark_pipeline", "abalone_scala_pipeline"}
SKLEARN = "abalone_sklearn_pipeline"
CHANGED_PARAMS = {"seed": 7, "min_r2": 0.35}  # defaults: seed 42, min_r2 0.3
RUN_TIMEOUT_S = 900
JOB_STORE = "/opt/airflow/sm-processing"
MEASURED: dict[str, float] = {}


def _run_pipeline(api: AirflowApi, conf: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    api.json("PATCH", f"/api/v2/dags/{SKLEARN}", json={"is_paused": False})
    run_id = api.trigger(SKLEARN, conf)
    run = api.wait_for_run(SKLEARN, run_id, RUN_TIMEOUT_S)
    assert run["state"] == "success", (
        f"{SKLEARN} run {run_id} ended {run['state']!r}:\n{api.failure_summary(SKLEARN, run_id)}"
    )
    return run_id, run


def _duration(run: dict[str, Any]) -> float:
    from datetime import datetime

    start, end = (datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def _record(name: str, seconds: float) -> None:
    MEASURED[name] = round(seconds, 1)
    artifacts = ROOT / env_setting("STACK_TEST_ARTIFACTS", "tests/stack/artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "measurements.json").write_text(json.dumps(MEASURED, indent=2) + "\n")
    print(f"\nstack-test: {name}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def local_run(api: AirflowApi) -> str:
    """One manual run with changed Params on the local backend, outputs on the job-store volume."""
    started = time.monotonic()
    run_id, run = _run_pipeline(api, CHANGED_PARAMS)
    _record("sklearn pipeline run, trigger to success (API)", time.monotonic() - started)
    _record("sklearn pipeline run, start_date to end_date", _duration(run))
    return run_id


def test_components_healthy(api: AirflowApi) -> None:
    health = api.json("GET", "/api/v2/monitor/health")
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", f"{component}: {health[component]}"


def test_login_refuses_a_wrong_password(stack_url: str, credentials: tuple[str, str]) -> None:
    assert login(stack_url, credentials[0], credentials[1] + "-wrong").status_code == 401


def test_dags_listed_without_import_errors(api: AirflowApi) -> None:
    deadline = time.monotonic() + 120
    while True:
        listed = {d["dag_id"] for d in api.json("GET", "/api/v2/dags", params={"limit": 100})["dags"]}
        if listed >= DAG_IDS or time.monotonic() > deadline:
            break
        time.sleep(2)
    errors = api.json("GET", "/api/v2/importErrors")
    assert errors["total_entries"] == 0, json.dumps(errors["import_errors"], indent=1)[:3000]
    assert listed >= DAG_IDS, f"DAGs missing after 120 s: {sorted(DAG_IDS - listed)}"


def test_jobs_get_their_own_namespaces_in_the_scheduler() -> None:
    """What the local backend runs per job host, as the Airflow user in the scheduler container."""
    probe = "unshare --mount --propagation private --user --map-root-user --pid --fork --kill-child --mount-proc -- true"
    compose("exec", "-T", "airflow-scheduler", "sh", "-c", f"{probe} && echo namespaces-ok")


def test_manual_run_with_changed_params_succeeds(local_run: str) -> None:
    assert local_run.startswith("manual__")


def test_task_log_served_across_containers(api: AirflowApi, local_run: str) -> None:
    """The api-server reads the log from the scheduler's log server: only with the shared secret key."""
    log = api.task_log(SKLEARN, local_run, "validation", 1)
    assert log.strip(), "empty task log: the api-server and the scheduler do not share [api] secret_key"
    assert "abalone-sklearn-pipeline-validation" in log, log[-3000:]


def test_outputs_on_job_store_volume(local_run: str) -> None:
    run_dir = f"{JOB_STORE}/pipelines/{SKLEARN}/{path_safe(local_run)}"
    read = (
        "import json, sys; d = sys.argv[1]; "
        "print(json.dumps({'pre': json.load(open(d + '/transform/preprocessing.json')), "
        "'report': json.load(open(d + '/report/validation_report.json'))}))"
    )
    found = json.loads(compose("exec", "-T", "airflow-scheduler", "python", "-c", read, run_dir))
    assert found["pre"]["seed"] == CHANGED_PARAMS["seed"]
    assert found["report"]["thresholds"]["min_r2"] == CHANGED_PARAMS["min_r2"]
    assert found["report"]["status"] == "passed"
    listing = compose("exec", "-T", "airflow-scheduler", "ls", run_dir).split()
    assert {"features", "transform", "train", "validation", "test", "report"} <= set(listing)


def test_run_with_s3_input_and_outputs(api: AirflowApi, local_run: str) -> None:
    """s3:// input and output root on the stack's S3 (SeaweedFS), staged/published by the local backend."""
    bucket = env_setting("S3_BUCKETS", "sm-processing").split(",")[0].strip()
    conf = {
        "input_uri": f"s3://{bucket}/data/abalone.csv",
        "output_root_uri": f"s3://{bucket}/pipelines",
        "seed": 11,
    }
    started = time.monotonic()
    run_id, _ = _run_pipeline(api, conf)
    _record(
        "sklearn pipeline run with s3:// input and outputs, trigger to success", time.monotonic() - started
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=env_setting("STACK_S3_URL", f"http://127.0.0.1:{env_setting('S3_PORT', '8333')}"),
        aws_access_key_id=env_setting("S3_ACCESS_KEY_ID", ""),
        aws_secret_access_key=env_setting("S3_SECRET_ACCESS_KEY", ""),
        region_name=env_setting("S3_REGION", "us-east-1"),
    )
    prefix = f"pipelines/{SKLEARN}/{path_safe(run_id)}/"
    keys = {
        o["Key"][len(prefix) :] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    }
    assert {"report/validation_report.json", "transform/preprocessing.json"} <= keys, sorted(keys)
    report = json.loads(
        s3.get_object(Bucket=bucket, Key=prefix + "report/validation_report.json")["Body"].read()
    )
    assert report["status"] == "passed"
