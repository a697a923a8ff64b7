"""One contract, every backend: the same cases against each ``contract`` backend (see conftest.py).

Through the operator (the real code path: name, build, validate, upload, create, wait, logs, stop)
and through the backend seam itself (describe, stop_if_running, list).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferred
from botocore.exceptions import ClientError
from sagemaker_processing_provider.errors import ProcessingJobFailed
from sagemaker_processing_provider.operators.sklearn import SKLearnProcessorOperator

TERMINAL = ("Completed", "Failed", "Stopped")


def operator(contract, env: dict[str, str] | None = None, **overrides: Any) -> SKLearnProcessorOperator:
    kwargs = {"task_id": "contract", **contract.operator_kwargs, "env": env or {}, **overrides}
    return SKLearnProcessorOperator(**kwargs)


def output_files(uri: str) -> list[str]:
    """The file names at an output destination (a local folder or an S3 prefix)."""
    if uri.startswith("file://"):
        return [p.name for p in Path(uri.removeprefix("file://")).iterdir()]
    import boto3

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    return [o["Key"].rsplit("/", 1)[1] for o in listing.get("Contents", [])]


def wait_for(contract, name: str, wanted: tuple[str, ...], timeout: float = 60) -> dict:
    backend = contract.backend()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = backend.describe(name)
        except ClientError:  # a throttled describe in a test that asked for one
            found = None
        if found and found["ProcessingJobStatus"] in wanted:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {wanted}")


def test_completed_job_with_logs_of_two_hosts(contract, capfd) -> None:
    result = operator(contract, {"SIM_SECONDS": "1"}, instance_count=2).execute(contract.context())
    assert result["status"] == "Completed" and result["backend"] == ("aws" if contract.uploads else "local")
    assert result["Processing"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    out = capfd.readouterr().out
    for host in ("algo-1", "algo-2"):
        assert f"{host} line 1" in out and f"job starting on {host}" in out
    if contract.runs_code:
        destination = result["outputs"]["result"].removeprefix("file://")
        assert {p.name for p in __import__("pathlib").Path(destination).iterdir()} == {
            "algo-1.json",
            "algo-2.json",
        }


def test_failed_job_fails_the_task_with_reason_and_exit_message(contract) -> None:
    env = {"SIM_SECONDS": "0.5", "SIM_OUTCOME": "Failed", "SIM_EXIT_MESSAGE": "3 rows have no rings"}
    with pytest.raises(ProcessingJobFailed) as info:
        operator(contract, env).execute(contract.context())
    assert info.value.status == "Failed" and info.value.exit_message == "3 rows have no rings"
    assert "AlgorithmError" in info.value.reason


def test_stop_describe_and_list_through_the_seam(contract) -> None:
    result = operator(contract, {"SIM_SECONDS": "30"}, wait_for_completion=False).execute(contract.context())
    name, backend = result["job_name"], contract.backend()
    assert result["status"] == "InProgress"
    listed = backend.client.list_processing_jobs(NameContains=name[:20], StatusEquals="InProgress")
    assert name in [j["ProcessingJobName"] for j in listed["ProcessingJobSummaries"]]
    assert backend.stop_if_running(name) == "InProgress"
    assert wait_for(contract, name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"
    assert backend.stop_if_running(name) == "Stopped"  # nothing to stop any more: no error
    assert backend.describe("no-such-job-anywhere") is None


def test_a_retry_reattaches_to_the_running_job(contract) -> None:
    first = operator(contract, {"SIM_SECONDS": "3"}, wait_for_completion=False).execute(
        contract.context(try_number=1)
    )
    again = operator(contract, {"SIM_SECONDS": "3"}).execute(contract.context(try_number=2))
    assert again["job_name"] == first["job_name"] and again["status"] == "Completed"


def test_a_second_create_of_one_name_is_refused(contract) -> None:
    result = operator(contract, {"SIM_SECONDS": "1"}, wait_for_completion=False).execute(contract.context())
    request = {k: v for k, v in result["Processing"].items() if k in CREATE_FIELDS}
    with pytest.raises(ClientError) as info:
        contract.backend().create(request)
    assert info.value.response["Error"]["Code"] == "ResourceInUse"


CREATE_FIELDS = (
    "ProcessingJobName",
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "ProcessingResources",
    "AppSpecification",
    "RoleArn",
    "Environment",
)


def test_on_kill_stops_the_job(contract) -> None:
    task = operator(contract, {"SIM_SECONDS": "30"}, wait_for_completion=False)
    name = task.execute(contract.context())["job_name"]
    task.on_kill()
    assert wait_for(contract, name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"


def test_a_timeout_while_waiting_stops_the_job(contract, monkeypatch) -> None:
    sleeps = {"n": 0}
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # Airflow's execution_timeout raises inside the wait
        sleeps["n"] += 1
        if sleeps["n"] == 3:
            raise AirflowTaskTimeout("Timeout")
        real_sleep(seconds)

    task = operator(contract, {"SIM_SECONDS": "30"})
    monkeypatch.setattr("sagemaker_processing_provider.operators.base.time.sleep", sleep)
    with pytest.raises(AirflowTaskTimeout):
        task.execute(contract.context())
    monkeypatch.setattr("sagemaker_processing_provider.operators.base.time.sleep", real_sleep)
    assert wait_for(contract, task._job_name, ("Stopped",))["ProcessingJobStatus"] == "Stopped"


def test_a_deferred_timeout_stops_the_job(contract) -> None:
    task = operator(contract, {"SIM_SECONDS": "30"}, deferrable=True, execution_timeout=timedelta(seconds=3))
    ctx = contract.context()
    with pytest.raises(TaskDeferred) as info:
        task.execute(ctx)

    async def first_event():
        async for event in info.value.trigger.run():
            return event

    event = asyncio.run(first_event())
    assert event.payload["status"] == "timeout"
    assert wait_for(contract, event.payload["job_name"], ("Stopped",))["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(AirflowTaskTimeout):
        operator(contract).execute_complete(ctx, event.payload)


def test_throttled_describes_are_retried_and_never_stop_the_job(contract, capfd) -> None:
    env = {"SIM_SECONDS": "2", **contract.throttle(3)}
    result = operator(contract, env, check_interval=0.1).execute(contract.context())
    assert result["status"] == "Completed"
    out = capfd.readouterr().out
    # botocore retries throttling itself a few times (AWS path) before our backoff takes over
    assert out.count("retrying in") >= 1 and "Stopping processing job" not in out


def test_a_bad_request_is_refused_before_anything_is_created_or_uploaded(contract) -> None:
    backend = contract.backend()
    before = backend.client.list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"]
    with pytest.raises(ClientError) as info:
        operator(contract, {"SIM_SECONDS": "1"}, arguments=["x" * 257]).execute(contract.context())
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "ContainerArguments" in str(info.value)
    assert backend.client.list_processing_jobs(MaxResults=100)["ProcessingJobSummaries"] == before
    if contract.uploads:
        import boto3

        assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=contract.code_bucket)


def test_uploads_are_encrypted_with_the_output_kms_key(contract) -> None:
    if not contract.uploads:
        pytest.skip("the local backend uploads nothing: files are used in place")
    import boto3

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    operator(contract, {"SIM_SECONDS": "0.5"}, output_kms_key=key).execute(contract.context())
    s3 = boto3.client("s3")
    [code] = s3.list_objects_v2(Bucket=contract.code_bucket, Prefix="code/")["Contents"]
    head = s3.head_object(Bucket=contract.code_bucket, Key=code["Key"])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key


def test_step_cache_hits_a_completed_job_and_misses_after_a_change(contract, tmp_path) -> None:
    """Caching through each backend's own listing and tags (ListProcessingJobs + ListTags)."""
    cache = {"enabled": True, "expire_after": "P1D"}
    first = operator(contract, {"SIM_SECONDS": "0.5"}, cache_config=cache).execute(contract.context())
    assert first["status"] == "Completed" and first["cache_hit"] is False
    again = operator(contract, {"SIM_SECONDS": "0.5"}, cache_config=cache).execute(
        contract.context(try_number=2)
    )
    assert again["cache_hit"] is True and again["job_name"] == first["job_name"]
    changed = operator(contract, {"SIM_SECONDS": "0.6"}, cache_config=cache).execute(
        contract.context(try_number=3)
    )
    assert changed["cache_hit"] is False and changed["job_name"] != first["job_name"]
