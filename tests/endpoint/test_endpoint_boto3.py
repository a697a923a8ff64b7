"""Plain boto3 ``sagemaker`` client on ``sm-processing serve``: lifecycle, list, errors in AWS's shapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from endpoint_support import Endpoint, job_request, s3_objects, seed_bucket, unique, wait_for


def test_create_describe_list_completed_outputs_in_s3(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    name = unique("ok")
    request = job_request(name, bucket)
    created = sm.create_processing_job(**request)

    assert created["ProcessingJobArn"].endswith(f":processing-job/{name}")
    headers = created["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["x-amzn-requestid"] == created["ResponseMetadata"]["RequestId"]
    job = wait_for(sm, name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["CreationTime"] <= job["ProcessingStartTime"] <= job["ProcessingEndTime"]  # datetimes
    for field in ("ProcessingInputs", "ProcessingOutputConfig", "AppSpecification", "ProcessingResources"):
        assert job[field] == request[field]  # the request made the round trip through JSON 1.1
    assert json.loads(s3_objects(bucket, f"out/{name}/")[f"out/{name}/algo-1.json"]) == {
        "rows": 5,
        "host": "algo-1",
    }
    [summary] = sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"]
    assert (
        summary["ProcessingJobStatus"] == "Completed"
        and summary["ProcessingJobArn"] == job["ProcessingJobArn"]
    )


def test_failed_job_reports_reason_and_exit_message_and_publishes_nothing(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    name = unique("fail")
    sm.create_processing_job(**job_request(name, bucket, "fail"))
    job = wait_for(sm, name)

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError") and "exit code: 3" in job["FailureReason"]
    assert job["ExitMessage"] == "3 rows have a null rings value"
    assert s3_objects(bucket, f"out/{name}") == {}


def test_stop_ends_a_running_job_stopped(aws: Endpoint, bucket: str, release) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    name = unique("stop")
    sm.create_processing_job(**job_request(name, bucket, "wait", env={"RELEASE_FILE": str(release)}))
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    sm.stop_processing_job(ProcessingJobName=name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = wait_for(sm, name)

    assert job["ProcessingJobStatus"] == "Stopped"
    assert s3_objects(bucket, f"out/{name}") == {}
    with pytest.raises(ClientError) as info:
        sm.stop_processing_job(ProcessingJobName=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "status Stopped" in info.value.response["Error"]["Message"]


def test_list_filters_sorting_and_pagination(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    prefix = unique("lst")
    before = datetime.now(UTC) - timedelta(seconds=2)  # the wire carries whole seconds
    names = [f"{prefix}-{letter}" for letter in "abc"]
    for name in names:
        sm.create_processing_job(**job_request(name, bucket))
    for name in names:
        assert wait_for(sm, name)["ProcessingJobStatus"] == "Completed"

    def listed(**kwargs) -> list[str]:
        return [s["ProcessingJobName"] for s in sm.list_processing_jobs(**kwargs)["ProcessingJobSummaries"]]

    assert listed(NameContains=prefix, SortBy="Name", SortOrder="Ascending") == names
    assert listed(NameContains=prefix.upper(), SortBy="Name", SortOrder="Descending") == names[::-1]
    assert len(listed(NameContains=prefix, StatusEquals="Completed")) == 3
    assert listed(NameContains=prefix, StatusEquals="Failed") == []
    assert len(listed(NameContains=prefix, CreationTimeAfter=before)) == 3
    assert listed(NameContains=prefix, CreationTimeBefore=before) == []
    assert listed(NameContains=prefix, LastModifiedTimeAfter=datetime.now(UTC) + timedelta(hours=1)) == []

    pages, token = [], None
    while True:
        kwargs = {"NameContains": prefix, "SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 1}
        page = sm.list_processing_jobs(**kwargs, **({"NextToken": token} if token else {}))
        pages.append([s["ProcessingJobName"] for s in page["ProcessingJobSummaries"]])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [[n] for n in names]
    paginator = sm.get_paginator("list_processing_jobs")
    sizes = [
        len(p["ProcessingJobSummaries"])
        for p in paginator.paginate(NameContains=prefix, PaginationConfig={"PageSize": 2})
    ]
    assert sizes == [2, 1]

    for bad in ({"MaxResults": 101}, {"NextToken": "not-a-token"}):
        with pytest.raises(ClientError) as info:
            sm.list_processing_jobs(**bad)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert next(iter(bad)) in info.value.response["Error"]["Message"]


def test_bad_requests_get_aws_error_codes_naming_the_field(aws: Endpoint, bucket: str) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker")
    unchecked = aws.client("sagemaker", parameter_validation=False)  # what a client without botocore sends
    name = unique("bad")
    request = job_request(name, bucket)

    def error(call, **kwargs) -> tuple[str, str]:
        with pytest.raises(ClientError) as info:
            call(**kwargs)
        return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]

    missing = {k: v for k, v in request.items() if k != "ProcessingResources"}
    assert error(unchecked.create_processing_job, **missing) == (
        "ValidationException",
        'Parameter validation failed:\nMissing required parameter in input: "ProcessingResources"',
    )
    wrong_type = json.loads(json.dumps(request))
    wrong_type["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = "two"
    code, message = error(unchecked.create_processing_job, **wrong_type)
    assert code == "ValidationException" and "ProcessingResources.ClusterConfig.InstanceCount" in message
    outside = json.loads(json.dumps(request))
    outside["ProcessingInputs"][1]["S3Input"]["LocalPath"] = "/tmp/data"
    code, message = error(sm.create_processing_job, **outside)
    assert code == "ValidationException" and "ProcessingInputs[1].S3Input.LocalPath" in message
    assert sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"] == []  # nothing was created

    sm.create_processing_job(**request)
    with pytest.raises(sm.exceptions.ResourceInUse, match=name):  # boto3's modeled exception class
        sm.create_processing_job(**request)
    for call in (sm.describe_processing_job, sm.stop_processing_job):  # AWS's code and wording for both
        assert error(call, ProcessingJobName="never-was-created") == (
            "ValidationException",
            "Could not find requested job with name never-was-created",
        )
    code, message = error(sm.list_training_jobs)
    assert code == "UnknownOperationException" and "SageMaker.ListTrainingJobs" in message
    wait_for(sm, name)


def _post(endpoint: Endpoint, body: bytes, target: str | None) -> tuple[int, dict, dict]:
    """A raw, unsigned JSON 1.1 call: what the protocol itself answers."""
    headers = {"Content-Type": "application/x-amz-json-1.1", **({"X-Amz-Target": target} if target else {})}
    request = urllib.request.Request(endpoint.url + "/any/path", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_protocol_errors_and_routing_on_the_target_not_the_path(endpoint: Endpoint) -> None:
    status, headers, body = _post(endpoint, b"{}", "SageMaker.ListProcessingJobs")
    assert (
        status == 200
        and "ProcessingJobSummaries" in body
        and headers["Content-Type"] == ("application/x-amz-json-1.1")
    )
    for target in ("SageMaker.CreateTrainingJob", "Nope.ListProcessingJobs", None):
        status, headers, body = _post(endpoint, b"{}", target)
        assert (status, body["__type"]) == (400, "UnknownOperationException")
        assert headers["x-amzn-RequestId"] and headers["x-amzn-ErrorType"] == "UnknownOperationException"
    status, _, body = _post(endpoint, b"{not json", "SageMaker.ListProcessingJobs")
    assert (status, body["__type"]) == (400, "SerializationException")
    status, _, body = _post(endpoint, b'{"ProcessingJobName": 42}', "SageMaker.DescribeProcessingJob")
    assert (status, body["__type"]) == (400, "ValidationException") and "ProcessingJobName" in body["message"]


def test_unexpected_error_is_internal_failure_with_details_only_in_the_server_log(
    aws: Endpoint, bucket: str
) -> None:
    seed_bucket(bucket)
    sm = aws.client("sagemaker", retries={"mode": "standard", "max_attempts": 1})
    name = unique("broken")
    sm.create_processing_job(**job_request(name, bucket))
    wait_for(sm, name)
    request_file = aws.home / "jobs" / name / "request.json"
    request_file.rename(request_file.with_suffix(".moved"))  # the fault: a job folder damaged on disk
    try:
        with pytest.raises(ClientError) as info:
            sm.describe_processing_job(ProcessingJobName=name)
    finally:
        request_file.with_suffix(".moved").rename(request_file)

    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "InternalFailure"
    message = response["Error"]["Message"]
    assert response["ResponseMetadata"]["RequestId"] in message and "Traceback" not in message
    assert "request.json" not in message  # no internals leak to the client
    log = aws.log()
    assert f"Request {response['ResponseMetadata']['RequestId']} failed unexpectedly" in log
    assert "Traceback" in log and "request.json" in log
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Completed"
