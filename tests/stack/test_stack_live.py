"""The compose stack, live (marker ``stack``; ``make stack-test`` brings it up and tears it down):
the components healthy, login, the DAGs parsed without errors, per-job namespaces where jobs run, the
SageMaker endpoint answering from this machine, the buckets and sample data in S3. The pipelines
themselves run from the UI: ``test_stack_browser.py``."""

from __future__ import annotations

import json
import time

import pytest
from stack_support import AirflowApi, aws_client, compose, login, stack_bucket

pytestmark = pytest.mark.stack

DAG_IDS = {"abalone_sklearn_pipeline", "abalone_pyspark_pipeline", "abalone_scala_pipeline"}
NAMESPACE_PROBE = "unshare --mount --propagation private --user --map-root-user --pid --fork --kill-child --mount-proc -- true"


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


@pytest.mark.parametrize("service", ["airflow-scheduler", "sm-processing"])
def test_jobs_get_their_own_namespaces(service: str) -> None:
    """What the local backend runs per job host, as the Airflow user, where jobs run: the scheduler
    (LocalExecutor, connection aws_default) and the endpoint (the AWS code path)."""
    out = compose("exec", "-T", service, "sh", "-c", f"{NAMESPACE_PROBE} && echo namespaces-ok")
    assert "namespaces-ok" in out


def test_sagemaker_endpoint_answers_from_this_machine() -> None:
    listed = aws_client("sagemaker").list_processing_jobs(MaxResults=5)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert isinstance(listed["ProcessingJobSummaries"], list)


def test_buckets_and_sample_data_created_at_start() -> None:
    s3 = aws_client("s3")
    head = s3.head_object(Bucket=stack_bucket(), Key="data/abalone.csv")
    assert head["ContentLength"] > 100_000  # 4,177 rows
